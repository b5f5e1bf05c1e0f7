// The demo's service worker: assembles the Workbox modules and the small modules beside this file. No logic
// here. scripts/build-sw.mjs bundles it and injects the precache manifest in place of self.__WB_MANIFEST.
import { precacheAndRoute } from 'workbox-precaching';
import { deleteCachesOfOtherVersions, nameCaches } from './cache-names.js';
import { registerRoutes } from './routes.js';
import { wakePagesOnSync } from './sync-wakeup.js';
import { activateOnConsent } from './update-consent.js';

nameCaches();
precacheAndRoute(self.__WB_MANIFEST); // the shell, the app bundle, the engine's worker and WASM, icons
registerRoutes({ shellUrl: 'index.html' });
activateOnConsent();
deleteCachesOfOtherVersions();
wakePagesOnSync();
