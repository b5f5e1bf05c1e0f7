// The installable demo (demo-app/) and its service worker (service-worker/), end to end: installability,
// the app and its database opening offline with zero requests reaching the server (its request log is the
// oracle), records created offline reaching the server, a cold start offline after the browser was killed,
// the update flow, Background Sync and persistent storage. Each test runs on a fresh persistent profile
// against its own outpost-server (e2e/pwa-fixtures.js).
import { expect, test, waitFor } from './pwa-fixtures.js';

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

test('the demo is installable: manifest parsed with its icons, a service worker controls the page', async ({ pwa }) => {
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
    expect(precached).toContain(path);
  }
  expect(precached.some((p) => /^\/build\/main-[A-Z0-9]{8}\.js$/.test(p))).toBe(true);
});

test('offline reload: the app and its database open with zero requests reaching the server', async ({ pwa, site }) => {
  const { page } = pwa;
  await pwa.open();
  await pwa.controlled();
  await addRecord(page, { title: 'Pump 4 gasket', notes: 'worn', status: 'needs repair', quantity: 2 });

  await pwa.setOffline(true);
  const before = site.requests().length;
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

  expect(site.requests().slice(before)).toEqual([]);
});

test('after the browser is killed, a cold start with the network off opens the app and its data', async ({ pwa, site }) => {
  await pwa.open();
  await pwa.controlled();
  await addRecord(pwa.page, { title: 'Hydrant 7', quantity: 3 });
  await pwa.kill();

  const before = site.requests().length;
  const page = await pwa.launch({ offline: true });
  await pwa.setOffline(true);
  await pwa.open(page);
  expect(await titles(page)).toEqual(['Hydrant 7']);
  await expect(page.locator('#records li', { hasText: 'Hydrant 7' })).toContainText('× 3');
  expect(site.requests().slice(before)).toEqual([]);
});
