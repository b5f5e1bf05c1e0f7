// A service worker for the network-profile check in e2e/network.spec.js: on a message it fetches the given URL
// and answers how long that took, so the test can prove a profile reached the service worker's own target
// (which the page's CDP session does not cover, ../shared/reference/e2e-testing.md §1).
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('message', (event) => {
  const { id, url } = event.data;
  const started = performance.now();
  const reply = (outcome) => event.source.postMessage({ id, ms: performance.now() - started, ...outcome });
  event.waitUntil(
    fetch(url, { cache: 'no-store' })
      .then(async (response) => reply({ status: response.status, bytes: (await response.arrayBuffer()).byteLength }))
      .catch((error) => reply({ error: String(error) })),
  );
});
