// The update flow, page side, with workbox-window. Registers the service worker; when a new version has
// installed and waits, calls onUpdateAvailable(activate) so the app can offer the update; activate() tells
// the waiting worker the user agreed (SKIP_WAITING) and reloads the page once the new version controls it.
import { Workbox } from 'workbox-window';

const HOUR = 3600_000;

/**
 * @param {string | URL} url  the built service worker (scripts/build-sw.mjs), e.g. 'sw.js' next to index.html
 * @param {{ onUpdateAvailable: (activate: () => void) => void, beforeReload?: () => Promise<void> | void,
 *           checkEveryMs?: number }} options
 *   beforeReload runs before the page reloads into the new version (the demo closes its database there, so
 *   the next page gets the storage lock at once).
 * @returns {Promise<Workbox | null>} null where service workers are unavailable (the app still works online)
 */
export async function registerServiceWorker(url, { onUpdateAvailable, beforeReload, checkEveryMs = HOUR }) {
  if (!('serviceWorker' in navigator)) return null;
  const wb = new Workbox(String(url));
  const activate = () => {
    wb.addEventListener('controlling', async () => {
      await beforeReload?.();
      location.reload();
    });
    wb.messageSkipWaiting();
  };
  // Fires for a version that finished installing while this page runs, and for one that was already
  // waiting when the page loaded.
  wb.addEventListener('waiting', () => onUpdateAvailable(activate));
  await wb.register({ immediate: true });
  // Browsers look for a new version on navigations; an installed app may stay open for days without one.
  setInterval(() => {
    if (navigator.onLine) wb.update().catch(() => {});
  }, checkEveryMs);
  return wb;
}
