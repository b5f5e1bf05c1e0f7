// Conflicts across two browsers: two persistent contexts (two devices, each with its own profile, OPFS and
// token) edit the same record while offline and reconnect. The `lww` column converges on the later write with
// no conflict; the `manual` column raises a conflict on the device whose edit came second, nothing is
// overwritten until the user picks, and resolving it converges both devices and the server.
import { chromium } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchOptions } from './browser-options.js';
import { HARNESS_PATH, test as base, expect, exec, openDb, query, waitFor } from './fixtures.js';
import { SyncServer, writeSchema } from './sync-server.js';

const test = base.extend({
  sync: async ({}, use) => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-conflict-schema-'));
    const schema = writeSchema(dir, {
      notes: { key: ['id'], columns: ['title', 'body'], scope: 'team', policy: 'lww', columnPolicies: { body: 'manual' } },
    });
    const server = new SyncServer({ schema });
    await server.start();
    await use(server);
    await server.stop();
    server.dispose();
    rmSync(dir, { recursive: true, force: true });
  },
});

const TABLES = { notes: { primaryKey: 'id', columns: { body: 'manual' } } };

async function openDevice(page, sync, device) {
  await openDb(page, 'notes', {}, 'setup');
  await exec(page, 'setup', 'CREATE TABLE IF NOT EXISTS notes(id TEXT PRIMARY KEY, title TEXT, body TEXT)');
  await page.evaluate(() => window.dbs.setup.close());
  const token = sync.token({ device, scopes: ['team'] });
  await openDb(page, 'notes', { sync: { url: sync.url, token, tables: TABLES, retry: { baseMs: 100, capMs: 500 } } }, 'db');
  await page.evaluate(() => {
    window.conflicts = [];
    window.dbs.db.on('conflict', (c) => window.conflicts.push(c));
  });
}

/** db.sync.now() until nothing is pending. */
function drained(page) {
  return waitFor(
    () => page.evaluate(async () => (await window.dbs.db.sync.now())?.pending === 0),
    { timeoutMs: 20_000, intervalMs: 200, what: 'the outbox to drain' },
  );
}

const row = async (page) => (await query(page, 'db', "SELECT title, body FROM notes WHERE id = 'n1'"))[0];

test('two devices edit one record offline: lww converges silently, manual becomes a conflict the user resolves', async ({ app, server, sync }) => {
  const a = app.page;
  const profileB = mkdtempSync(join(tmpdir(), 'outpost-e2e-b-'));
  const contextB = await chromium.launchPersistentContext(profileB, launchOptions);
  try {
    const b = contextB.pages()[0] ?? (await contextB.newPage());
    await b.goto(`${server.url}${HARNESS_PATH}`);
    await b.waitForFunction(() => window.harnessReady === true);
    await openDevice(a, sync, 'device-a');
    await openDevice(b, sync, 'device-b');

    await exec(a, 'db', "INSERT INTO notes(id, title, body) VALUES ('n1', 'Roof', 'Inspect flashing')");
    await drained(a);
    await drained(b); // b's sync round pulls n1
    expect(await row(b)).toEqual({ title: 'Roof', body: 'Inspect flashing' });

    // Both offline; a edits first, b second (b's HLCs are later).
    await app.context.setOffline(true);
    await contextB.setOffline(true);
    await exec(a, 'db', "UPDATE notes SET title = 'Roof (north)', body = 'Flashing loose' WHERE id = 'n1'");
    await new Promise((r) => setTimeout(r, 20));
    await exec(b, 'db', "UPDATE notes SET title = 'Roof (south)', body = 'Flashing fine' WHERE id = 'n1'");

    // Reconnect: a first, then b.
    await app.context.setOffline(false);
    await drained(a);
    await contextB.setOffline(false);
    await drained(b);
    await drained(a);

    // lww: the later write (b's title) everywhere, no conflict about it.
    // manual: b's body was refused; b shows the server's (a's) value until the user decides.
    await waitFor(() => b.evaluate(() => window.conflicts.length === 1), { what: "b's conflict event" });
    const [conflict] = await b.evaluate(() => window.dbs.db.conflicts.list());
    expect(Object.keys(conflict.fields)).toEqual(['body']);
    expect(conflict.fields.body).toEqual({ local: 'Flashing fine', remote: 'Flashing loose' });
    expect(await a.evaluate(() => window.dbs.db.conflicts.list())).toEqual([]);
    expect(await row(b)).toEqual({ title: 'Roof (south)', body: 'Flashing loose' });
    expect(await row(a)).toEqual({ title: 'Roof (south)', body: 'Flashing loose' });

    // The user on b keeps their version: it becomes an ordinary operation and reaches everyone.
    await b.evaluate((id) => window.dbs.db.conflicts.resolve(id, { choose: 'local' }), conflict.id);
    expect(await b.evaluate(() => window.dbs.db.conflicts.list())).toEqual([]);
    await drained(b);
    await drained(a);
    const expected = { title: 'Roof (south)', body: 'Flashing fine' };
    expect(await row(a)).toEqual(expected);
    expect(await row(b)).toEqual(expected);
    const onServer = (await sync.pullAll()).get('notes:{"id":"n1"}');
    expect(onServer).toEqual(expected);
    expect(await a.evaluate(() => window.conflicts.length)).toBe(0);
    for (const page of [a, b]) {
      expect((await query(page, 'db', 'PRAGMA integrity_check'))[0].integrity_check).toBe('ok');
    }
  } finally {
    await contextB.close();
    rmSync(profileB, { recursive: true, force: true });
  }
});
