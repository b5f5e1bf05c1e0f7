// The installable demo (demo-app/) and its service worker (service-worker/), end to end: installability,
// the app and its database opening offline with zero requests reaching the server (its request log is the
// oracle), records created offline reaching the server, a cold start offline after the browser was killed,
// the update flow, Background Sync and persistent storage. Each test runs on a fresh persistent profile
// against its own outpost-server (e2e/pwa-fixtures.js).
import { expect, Pwa, test, waitFor } from './pwa-fixtures.js';

// Each test starts a server and a browser (some two, or one twice) on two cores shared with C++ builds.
test.describe.configure({ timeout: 60_000 });

/** Fills the form and saves a record; waits until the list shows it. */
async function addRecord(page, { title, notes = '', status = 'ok', quantity = 1 }) {
  await page.fill('#record-form [name=title]', title);
  await page.fill('#record-form [name=notes]', notes);
  await page.selectOption('#record-form [name=status]', status);
  await page.fill('#record-form [name=quantity]', String(quantity));
  await page.click('#save');
  await expect(page.locator('#records li', { hasText: title })).toBeVisible();
}

const titles = (page) => page.locator('#records li strong').allTextContents();

/**
 * Saves a screenshot of the demo as a test artifact (attached to the report and kept under
 * test-results/screenshots/, where CI keeps it); docs/demo-offline.png in the README is one of these.
 */
async function screenshot(page, name) {
  const path = `${test.info().project.outputDir}/screenshots/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  await test.info().attach(name, { path, contentType: 'image/png' });
}

test('the demo is installable: manifest parsed with its icons, a service worker controls the page', async ({ pwa, site }) => {
  const { page } = pwa;
  await pwa.open();
  await pwa.controlled();
  const cdp = await pwa.context.newCDPSession(page);
  const manifest = await cdp.send('Page.getAppManifest');
  expect(manifest.errors).toEqual([]);
  expect(manifest.url).toMatch(/\/manifest\.webmanifest$/);
  const parsed = JSON.parse(manifest.data);
  expect(parsed).toMatchObject({ name: 'Outpost field log', short_name: 'Field log', display: 'standalone', theme_color: '#135e7a' });
  expect(parsed.icons.map((i) => `${i.sizes} ${i.purpose}`)).toEqual(['192x192 any', '512x512 any', '512x512 maskable']);
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  expect(installabilityErrors).toEqual([]);
  // The precache holds the shell, the app bundle, the engine's worker and its WASM.
  const precached = await page.evaluate(async () => {
    const name = (await caches.keys()).find((n) => n.startsWith('outpost-precache-'));
    return (await (await caches.open(name)).keys()).map((r) => new URL(r.url).pathname);
  });
  for (const path of ['/index.html', '/manifest.webmanifest', '/build/engine/outpost-worker.js', '/build/engine/outpost-engine.wasm']) {
    expect(precached).toContain(`${site.base}${path}`);
  }
  expect(precached.some((p) => /\/build\/main-[A-Z0-9]{8}\.js$/.test(p))).toBe(true);
});

test('offline reload: the app and its database open with zero requests reaching the server', async ({ pwa, site }) => {
  const { page } = pwa;
  await pwa.open();
  await pwa.controlled();
  await addRecord(page, { title: 'Pump 4 gasket', notes: 'worn', status: 'needs repair', quantity: 2 });

  await pwa.setOffline(true);
  await page.reload();
  await pwa.ready();
  expect(await page.evaluate(() => navigator.onLine)).toBe(false);
  expect(await page.evaluate(() => !!navigator.serviceWorker.controller)).toBe(true);
  expect(await titles(page)).toEqual(['Pump 4 gasket']);
  await expect(page.locator('#connection')).toHaveAttribute('data-state', 'offline');

  // Create, edit and delete work offline.
  await addRecord(page, { title: 'Valve 12', quantity: 5 });
  await page.locator('#records li', { hasText: 'Valve 12' }).getByRole('button', { name: 'Edit' }).click();
  await page.fill('#record-form [name=notes]', 'seized, replaced');
  await page.fill('#record-form [name=quantity]', '7');
  await page.click('#save');
  await expect(page.locator('#records li', { hasText: 'Valve 12' })).toContainText('seized, replaced');
  await expect(page.locator('#records li', { hasText: 'Valve 12' })).toContainText('× 7');
  await addRecord(page, { title: 'Scratch entry' });
  await page.locator('#records li', { hasText: 'Scratch entry' }).getByRole('button', { name: 'Delete' }).click();
  await expect(page.locator('#records li', { hasText: 'Scratch entry' })).toHaveCount(0);

  expect(site.requestsSince(pwa.offlineSince)).toEqual([]);
});

test('after the browser is killed, a cold start with the network off opens the app and its data', async ({ pwa, site }) => {
  await pwa.open();
  await pwa.controlled();
  await addRecord(pwa.page, { title: 'Hydrant 7', quantity: 3 });
  await pwa.kill();

  const page = await pwa.launch({ offline: true });
  await pwa.setOffline(true);
  await pwa.open(page);
  expect(await titles(page)).toEqual(['Hydrant 7']);
  await expect(page.locator('#records li', { hasText: 'Hydrant 7' })).toContainText('× 3');
  expect(site.requestsSince(pwa.offlineSince)).toEqual([]);
});

/** Titles of the records the server holds (pulled as another device). */
async function serverTitles(site) {
  return (await site.serverRecords()).filter((c) => c.kind === 'upsert').map((c) => c.columns.title?.value);
}

/** The app linked itself to the server (a development token) and opened its database with sync. */
async function expectSyncing(page) {
  await expect(page.locator('body')).toHaveAttribute('data-mode', 'sync');
}

const syncTags = (page) => page.evaluate(async () => (await navigator.serviceWorker.ready).sync.getTags());

test('records created offline reach the server after reconnecting; badges and the header follow', async ({ pwa, site }) => {
  expect(site.syncServer, 'build/native/server/outpost-server is missing: scripts/build.sh builds it').toBeTruthy();
  const { page } = pwa;
  await pwa.open();
  await pwa.controlled();
  await expectSyncing(page);
  await addRecord(page, { title: 'Online entry', quantity: 1 });
  await expect(page.locator('#records li', { hasText: 'Online entry' }).locator('.badge')).toHaveAttribute('data-sync', 'synced');
  await expect(page.locator('#sync-summary')).toContainText('0 pending');
  await expect(page.locator('#sync-summary')).toContainText(/last synced just now/);
  await screenshot(page, 'demo-online');

  await pwa.setOffline(true);
  await page.reload();
  await pwa.ready();
  await addRecord(page, { title: 'Offline entry A', quantity: 4 });
  await addRecord(page, { title: 'Offline entry B', notes: 'checked twice', status: 'failed', quantity: 1 });
  await expect(page.locator('#sync-summary')).toContainText('2 pending');
  await expect(page.locator('#records li', { hasText: 'Offline entry A' }).locator('.badge')).toHaveAttribute('data-sync', 'local-only');
  await expect(page.locator('#connection')).toHaveAttribute('data-state', 'offline');
  await screenshot(page, 'demo-offline-pending');
  expect(await serverTitles(site)).toEqual(['Online entry']);

  await pwa.setOffline(false);
  await waitFor(async () => (await serverTitles(site)).length === 3, { timeoutMs: 20_000, what: 'the offline records on the server' });
  expect((await serverTitles(site)).sort()).toEqual(['Offline entry A', 'Offline entry B', 'Online entry']);
  await expect(page.locator('#sync-summary')).toContainText('0 pending', { timeout: 10_000 });
  await expect(page.locator('#records .badge[data-sync="synced"]')).toHaveCount(3);
  await expect(page.locator('#connection')).toHaveAttribute('data-state', 'online', { timeout: 10_000 });
});

test('Background Sync: pending operations register the tag; on reconnect the sync event has the page flush them', async ({ pwa, site }) => {
  expect(site.syncServer, 'build/native/server/outpost-server is missing: scripts/build.sh builds it').toBeTruthy();
  const { page } = pwa;
  await pwa.open();
  await pwa.controlled();
  await expectSyncing(page);
  // Watch what the service worker asks of the page (the app answers the same messages).
  await page.evaluate(() => {
    window.flushRequests = [];
    navigator.serviceWorker.addEventListener('message', (e) => window.flushRequests.push(e.data?.type));
  });

  await pwa.setOffline(true);
  await addRecord(page, { title: 'Queued while offline' });
  await expect(page.locator('#sync-summary')).toContainText('1 pending');
  await waitFor(async () => (await syncTags(page)).includes('outpost-outbox'), { what: 'the outbox sync tag' });

  // Back online: the browser fires `sync` for the tag, the service worker asks the page to flush, the
  // operation reaches the server and the tag completes (the handler resolved: nothing left pending).
  await pwa.setOffline(false);
  await waitFor(() => page.evaluate(() => window.flushRequests.includes('outpost:flush-outbox')), {
    timeoutMs: 20_000,
    what: 'the flush request of the sync event',
  });
  await waitFor(async () => (await serverTitles(site)).includes('Queued while offline'), { timeoutMs: 20_000, what: 'the record on the server' });
  await waitFor(async () => !(await syncTags(page)).includes('outpost-outbox'), { timeoutMs: 20_000, what: 'the sync tag to complete' });

  // The same path on demand, as DevTools' "Background sync" button does it.
  const cdp = await pwa.context.newCDPSession(page);
  const origin = site.origin;
  const registrationId = new Promise((resolve) =>
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
      const r = registrations.find((x) => x.scopeURL === `${origin}/` && !x.isDeleted);
      if (r) resolve(r.registrationId);
    }),
  );
  await cdp.send('ServiceWorker.enable');
  const asked = await page.evaluate(() => window.flushRequests.length);
  await cdp.send('ServiceWorker.dispatchSyncEvent', { origin, registrationId: await registrationId, tag: 'outpost-outbox', lastChance: false });
  await waitFor(() => page.evaluate((n) => window.flushRequests.length > n, asked), { what: 'the flush request of a dispatched sync' });
  await expect(page.locator('#sync-summary')).toContainText('0 pending');
});

test('update flow: a new service worker waits, the page offers the update, activation on consent', async ({ pwa, site }) => {
  const { page } = pwa;
  await pwa.open();
  await pwa.controlled();
  await addRecord(page, { title: 'Before the update' });
  const cdp = await pwa.context.newCDPSession(page);
  const versions = new Map();
  cdp.on('ServiceWorker.workerVersionUpdated', ({ versions: list }) => {
    for (const v of list) versions.set(v.versionId, v.status);
  });
  await cdp.send('ServiceWorker.enable');
  const withStatus = (status) => [...versions].filter(([, s]) => s === status).map(([id]) => id);
  const [oldVersion] = await waitFor(() => withStatus('activated').length === 1 && withStatus('activated'), { what: 'the active version' });

  // A new deployment: sw.js changes (here: one byte more); the page checks for it.
  site.write('sw.js', `${site.read('sw.js')}\n// deployment 2\n`);
  await page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).update());
  await expect(page.locator('#update')).toBeVisible();
  const [newVersion] = await waitFor(() => withStatus('installed').length === 1 && withStatus('installed'), { what: 'the waiting version' });
  expect(withStatus('activated')).toEqual([oldVersion]);

  // It keeps waiting across reloads, and the page offers it again.
  await page.reload();
  await pwa.ready();
  await expect(page.locator('#update')).toBeVisible();
  expect(withStatus('activated')).toEqual([oldVersion]);

  // Consent: the new version activates and the page reloads under it, with its data.
  await page.evaluate(() => (window.beforeTheUpdate = true));
  await page.click('#update-now');
  await page.waitForFunction(() => !window.beforeTheUpdate && document.body.dataset.ready === 'true');
  await waitFor(() => versions.get(newVersion) === 'activated', { what: 'the new version to activate' });
  expect(await page.evaluate(async () => !!(await navigator.serviceWorker.getRegistration()).waiting)).toBe(false);
  await expect(page.locator('#update')).toBeHidden();
  expect(await titles(page)).toEqual(['Before the update']);
});

test('caching: API reads fall back to their last answer, hashed assets are cache-first, sync traffic is never cached', async ({ pwa, site }) => {
  const { page, context } = pwa;
  await pwa.open();
  await pwa.controlled();
  // Routes answer before the network emulation is consulted: they play the network, so they fail offline.
  let served = 0;
  let offline = false;
  const answer = (route, reply) => (offline ? route.abort('internetdisconnected') : route.fulfill(reply()));
  await context.route('**/api/inspectors', (route) => answer(route, () => ({ json: { version: ++served } })));
  await context.route('**/build/late-ABCDEFGH.js', (route) =>
    answer(route, () => ({ contentType: 'text/javascript', body: `export default ${++served};` })),
  );
  const read = (path) => page.evaluate((path) => fetch(path).then((r) => r.text()), `${site.base}${path}`);
  expect(JSON.parse(await read('/api/inspectors'))).toEqual({ version: 1 });
  expect(JSON.parse(await read('/api/inspectors'))).toEqual({ version: 2 }); // network first: fresh online
  await waitFor(
    () => page.evaluate((url) => caches.match(url).then((r) => r?.json()).then((j) => j?.version === 2), `${site.base}/api/inspectors`),
    { what: 'the latest API answer in the cache' },
  );
  const asset = await read('/build/late-ABCDEFGH.js');
  // The strategy answers first and stores the copy in the background (event.waitUntil).
  await waitFor(() => page.evaluate((url) => caches.match(url).then(Boolean), `${site.base}/build/late-ABCDEFGH.js`), {
    what: 'the hashed asset in the cache',
  });
  expect(await read('/build/late-ABCDEFGH.js')).toBe(asset); // cache first: the network is not asked again
  expect(served).toBe(3);

  await pwa.setOffline(true);
  offline = true;
  expect(JSON.parse(await read('/api/inspectors'))).toEqual({ version: 2 });
  expect(await read('/build/late-ABCDEFGH.js')).toBe(asset);

  const cached = await page.evaluate(async () => {
    const urls = [];
    for (const name of await caches.keys()) {
      for (const request of await (await caches.open(name)).keys()) urls.push(`${name.split('-http')[0]} ${new URL(request.url).pathname}`);
    }
    return urls;
  });
  expect(cached).toContain(`outpost-api-v1 ${site.base}/api/inspectors`);
  expect(cached).toContain(`outpost-assets-v1 ${site.base}/build/late-ABCDEFGH.js`);
  if (site.syncServer) {
    await expectSyncing(page);
    expect(site.requests().some((r) => r.startsWith('POST /dev/token 200'))).toBe(true);
  }
  expect(cached.filter((entry) => /\/(sync|dev)\//.test(entry))).toEqual([]);
});

test('persistent storage refused: usage and quota shown, eviction risk explained, warning above 80%', async ({ pwa, site }) => {
  const { page } = pwa;
  await pwa.open();
  await expect(page.locator('#storage')).toContainText(/Storage: [\d.]+ MB of [\d.]+ MB/);
  // Headless Chromium refuses persistence without engagement: asked after the first record is saved.
  await addRecord(page, { title: 'First record' });
  await expect(page.locator('#storage')).toHaveAttribute('data-persisted', 'false');
  await expect(page.locator('#storage')).toContainText('may delete this data');
  await expect(page.locator('#persist')).toBeVisible();

  // A nearly full origin. (CDP's Storage.overrideQuotaForOrigin has no effect on estimate() in Debian's
  // Chromium 156, so the page's estimate() reports what a device with 85% used would.)
  await page.evaluate(() => {
    const real = navigator.storage.estimate.bind(navigator.storage);
    navigator.storage.estimate = async () => {
      const { usage } = await real();
      return { usage, quota: Math.ceil(usage / 0.85) };
    };
  });
  await addRecord(page, { title: 'Second record' });
  await expect(page.locator('#storage')).toContainText('Nearly full');
});

test('persistent storage granted: the first saved record makes the storage persistent', async ({ pwa, site }) => {
  const { page } = pwa;
  await pwa.open();
  const cdp = await pwa.context.newCDPSession(page);
  const { targetInfo } = await cdp.send('Target.getTargetInfo');
  await cdp.send('Browser.setPermission', {
    permission: { name: 'persistent-storage' },
    setting: 'granted',
    origin: site.origin,
    browserContextId: targetInfo.browserContextId,
  });
  await addRecord(page, { title: 'Worth keeping' });
  await expect(page.locator('#storage')).toHaveAttribute('data-persisted', 'true');
  await expect(page.locator('#storage')).toContainText('Kept on this device');
  await expect(page.locator('#persist')).toBeHidden();
});

test('a change the server refuses is listed as failed, can be retried, and is dropped only when discarded', async ({ pwa, site }) => {
  expect(site.syncServer, 'build/native/server/outpost-server is missing: scripts/build.sh builds it').toBeTruthy();
  const { page } = pwa;
  await pwa.open();
  await expectSyncing(page);
  // A record in a project this device's token does not cover: the server refuses it (FORBIDDEN).
  await page.evaluate(() =>
    window.fieldLog.db.exec(
      `INSERT INTO records(id, title, notes, status, quantity, updated, project)
       VALUES ('r-other', 'Other team''s pump', '', 'ok', 1, 0, 'other-team')`,
    ),
  );
  const failed = page.locator('#failed-ops li');
  await expect(failed).toHaveCount(1, { timeout: 15_000 });
  await expect(failed).toContainText('FORBIDDEN');
  await expect(page.locator('#records li', { hasText: "Other team's pump" }).locator('.badge')).toHaveAttribute('data-sync', 'failed');
  await expect(page.locator('#sync-summary')).toContainText('1 failed');
  await screenshot(page, 'demo-failed-operation');

  await failed.getByRole('button', { name: 'Retry' }).click(); // refused again: still listed
  await expect(failed).toHaveCount(1, { timeout: 15_000 });
  await failed.getByRole('button', { name: 'Discard' }).click();
  await expect(page.locator('#failed-ops')).toBeHidden();
  await expect(page.locator('#sync-summary')).not.toContainText('failed');
  expect(await serverTitles(site)).toEqual([]);
});

test('concurrent edits of the notes open a side-by-side view; the user keeps one version', async ({ pwa, site }) => {
  expect(site.syncServer, 'build/native/server/outpost-server is missing: scripts/build.sh builds it').toBeTruthy();
  test.setTimeout(90_000); // two browsers
  const a = pwa.page;
  await pwa.open();
  await expectSyncing(a);
  await addRecord(a, { title: 'Pump 9', notes: 'original' });
  await expect(a.locator('#records li', { hasText: 'Pump 9' }).locator('.badge')).toHaveAttribute('data-sync', 'synced');

  const other = new Pwa(site); // a second device: its own profile, token and client id
  try {
    const b = await other.launch();
    await other.open(b);
    await expectSyncing(b);
    await expect(b.locator('#records li', { hasText: 'Pump 9' })).toBeVisible({ timeout: 20_000 });

    await pwa.setOffline(true); // device A does not see B's edit before making its own
    const edit = async (page, notes) => {
      await page.locator('#records li', { hasText: 'Pump 9' }).getByRole('button', { name: 'Edit' }).click();
      await page.fill('#record-form [name=notes]', notes);
      await page.click('#save');
      await expect(page.locator('#records li', { hasText: 'Pump 9' })).toContainText(notes);
    };
    await edit(b, 'B: gasket replaced');
    await expect(b.locator('#records li', { hasText: 'Pump 9' }).locator('.badge')).toHaveAttribute('data-sync', 'synced');
    await edit(a, 'A: gasket leaking');
  } finally {
    await other.dispose();
  }
  await pwa.setOffline(false);

  const conflict = a.locator('#conflicts li');
  await expect(conflict).toHaveCount(1, { timeout: 20_000 });
  await conflict.getByRole('button', { name: 'Compare' }).click();
  const dialog = a.locator('#conflict-dialog');
  await expect(dialog).toBeVisible();
  const [mine, theirs] = [dialog.locator('section').nth(0), dialog.locator('section').nth(1)];
  await expect(mine.locator('dd.differs')).toHaveText(['A: gasket leaking']);
  await expect(theirs.locator('dd.differs')).toHaveText(['B: gasket replaced']);
  await expect(mine.locator('dd:not(.differs)').first()).toBeVisible(); // the other fields, not highlighted
  await screenshot(a, 'demo-conflict');
  await dialog.getByRole('button', { name: 'Keep mine' }).click();
  await expect(dialog).toBeHidden();
  await expect(a.locator('#conflicts')).toBeHidden();
  await waitFor(
    async () => (await site.serverRecords()).some((c) => c.columns?.notes?.value === 'A: gasket leaking'),
    { timeoutMs: 20_000, what: 'the chosen notes on the server' },
  );
});

test('operations left pending when the browser died are sent on the next start, without a user action', async ({ pwa, site }) => {
  expect(site.syncServer, 'build/native/server/outpost-server is missing: scripts/build.sh builds it').toBeTruthy();
  await pwa.open();
  await pwa.controlled();
  await expectSyncing(pwa.page);
  await pwa.setOffline(true);
  await addRecord(pwa.page, { title: 'Written before the crash' });
  await expect(pwa.page.locator('#sync-summary')).toContainText('1 pending');
  await pwa.kill();
  expect(await serverTitles(site)).toEqual([]);

  const page = await pwa.launch(); // the network is back
  await pwa.open(page);
  await waitFor(async () => (await serverTitles(site)).includes('Written before the crash'), {
    timeoutMs: 20_000,
    what: 'the pending record on the server',
  });
  await expect(page.locator('#sync-summary')).toContainText('0 pending');
});

test.describe('served by a plain static server under a sub-path', () => {
  test.use({ siteMode: 'static' });

  test('local-only mode: the demo opens, works, and reloads offline with zero requests', async ({ pwa, site }) => {
    const { page } = pwa;
    await pwa.open();
    await expect(page.locator('body')).toHaveAttribute('data-mode', 'local');
    await expect(page.locator('#connection')).toContainText('local only');
    await pwa.controlled();
    expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).scope)).toBe(`${site.url}/`);
    await addRecord(page, { title: 'Kept locally', quantity: 9 });
    await expect(page.locator('#records .badge')).toHaveCount(0);

    await pwa.setOffline(true);
    await page.reload();
    await pwa.ready();
    expect(await titles(page)).toEqual(['Kept locally']);
    await expect(page.locator('#connection')).toHaveAttribute('data-state', 'offline');
    expect(site.requestsSince(pwa.offlineSince)).toEqual([]);
  });
});
