// Sync end to end against the real outpost-server: offline writes are recorded in the outbox in the same
// transaction as the row change, survive a killed browser, and reach the server exactly once after
// reconnecting; bounds (OUTBOX_FULL), permanent rejections (op-failed) and expired tokens (auth-required)
// behave as documented in docs/sync.md.
import { test as base, expect, count, exec, openDb, query, trySql, waitFor } from './fixtures.js';
import { SyncServer } from './sync-server.js';

const test = base.extend({
  sync: async ({}, use) => {
    const server = new SyncServer();
    await server.start();
    await use(server);
    await server.stop();
    server.dispose();
  },
});

const SCHEMA = `CREATE TABLE IF NOT EXISTS records(
  id TEXT PRIMARY KEY, title TEXT, notes TEXT, status TEXT, quantity INTEGER NOT NULL DEFAULT 0,
  updated INTEGER, project TEXT)`;

function syncOptions(server, token, extra = {}) {
  return {
    sync: {
      url: server.url,
      token,
      tables: { records: { primaryKey: 'id', columns: { quantity: 'counter', notes: 'manual' } } },
      retry: { baseMs: 200, capMs: 1000 },
      ...extra,
    },
  };
}

/** Opens `name` with sync; the table is created first by a local-only open so its triggers exist. */
async function openSynced(page, name, server, token, extra) {
  await openDb(page, name, {}, `${name}-setup`);
  await exec(page, `${name}-setup`, SCHEMA);
  await page.evaluate((key) => window.dbs[key].close(), `${name}-setup`);
  await openDb(page, name, syncOptions(server, token, extra));
}

function call(page, key, path, ...args) {
  return page.evaluate(
    ({ key, path, args }) =>
      window.settle(() => {
        const [ns, method] = path.split('.');
        const target = method ? window.dbs[key][ns] : window.dbs[key];
        return target[method ?? ns](...args);
      }),
    { key, path, args },
  );
}

async function ok(page, key, path, ...args) {
  const r = await call(page, key, path, ...args);
  if (!r.ok) throw new Error(`${path} failed: ${JSON.stringify(r.error)}`);
  return r.value;
}

/** Waits until the outbox has nothing pending and returns the status. */
async function drained(page, key, what = 'the outbox to drain') {
  return waitFor(
    async () => {
      const status = await ok(page, key, 'sync.now');
      return status && status.pending === 0 ? status : null;
    },
    { timeoutMs: 20_000, intervalMs: 200, what },
  );
}

async function serverRows(server) {
  const rows = await server.pullAll();
  return [...rows.entries()].filter(([id]) => id.startsWith('records:'));
}

test('offline writes are in the outbox with their row, survive SIGKILL, and reach the server once', async ({ app, sync }) => {
  const token = sync.token();
  let page = app.page;
  await openSynced(page, 'field', sync, token);
  await app.context.setOffline(true);

  // A committed transaction: two rows and their two operations, together.
  await page.evaluate(async () => {
    await window.dbs.field.transaction(async (tx) => {
      await tx.exec("INSERT INTO records(id, title, quantity, project) VALUES ('r1', 'Pump', 3, 'p1')");
      await tx.exec("INSERT INTO records(id, title, quantity, project) VALUES ('r2', 'Valve', 1, 'p1')");
    });
  });
  // A rolled-back one: neither the row nor an operation is kept.
  const rolledBack = await page.evaluate(() =>
    window.settle(() =>
      window.dbs.field.transaction(async (tx) => {
        await tx.exec("INSERT INTO records(id, title, project) VALUES ('r3', 'Ghost', 'p1')");
        throw new Error('user cancelled');
      }),
    ),
  );
  expect(rolledBack.ok).toBe(false);
  await exec(page, 'field', "UPDATE records SET quantity = quantity + 2, notes = 'leaking' WHERE id = 'r1'");

  expect(await count(page, 'field', 'records')).toBe(2);
  // Offline, the loop may be attempting a push: operations are pending or inflight, never done.
  const pending = await ok(page, 'field', 'outbox.list');
  expect(pending.every((e) => e.state === 'pending' || e.state === 'inflight')).toBe(true);
  expect([...new Set(pending.map((e) => `${e.kind} ${e.table} ${e.key.id}`))].sort()).toEqual([
    'upsert records r1',
    'upsert records r2',
  ]);
  expect(pending.some((e) => e.key?.id === 'r3')).toBe(false);
  const ids = new Set(pending.map((e) => e.id));
  expect(ids.size).toBe(pending.length);
  expect(sync.requests().filter((r) => r.method === 'POST' && r.path === '/sync/v1/push')).toEqual([]);

  // Killed before it could sync: nothing is lost.
  await app.killBrowser();
  page = await app.relaunch();
  await openDb(page, 'field', syncOptions(sync, token));
  const after = await ok(page, 'field', 'outbox.list');
  expect(new Set(after.map((e) => e.id))).toEqual(ids);

  const status = await drained(page, 'field');
  expect(status.failed).toBe(0);
  const rows = Object.fromEntries((await serverRows(sync)).map(([id, r]) => [JSON.parse(id.slice(8)).id, r]));
  expect(Object.keys(rows).sort()).toEqual(['r1', 'r2']);
  expect(rows.r1).toMatchObject({ title: 'Pump', quantity: 5, notes: 'leaking', project: 'p1' });
  expect(rows.r2).toMatchObject({ title: 'Valve', quantity: 1 });
  expect((await query(page, 'field', 'SELECT quantity FROM records WHERE id = ?', ['r1']))[0].quantity).toBe(5);
});

test('a synced table created after open(): one script creates and fills it, and no server row is skipped', async ({ app, sync }) => {
  const page = app.page;
  await openSynced(page, 'first', sync, sync.token({ device: 'first' }));
  await exec(page, 'first', "INSERT INTO records(id, title, project) VALUES ('from-first', 'A', 'p1')");
  await drained(page, 'first');

  // The second device opens with sync before its migration creates the table, and its loop runs meanwhile.
  await openDb(page, 'second', syncOptions(sync, sync.token({ device: 'second' })));
  await ok(page, 'second', 'sync.now');
  await page.waitForTimeout(500);
  expect(sync.requests().filter((r) => r.device === 'second' && r.path === '/sync/v1/pull')).toEqual([]);
  await exec(page, 'second', `${SCHEMA}; INSERT INTO records(id, title, project) VALUES ('from-second', 'B', 'p1')`);
  const pending = await ok(page, 'second', 'outbox.list');
  expect(pending.map((e) => e.key?.id)).toEqual(['from-second']);

  await drained(page, 'second');
  await waitFor(async () => (await count(page, 'second', 'records')) === 2 || null, { timeoutMs: 10_000, what: 'the pull' });
  const ids = (await serverRows(sync)).map(([id]) => JSON.parse(id.slice(8)).id).sort();
  expect(ids).toEqual(['from-first', 'from-second']);
  expect(sync.requests().filter((r) => r.device === 'second' && r.path === '/sync/v1/pull').length).toBeGreaterThan(0);
});

test('a browser killed right after a write loses and duplicates nothing: counters add up once', async ({ app, sync }) => {
  const token = sync.token();
  let page = app.page;
  await openSynced(page, 'kill', sync, token);
  await exec(page, 'kill', "INSERT INTO records(id, title, quantity, project) VALUES ('c1', 'Counter', 0, 'p1')");
  await drained(page, 'kill');

  // Increments committed, then the browser dies while (or before) they are pushed.
  for (let i = 0; i < 5; i++) await exec(page, 'kill', "UPDATE records SET quantity = quantity + 1 WHERE id = 'c1'");
  await app.killBrowser();
  page = await app.relaunch();
  await openDb(page, 'kill', syncOptions(sync, token));
  await drained(page, 'kill');
  const [[, row]] = await serverRows(sync);
  expect(row.quantity).toBe(5);
});

test('a rejected operation lands in failed with the reason: stats, list and the op-failed event', async ({ app, sync }) => {
  const token = sync.token();
  const page = app.page;
  await openDb(page, 'rej', {}, 'rej-setup');
  // `color` is not in the server's schema: the server rejects the operation UNKNOWN_COLUMN.
  await exec(page, 'rej-setup', `${SCHEMA.replace('project TEXT', 'project TEXT, color TEXT')}`);
  await page.evaluate(() => window.dbs['rej-setup'].close());
  await openDb(page, 'rej', syncOptions(sync, token));
  await page.evaluate(() => {
    window.failures = [];
    window.dbs.rej.on('op-failed', (e) => window.failures.push(e));
  });
  await exec(page, 'rej', "INSERT INTO records(id, title, color, project) VALUES ('x1', 'Odd', 'red', 'p1')");
  await waitFor(() => page.evaluate(() => window.failures.length > 0), { what: 'op-failed event', timeoutMs: 15_000 });
  const [event] = await page.evaluate(() => window.failures);
  expect(event.code).toBe('UNKNOWN_COLUMN');
  expect(event.message).toMatch(/color/);
  const stats = await ok(page, 'rej', 'outbox.stats');
  expect(stats.failed).toBe(1);
  const [failed] = await ok(page, 'rej', 'outbox.list', { state: 'failed' });
  expect(failed.error.code).toBe('UNKNOWN_COLUMN');
  // The local row is untouched; discarding is the user's explicit decision.
  expect(await count(page, 'rej', 'records')).toBe(1);
  await ok(page, 'rej', 'outbox.discard', failed.id);
  expect((await ok(page, 'rej', 'outbox.stats')).failed).toBe(0);
});

test('OUTBOX_FULL rejects the whole transaction; pending operations are kept', async ({ app, sync }) => {
  const page = app.page;
  await openSynced(page, 'full', sync, sync.token(), { maxOutboxOps: 3, paused: true });
  for (const id of ['a', 'b', 'c']) {
    await exec(page, 'full', 'INSERT INTO records(id, title, project) VALUES (?, ?, ?)', [id, id, 'p1']);
  }
  const result = await page.evaluate(() =>
    window.settle(() =>
      window.dbs.full.transaction(async (tx) => {
        await tx.exec("UPDATE records SET title = 'changed' WHERE id = 'a'");
        await tx.exec("INSERT INTO records(id, title, project) VALUES ('d', 'd', 'p1')");
      }),
    ),
  );
  expect(result.ok).toBe(false);
  expect(result.error.code).toBe('OUTBOX_FULL');
  expect((await query(page, 'full', "SELECT title FROM records WHERE id = 'a'"))[0].title).toBe('a');
  expect(await count(page, 'full', 'records')).toBe(3);
  expect((await ok(page, 'full', 'outbox.stats')).pending).toBe(3);
  await ok(page, 'full', 'sync.resume');
  await drained(page, 'full');
  expect((await serverRows(sync)).length).toBe(3);
});

test('an expired token raises auth-required, keeps queueing, and a new token drains the outbox', async ({ app, sync }) => {
  const page = app.page;
  await openSynced(page, 'auth', sync, sync.token({ ttl: '1s' }));
  await page.evaluate(() => {
    window.authEvents = [];
    window.dbs.auth.on('auth-required', (e) => window.authEvents.push(e));
  });
  await new Promise((r) => setTimeout(r, 1500)); // the token expires
  await exec(page, 'auth', "INSERT INTO records(id, title, project) VALUES ('t1', 'T', 'p1')");
  await waitFor(() => page.evaluate(() => window.authEvents.length > 0), { what: 'auth-required', timeoutMs: 15_000 });
  await exec(page, 'auth', "INSERT INTO records(id, title, project) VALUES ('t2', 'T', 'p1')");
  const stats = await ok(page, 'auth', 'outbox.stats');
  expect(stats.pending + stats.inflight).toBe(2);
  expect(stats.failed).toBe(0);
  await ok(page, 'auth', 'sync.setToken', sync.token());
  await drained(page, 'auth');
  expect((await serverRows(sync)).length).toBe(2);
});

test('custom operations are queued in the transaction and delivered', async ({ app, sync }) => {
  const page = app.page;
  await openSynced(page, 'custom', sync, sync.token());
  const ids = await page.evaluate(async () => {
    const db = window.dbs.custom;
    const inTx = await db.transaction(async (tx) => {
      await tx.exec("INSERT INTO records(id, title, project) VALUES ('k1', 'K', 'p1')");
      return tx.enqueue({ kind: 'http.post', target: '/api/notify', payload: { record: 'k1' }, priority: 'high' });
    });
    const alone = await db.outbox.enqueue({ kind: 'mail.send', entity: 'mail', payload: { to: 'boss' } });
    return [inTx, alone];
  });
  expect(ids[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(ids[1] > ids[0]).toBe(true); // time-sortable
  await drained(page, 'custom');
  const bad = await call(page, 'custom', 'outbox.enqueue', { kind: 'Not A Kind' });
  expect(bad.ok).toBe(false);
  expect(bad.error.code).toBe('INVALID_ARGUMENT');
  const local = await trySql(page, 'custom', 'query', 'SELECT 1');
  expect(local.ok).toBe(true);
});

test('a concurrent edit of a manual column becomes a conflict the user resolves; both devices converge', async ({ app }) => {
  const { writeSchema } = await import('./sync-server.js');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const schema = writeSchema(mkdtempSync(join(tmpdir(), 'outpost-schema-')), {
    notes: { key: ['id'], columns: ['body', 'title'], scope: 'team', policy: 'lww', columnPolicies: { body: 'manual' } },
  });
  const server = new SyncServer({ schema, extraArgs: ['--cors', '*'] });
  await server.start();
  try {
    const page = app.page;
    const tables = { notes: { primaryKey: 'id', columns: { body: 'manual' } } };
    for (const device of ['a', 'b']) {
      await openDb(page, `notes-${device}`, {}, `setup-${device}`);
      await exec(page, `setup-${device}`, 'CREATE TABLE IF NOT EXISTS notes(id TEXT PRIMARY KEY, title TEXT, body TEXT)');
      await page.evaluate((key) => window.dbs[key].close(), `setup-${device}`);
      const token = server.token({ device: `dev-${device}`, scopes: ['team'] });
      await openDb(page, `notes-${device}`, { sync: { url: server.url, token, tables, retry: { baseMs: 100, capMs: 500 } } }, device);
    }
    await exec(page, 'a', "INSERT INTO notes(id, title, body) VALUES ('n1', 'Roof', 'base')");
    await drained(page, 'a');
    await ok(page, 'b', 'sync.now'); // pulls n1
    expect((await query(page, 'b', 'SELECT body FROM notes'))[0].body).toBe('base');

    // Both edit the manual column while b is paused (offline to the server); a's edit lands first.
    await ok(page, 'b', 'sync.pause');
    await exec(page, 'a', "UPDATE notes SET body = 'from a', title = 'Roof (a)' WHERE id = 'n1'");
    await exec(page, 'b', "UPDATE notes SET body = 'from b' WHERE id = 'n1'");
    await drained(page, 'a');
    await page.evaluate(() => {
      window.conflictEvents = [];
      window.dbs.b.on('conflict', (c) => window.conflictEvents.push(c));
    });
    await ok(page, 'b', 'sync.resume');
    await drained(page, 'b');
    await waitFor(() => page.evaluate(() => window.conflictEvents.length === 1), { what: 'conflict event' });
    const [conflict] = await ok(page, 'b', 'conflicts.list');
    expect(conflict).toMatchObject({ table: 'notes', key: { id: 'n1' }, fields: { body: { local: 'from b', remote: 'from a' } } });
    // Nothing was overwritten silently: the server still has a's value, b shows it until the user decides.
    expect((await query(page, 'b', 'SELECT body, title FROM notes'))[0]).toEqual({ body: 'from a', title: 'Roof (a)' });

    await ok(page, 'b', 'conflicts.resolve', conflict.id, { choose: 'local' });
    expect(await ok(page, 'b', 'conflicts.list')).toEqual([]);
    await drained(page, 'b');
    await ok(page, 'a', 'sync.now');
    for (const device of ['a', 'b']) {
      expect((await query(page, device, 'SELECT body, title FROM notes'))[0]).toEqual({ body: 'from b', title: 'Roof (a)' });
    }
    const rows = await server.pullAll();
    expect(rows.get('notes:{"id":"n1"}')).toMatchObject({ body: 'from b', title: 'Roof (a)' });
    const unknown = await call(page, 'b', 'conflicts.resolve', conflict.id, { choose: 'local' });
    expect(unknown.error.code).toBe('NOT_FOUND');
  } finally {
    await server.stop();
    server.dispose();
  }
});
