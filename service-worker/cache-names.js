// Versioned cache names and the clean-up of caches an older service worker left behind.
//
// Workbox's precache already versions every entry by revision (or by the hash in its URL), so a new build
// only re-downloads what changed. CACHE_VERSION versions the *layout* of the caches: bump it when what a
// cache holds changes meaning, and the activating worker deletes every cache of the previous layout. Names
// end with the registration's scope, so two deployments on one origin (/ and /demo-app/) never share or
// delete each other's caches.
import { cacheNames, setCacheNameDetails } from 'workbox-core';

export const CACHE_VERSION = 'v1';
const PREFIX = 'outpost';

/** Names Workbox's own caches (precache, runtime) `outpost-<id>-v1-<scope>`. Call before anything else. */
export function nameCaches() {
  setCacheNameDetails({ prefix: PREFIX, suffix: `${CACHE_VERSION}-${self.registration.scope}` });
}

/** A runtime cache of the current layout, e.g. runtimeCache('assets') → outpost-assets-v1-<scope>. */
export function runtimeCache(id) {
  return `${PREFIX}-${id}-${CACHE_VERSION}-${self.registration.scope}`;
}

/**
 * On activation, deletes this scope's caches that belong to another CACHE_VERSION. Runs only when the new
 * worker activates, which (see update-consent.js) happens after the user agreed to the update, so a page
 * still running the old version never loses its caches underneath it.
 */
export function deleteCachesOfOtherVersions() {
  self.addEventListener('activate', (event) => {
    const scope = self.registration.scope;
    const current = `-${CACHE_VERSION}-${scope}`;
    event.waitUntil(
      caches.keys().then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith(`${PREFIX}-`) && name.endsWith(scope) && !name.endsWith(current))
            .map((name) => caches.delete(name)),
        ),
      ),
    );
  });
}

export { cacheNames };
