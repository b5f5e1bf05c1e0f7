// The update flow, service-worker side. A new version installs (and precaches) in the background, then
// *waits*: it does not call skipWaiting() on its own, because taking over a running page would swap the
// shell and the engine under it. The page shows "update available" (window/register-service-worker.js) and,
// when the user agrees, posts SKIP_WAITING; only then does this version activate, claim the open pages and
// (cache-names.js) delete the caches of other versions.
import { clientsClaim } from 'workbox-core';
import { SKIP_WAITING } from './messages.js';

export function activateOnConsent() {
  self.addEventListener('message', (event) => {
    if (event.data?.type === SKIP_WAITING) self.skipWaiting();
  });
  // The first install has no old version to respect: claiming lets the first visit work offline without a
  // reload. After an update, the pages that agreed reload under the new version.
  clientsClaim();
}
