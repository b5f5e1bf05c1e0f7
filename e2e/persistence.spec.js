// Committed data survives everything short of losing the disk: a reload without close(), the worker being
// terminated, the renderer crashing and the whole browser being SIGKILLed, in both durability modes.
import { test, expect, closeDb, count, exec, expectSeeded, integrity, openDb, query, seed, terminateWorker } from './fixtures.js';

const N = 20;

test('data persists across a page reload without close()', async ({ app }) => {
  const page = app.page;
  expect(await openDb(page, 'notes')).toEqual({ storage: 'opfs', durability: 'full' });
  await seed(page, 'notes', N);

  await page.reload();
  await page.waitForFunction(() => window.harnessReady === true);
  expect(await page.evaluate(() => Object.keys(window.dbs))).toEqual([]); // really a fresh page

  await openDb(page, 'notes');
  await expectSeeded(page, 'notes', N);
  await exec(page, 'notes', "INSERT INTO t(v) VALUES ('after-reload')");
  await expectSeeded(page, 'notes', N, ['after-reload']);
});

test('committed rows survive worker.terminate(); open() again in the same page', async ({ app }) => {
  const page = app.page;
  await openDb(page, 'notes');
  await seed(page, 'notes', N);

  // The facade never hears about terminate(): the page keeps running and opens a second worker, which gets
  // the OPFS handles the dead one held (open() retries while they are being released).
  await terminateWorker(page, 'notes');
  await openDb(page, 'notes');
  await expectSeeded(page, 'notes', N);
  await exec(page, 'notes', "INSERT INTO t(v) VALUES ('after-terminate')");
  await closeDb(page, 'notes');
  await openDb(page, 'notes');
  await expectSeeded(page, 'notes', N, ['after-terminate']);
});

test('committed rows survive a renderer crash; reopened from a new page', async ({ app }) => {
  const page = app.page;
  await openDb(page, 'notes');
  await seed(page, 'notes', N);

  await app.crashPage(page);
  expect(page.isClosed()).toBe(true);

  const fresh = await app.newPage();
  await openDb(fresh, 'notes');
  await expectSeeded(fresh, 'notes', N);
  await exec(fresh, 'notes', "INSERT INTO t(v) VALUES ('after-crash')");
  await expectSeeded(fresh, 'notes', N, ['after-crash']);
});

for (const durability of ['full', 'relaxed']) {
  test(`committed rows survive SIGKILL of the browser (durability '${durability}')`, async ({ app }) => {
    const page = app.page;
    expect(await openDb(page, 'notes', { durability })).toEqual({ storage: 'opfs', durability });
    // 'full' is synchronous=FULL (2), 'relaxed' is NORMAL (1): WAL commits without a flush.
    const [{ synchronous }] = await query(page, 'notes', 'PRAGMA synchronous');
    expect(synchronous).toBe(durability === 'full' ? 2 : 1);
    await seed(page, 'notes', N);

    const pid = await app.killBrowser();
    expect(pid).toBeGreaterThan(0);

    const relaunched = await app.relaunch();
    await openDb(relaunched, 'notes', { durability });
    await expectSeeded(relaunched, 'notes', N);
    await exec(relaunched, 'notes', "INSERT INTO t(v) VALUES ('after-kill')");
    await closeDb(relaunched, 'notes');

    // A clean restart after that keeps the new row too.
    const again = await app.relaunch();
    await openDb(again, 'notes', { durability });
    await expectSeeded(again, 'notes', N, ['after-kill']);
  });
}

test("durability 'relaxed' opens and behaves like a normal database", async ({ app }) => {
  const page = app.page;
  expect(await openDb(page, 'relaxed', { durability: 'relaxed' })).toEqual({ storage: 'opfs', durability: 'relaxed' });
  await seed(page, 'relaxed', N);
  await expectSeeded(page, 'relaxed', N);
  const [{ journal_mode }] = await query(page, 'relaxed', 'PRAGMA journal_mode');
  expect(journal_mode).toBe('wal');
  await closeDb(page, 'relaxed');
  await openDb(page, 'relaxed', { durability: 'relaxed' });
  expect(await count(page, 'relaxed', 't')).toBe(N);
  expect(await integrity(page, 'relaxed')).toBe('ok');
});

test('close() releases the database: calls reject with DB_CLOSED and open() works again', async ({ app }) => {
  const page = app.page;
  await openDb(page, 'notes');
  await seed(page, 'notes', N);
  const after = await page.evaluate(async () => {
    const db = window.dbs.notes;
    await db.close();
    await db.close(); // idempotent
    return window.settle(() => db.query('SELECT 1'));
  });
  expect(after.ok).toBe(false);
  expect(after.error).toMatchObject({ name: 'OutpostError', code: 'DB_CLOSED', isOutpostError: true });
  await openDb(page, 'notes');
  await expectSeeded(page, 'notes', N);
});
