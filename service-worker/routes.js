// What the service worker does with each kind of request: the caching table of docs/service-worker.md,
// as Workbox routes. Routes are matched in registration order; the precache route (registered by sw.js
// before these) answers first for every URL in the build's precache manifest.
//
// | request                                  | strategy                                              |
// |------------------------------------------|-------------------------------------------------------|
// | precached: shell, app bundle, worker, WASM, manifest, icons | precache (cache-first, versioned by revision) |
// | sync API: /sync/v1/* (push, pull, health), /dev/token | not routed: straight to the network, never cached |
// | other hashed build assets (name-HASH.js/css)          | cache first, 60 entries                       |
// | API reads: GET /api/*                    | network first, 3 s timeout, then the cached answer   |
// | navigations in scope                     | the precached shell (index.html), online or offline  |
import { ExpirationPlugin } from 'workbox-expiration';
import { createHandlerBoundToURL } from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';
import { CacheFirst, NetworkFirst } from 'workbox-strategies';
import { runtimeCache } from './cache-names.js';

/** Outpost's sync endpoints (docs/protocol.md) and the development token endpoint (docs/server.md). */
const SYNC_PATH = /^\/(sync\/v1|dev)\//;
/** Files the build names after their content hash (scripts/build-sw.mjs: `[name]-[hash]`). */
const HASHED_ASSET = /-[A-Z0-9]{8}\.(?:js|css)$/;
/** The app's own read APIs. */
const API_READ = /^\/api\//;

const sameOrigin = (url) => url.origin === self.location.origin;

export function registerRoutes({ shellUrl = 'index.html', apiTimeoutSeconds = 3 } = {}) {
  // The sync endpoints match no route, so the worker never answers them and the browser sends them to the
  // network as if there were no service worker. The sync engine is its own offline layer: it keeps unsent
  // operations in its outbox and its pull cursor in the database, and reads connectivity from how these
  // requests end. A cached push acknowledgement would lose data; a cached pull or health answer would tell
  // the engine it is online when it is not. The routes below exclude SYNC_PATH explicitly.

  // Hashed files never change under one URL, so a cached copy is always right. The current build's files
  // are precached; this route keeps the ones it does not list (a chunk an older page still loads after an
  // update) and caches hashed files added at run time.
  registerRoute(
    ({ url, request }) => sameOrigin(url) && request.method === 'GET' && !SYNC_PATH.test(url.pathname) && HASHED_ASSET.test(url.pathname),
    new CacheFirst({
      cacheName: runtimeCache('assets'),
      plugins: [new ExpirationPlugin({ maxEntries: 60, purgeOnQuotaError: true })],
    }),
  );

  // Reads from the app's API: fresh when the network answers within the timeout, the last answer otherwise.
  registerRoute(
    ({ url }) => sameOrigin(url) && API_READ.test(url.pathname),
    new NetworkFirst({
      cacheName: runtimeCache('api'),
      networkTimeoutSeconds: apiTimeoutSeconds,
      plugins: [new ExpirationPlugin({ maxEntries: 100, maxAgeSeconds: 7 * 24 * 3600, purgeOnQuotaError: true })],
    }),
  );

  // App-shell model: every navigation in scope gets the precached shell, so the app opens without the
  // network and a navigation costs no request. Server paths that are not the app stay out.
  registerRoute(new NavigationRoute(createHandlerBoundToURL(shellUrl), { denylist: [SYNC_PATH] }));
}
