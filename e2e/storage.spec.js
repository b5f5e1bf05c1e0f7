// The storage layer seen through the facade: failed writes (full disk), export to / import from plain SQLite
// files (checked with the native sqlite3 shell), the one-tab lock, and browsers without OPFS.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, expect, closeDb, count, exec, expectSeeded, integrity, openDb, query, seed, tryOpen, trySql } from './fixtures.js';

const SQLITE3 = process.env.OUTPOST_SQLITE3 ?? '/usr/bin/sqlite3';

/** A temporary directory for native files, removed after the test. */
function scratchDir() {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-e2e-files-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function sqlite3(file, sql) {
  return execFileSync(SQLITE3, ['-batch', file, sql], { encoding: 'utf8' }).trim();
}

/** db.export() in the page, as a Node Buffer. */
async function exportBytes(page, key) {
  const b64 = await page.evaluate(async (key) => window.toBase64(await window.dbs[key].export()), key);
  return Buffer.from(b64, 'base64');
}

/** db.import(bytes) in the page; settled. */
function importBytes(page, key, buffer) {
  return page.evaluate(
    ({ key, b64 }) => window.settle(() => window.dbs[key].import(window.fromBase64(b64))),
    { key, b64: Buffer.from(buffer).toString('base64') },
  );
}

test.describe('write failures', () => {
  for (const mode of ['quota', 'short']) {
    test(`an injected '${mode}' write failure rejects with SQLITE_FULL and loses nothing`, async ({ app }) => {
      const page = app.page;
      await openDb(page, 'full', { testHooks: true });
      await seed(page, 'full', 10);
      await exec(page, 'full', 'CREATE TABLE blobs(id INTEGER PRIMARY KEY, b BLOB NOT NULL)');
      await exec(page, 'full', 'INSERT INTO blobs(b) VALUES (randomblob(50000))');
      const [{ digest: before }] = await query(page, 'full', 'SELECT hex(substr(b, 1, 64)) AS digest FROM blobs');

      await page.evaluate((mode) => window.dbs.full.debug('failWrites', { mode }), mode);

      const sql = 'INSERT INTO blobs(b) VALUES (randomblob(200000))';
      const single = await trySql(page, 'full', 'exec', sql);
      expect(single.ok).toBe(false);
      expect(single.error).toMatchObject({ name: 'OutpostError', code: 'SQLITE_FULL', sql, isError: true, isOutpostError: true });
      expect(single.error.message).toMatch(/quota/i);

      // A transaction hitting the failure rejects the same way and is rolled back as a whole.
      const inTx = await page.evaluate(() =>
        window.settle(() =>
          window.dbs.full.transaction(async (tx) => {
            await tx.exec("INSERT INTO t(v) VALUES ('lost')");
            for (let i = 0; i < 5; i++) await tx.exec('INSERT INTO blobs(b) VALUES (randomblob(200000))');
          }),
        ),
      );
      expect(inTx.error).toMatchObject({ name: 'OutpostError', code: 'SQLITE_FULL' });

      // Reads keep working while writes fail.
      expect(await count(page, 'full', 't')).toBe(10);
      expect(await count(page, 'full', 'blobs')).toBe(1);

      await page.evaluate(() => window.dbs.full.debug('clearWriteFailures'));
      await exec(page, 'full', "INSERT INTO t(v) VALUES ('after-clear')");
      await closeDb(page, 'full');

      await openDb(page, 'full');
      expect(await integrity(page, 'full')).toBe('ok');
      await expectSeeded(page, 'full', 10, ['after-clear']);
      expect(await query(page, 'full', 'SELECT hex(substr(b, 1, 64)) AS digest FROM blobs')).toEqual([{ digest: before }]);
      // New big writes work.
      await exec(page, 'full', sql);
      expect(await count(page, 'full', 'blobs')).toBe(2);
      expect(await integrity(page, 'full')).toBe('ok');
    });
  }
});

test.describe('export and import', () => {
  test('export() produces a plain SQLite file the native sqlite3 shell accepts', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'exp');
    await page.evaluate(async () => {
      const db = window.dbs.exp;
      await db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL, b BLOB)');
      await db.exec('CREATE INDEX t_v ON t(v)');
      await db.transaction(async (tx) => {
        for (let i = 1; i <= 600; i++) await tx.exec('INSERT INTO t(id, v, b) VALUES (?, ?, randomblob(?))', [i, `värde-${i}-✓`, i % 7 ? 100 : 3000]);
      });
      await db.exec('DELETE FROM t WHERE id % 10 = 0'); // free pages and a non-trivial b-tree
      await db.exec("INSERT INTO t(id, v) VALUES (1000, '🚀 last')");
    });
    const inBrowser = await query(page, 'exp', 'SELECT count(*) AS n, sum(length(b)) AS bytes, max(id) AS maxId FROM t');
    expect(inBrowser).toEqual([{ n: 541, bytes: expect.any(Number), maxId: 1000 }]);

    const bytes = await exportBytes(page, 'exp');
    expect(bytes.subarray(0, 16).toString('latin1')).toBe('SQLite format 3\0');
    expect([bytes[18], bytes[19]], 'file format versions: rollback journal, not WAL').toEqual([1, 1]);
    const pageSize = bytes.readUInt16BE(16);
    expect(bytes.length % pageSize).toBe(0);
    expect(bytes.readUInt32BE(28), 'header page count').toBe(bytes.length / pageSize);

    const { dir, cleanup } = scratchDir();
    try {
      const file = join(dir, 'export.sqlite3');
      writeFileSync(file, bytes);
      expect(sqlite3(file, 'PRAGMA integrity_check; SELECT count(*) FROM t;')).toBe('ok\n541');
      expect(sqlite3(file, 'SELECT sum(length(b)) || \'|\' || max(id) FROM t;')).toBe(`${inBrowser[0].bytes}|1000`);
      expect(sqlite3(file, 'SELECT v FROM t WHERE id IN (7, 1000) ORDER BY id;')).toBe('värde-7-✓\n🚀 last');
      expect(sqlite3(file, "SELECT name FROM sqlite_master WHERE type = 'index';")).toBe('t_v');
    } finally {
      cleanup();
    }
    // Exporting does not disturb the live database.
    expect(await count(page, 'exp', 't')).toBe(541);
    await exec(page, 'exp', "INSERT INTO t(v) VALUES ('after export')");
    expect(await integrity(page, 'exp')).toBe('ok');
  });

  test('import() rejects bad bytes with SQLITE_NOTADB or SQLITE_CORRUPT and changes nothing', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'imp');
    await seed(page, 'imp', 30);
    await exec(page, 'imp', 'CREATE TABLE pad(b BLOB)');
    await exec(page, 'imp', 'INSERT INTO pad VALUES (randomblob(20000))');
    const good = await exportBytes(page, 'imp');
    const pageSize = good.readUInt16BE(16);
    expect(good.length / pageSize).toBeGreaterThan(4);

    const random = Buffer.alloc(8192);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    const garbledPages = Buffer.from(good);
    for (let i = pageSize; i < garbledPages.length; i++) garbledPages[i] = (i * 7919) & 0xff;
    const wrongCount = Buffer.from(good);
    wrongCount.writeUInt32BE(good.length / pageSize + 5, 28); // header claims pages that are not there

    const cases = {
      empty: [Buffer.alloc(0), ['SQLITE_NOTADB']],
      random: [random, ['SQLITE_NOTADB']],
      'text file': [Buffer.from('id,name\n1,alice\n'.repeat(400)), ['SQLITE_NOTADB']],
      'truncated mid-page': [good.subarray(0, pageSize * 2 + 100), ['SQLITE_NOTADB']],
      'truncated to the first page': [good.subarray(0, pageSize), ['SQLITE_NOTADB', 'SQLITE_CORRUPT']],
      'truncated by one page': [good.subarray(0, good.length - pageSize), ['SQLITE_NOTADB', 'SQLITE_CORRUPT']],
      'garbled pages after the header': [garbledPages, ['SQLITE_NOTADB', 'SQLITE_CORRUPT']],
      'header page count too high': [wrongCount, ['SQLITE_NOTADB', 'SQLITE_CORRUPT']],
    };
    for (const [name, [bytes, codes]] of Object.entries(cases)) {
      const r = await importBytes(page, 'imp', bytes);
      expect(r.ok, name).toBe(false);
      expect(r.error, name).toMatchObject({ name: 'OutpostError', isError: true, isOutpostError: true });
      expect(codes, `${name}: ${r.error.code} ${r.error.message}`).toContain(r.error.code);
      await expectSeeded(page, 'imp', 30);
    }

    // Not bytes at all.
    const notBytes = await page.evaluate(async () => ({
      string: await window.settle(() => window.dbs.imp.import('SQLite format 3')),
      arrayBuffer: await window.settle(() => window.dbs.imp.import(new ArrayBuffer(4096))),
    }));
    expect(notBytes.string.error).toMatchObject({ name: 'OutpostError', code: 'INVALID_ARGUMENT' });
    expect(notBytes.arrayBuffer.error).toMatchObject({ name: 'OutpostError', code: 'INVALID_ARGUMENT' });

    // Still unchanged after a reopen, and writable.
    await closeDb(page, 'imp');
    await openDb(page, 'imp');
    await expectSeeded(page, 'imp', 30);
    expect(await count(page, 'imp', 'pad')).toBe(1);
    await exec(page, 'imp', "INSERT INTO t(v) VALUES ('still writable')");
    await expectSeeded(page, 'imp', 30, ['still writable']);
  });

  test("import() of another database's export replaces the contents and survives a reopen", async ({ app }) => {
    const page = app.page;
    await openDb(page, 'target');
    await seed(page, 'target', 8);
    await openDb(page, 'source');
    await page.evaluate(async () => {
      const db = window.dbs.source;
      await db.exec('CREATE TABLE other(k TEXT PRIMARY KEY, n INTEGER, b BLOB)');
      await db.transaction(async (tx) => {
        for (let i = 0; i < 200; i++) await tx.exec('INSERT INTO other VALUES (?, ?, randomblob(500))', [`key-${i}`, i * i]);
      });
    });
    const sourceBytes = await exportBytes(page, 'source');

    expect(await importBytes(page, 'target', sourceBytes)).toEqual({ ok: true, value: {} });
    const tables = async () => (await query(page, 'target', "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")).map((r) => r.name);
    expect(await tables()).toEqual(['other']);
    expect(await query(page, 'target', 'SELECT count(*) AS n, sum(n) AS s FROM other')).toEqual([{ n: 200, s: 2646700 }]);
    expect(await integrity(page, 'target')).toBe('ok');
    // The imported database is in WAL mode like every Outpost database, and writable.
    expect(await query(page, 'target', 'PRAGMA journal_mode')).toEqual([{ journal_mode: 'wal' }]);
    await exec(page, 'target', "INSERT INTO other(k, n) VALUES ('after-import', -1)");

    // The source is untouched.
    expect(await count(page, 'source', 'other')).toBe(200);

    await closeDb(page, 'target');
    await openDb(page, 'target');
    expect(await tables()).toEqual(['other']);
    expect(await count(page, 'target', 'other')).toBe(201);
    expect(await integrity(page, 'target')).toBe('ok');

    // And across a browser restart.
    await app.relaunch();
    await openDb(app.page, 'target');
    expect(await count(app.page, 'target', 'other')).toBe(201);
    expect(await integrity(app.page, 'target')).toBe('ok');
  });

  test('import() is refused while the sync engine runs on the database, and changes nothing', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'plain');
    await seed(page, 'plain', 3);
    const bytes = await exportBytes(page, 'plain');
    // Offline and paused: the engine only captures (nobody listens on port 9).
    const sync = { url: 'http://127.0.0.1:9', paused: true, tables: { notes: { primaryKey: 'id' } } };
    await openDb(page, 'synced', { sync });
    await exec(page, 'synced', 'CREATE TABLE notes(id TEXT PRIMARY KEY, title TEXT)');
    await exec(page, 'synced', "INSERT INTO notes VALUES ('a', 'before')");

    const refused = await importBytes(page, 'synced', bytes);
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatchObject({ name: 'OutpostError', code: 'INVALID_STATE' });
    expect(refused.error.message).toMatch(/without the sync option/);

    // The database and its engine go on: the row is there and the next write is captured.
    await exec(page, 'synced', "INSERT INTO notes VALUES ('b', 'after')");
    expect(await count(page, 'synced', 'notes')).toBe(2);
    expect(await page.evaluate(() => window.dbs.synced.outbox.stats())).toMatchObject({ pending: 2 });

    // What the message says works: without sync, the import goes through.
    await closeDb(page, 'synced');
    await openDb(page, 'synced');
    expect(await importBytes(page, 'synced', bytes)).toEqual({ ok: true, value: {} });
    expect(await count(page, 'synced', 't')).toBe(3);
  });

  test('import() accepts a file written by the native sqlite3 shell (WAL or rollback mode)', async ({ app }) => {
    const page = app.page;
    await openDb(page, 'native');
    await seed(page, 'native', 3);
    const { dir, cleanup } = scratchDir();
    try {
      for (const journal of ['delete', 'wal']) {
        const file = join(dir, `native-${journal}.sqlite3`);
        sqlite3(
          file,
          `PRAGMA journal_mode=${journal}; CREATE TABLE n(id INTEGER PRIMARY KEY, s TEXT);` +
            `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300) INSERT INTO n(s) SELECT 'native ' || i FROM c;`,
        );
        const bytes = readFileSync(file);
        expect(bytes[18], `${journal} header`).toBe(journal === 'wal' ? 2 : 1);
        expect(await importBytes(page, 'native', bytes)).toEqual({ ok: true, value: {} });
        expect(await query(page, 'native', 'SELECT count(*) AS n, max(s) AS m FROM n')).toEqual([{ n: 300, m: 'native 99' }]);
        expect(await query(page, 'native', "SELECT count(*) AS n FROM sqlite_master WHERE name = 't'")).toEqual([{ n: 0 }]);
        expect(await integrity(page, 'native')).toBe('ok');
      }
    } finally {
      cleanup();
    }
  });
});

test.describe('locking', () => {
  test('a second page gets DB_LOCKED (never an empty database) until the first one closes', async ({ app }) => {
    const first = app.page;
    await openDb(first, 'shared');
    await seed(first, 'shared', 15);

    const second = await app.newPage();
    const locked = await second.evaluate(async () => {
      const started = performance.now();
      const r = await window.settle(() => window.outpost.open('shared', { lockTimeoutMs: 300 }));
      return { ...r, waitedMs: performance.now() - started };
    });
    expect(locked.ok).toBe(false);
    expect(locked.error).toMatchObject({ name: 'OutpostError', code: 'DB_LOCKED', isError: true, isOutpostError: true });
    expect(locked.error.message).toMatch(/another tab/);
    expect(locked.waitedMs, 'open() retried for lockTimeoutMs before giving up').toBeGreaterThanOrEqual(290);
    expect(locked.waitedMs).toBeLessThan(5000);
    // lockTimeoutMs: 0 gives up after the first attempt, possibly before the WASM has compiled (the two
    // overlap): still DB_LOCKED, and no unhandled rejection in the worker (the fixture fails on those).
    const immediate = await second.evaluate(() => window.settle(() => window.outpost.open('shared', { lockTimeoutMs: 0 })));
    expect(immediate.error).toMatchObject({ name: 'OutpostError', code: 'DB_LOCKED' });

    // The holder is unaffected.
    await exec(first, 'shared', "INSERT INTO t(v) VALUES ('first still writes')");
    await closeDb(first, 'shared');

    await openDb(second, 'shared', { lockTimeoutMs: 300 });
    await expectSeeded(second, 'shared', 15, ['first still writes']);
  });

  test('a waiting open() gets the database as soon as the holder closes it', async ({ app }) => {
    const first = app.page;
    await openDb(first, 'shared');
    await seed(first, 'shared', 4);

    const second = await app.newPage();
    // Start an open() that is allowed to wait long enough, and note when it settles.
    await second.evaluate(() => {
      window.__openStarted = Date.now();
      window.__opened = window.settle(async () => {
        window.dbs.shared = await window.outpost.open('shared', { lockTimeoutMs: 15_000 });
        return Date.now();
      });
    });
    // Let the second open() hit the lock at least once: its worker needs a few hundred ms just to start.
    await second.waitForTimeout(600);
    expect(await second.evaluate(() => window.dbs.shared === undefined)).toBe(true);
    const closedAt = await first.evaluate(async () => {
      await window.dbs.shared.close();
      return Date.now();
    });
    const opened = await second.evaluate(() => window.__opened);
    expect(opened.ok, JSON.stringify(opened.error)).toBe(true);
    expect(opened.value).toBeGreaterThanOrEqual(closedAt);
    await expectSeeded(second, 'shared', 4);
  });

  test('two different databases open side by side in two pages', async ({ app }) => {
    const first = app.page;
    const second = await app.newPage();
    await openDb(first, 'one');
    await openDb(second, 'two');
    await seed(first, 'one', 3);
    await seed(second, 'two', 5);
    expect(await count(first, 'one', 't')).toBe(3);
    expect(await count(second, 'two', 't')).toBe(5);
  });
});

test.describe('without OPFS', () => {
  const workerUrl = '/e2e/fixtures/no-opfs-worker.js';

  test("open() rejects with OPFS_UNAVAILABLE, and { storage: 'memory' } works", async ({ app }) => {
    const page = app.page;
    const r = await tryOpen(page, 'plain', { workerUrl });
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ name: 'OutpostError', code: 'OPFS_UNAVAILABLE', isError: true, isOutpostError: true });
    expect(r.error.message).toMatch(/storage: 'memory'/);

    expect(await tryOpen(page, 'plain', { workerUrl, storage: 'memory' })).toEqual({
      ok: true,
      value: { storage: 'memory', durability: 'full' },
    });
    await exec(page, 'plain', 'CREATE TABLE m(id INTEGER PRIMARY KEY, v TEXT, b BLOB)');
    await exec(page, 'plain', 'INSERT INTO m(v, b) VALUES (?, ?), (?, ?)', ['ä', null, 'b', new Uint8Array([1, 2, 3])]);
    expect(await query(page, 'plain', 'SELECT id, v, b FROM m ORDER BY id')).toEqual([
      { id: 1, v: 'ä', b: null },
      { id: 2, v: 'b', b: new Uint8Array([1, 2, 3]) },
    ]);
    await page.evaluate(() =>
      window.dbs.plain.transaction(async (tx) => {
        await tx.exec("INSERT INTO m(v) VALUES ('tx')");
      }),
    );
    expect(await count(page, 'plain', 'm')).toBe(3);
    expect(await integrity(page, 'plain')).toBe('ok');
    // export() works from memory too.
    const bytes = await exportBytes(page, 'plain');
    expect(bytes.subarray(0, 15).toString('latin1')).toBe('SQLite format 3');
  });

  test("a memory database is not persisted and is not locked", async ({ app }) => {
    const page = app.page;
    await openDb(page, 'mem', { storage: 'memory' }, 'a');
    await openDb(page, 'mem', { storage: 'memory' }, 'b'); // no lock: separate, private databases
    await exec(page, 'a', 'CREATE TABLE x(v)');
    await exec(page, 'a', 'INSERT INTO x VALUES (1)');
    expect(await query(page, 'b', "SELECT count(*) AS n FROM sqlite_master WHERE name = 'x'")).toEqual([{ n: 0 }]);
    await closeDb(page, 'a');
    await openDb(page, 'mem', { storage: 'memory' }, 'a');
    expect(await query(page, 'a', "SELECT count(*) AS n FROM sqlite_master WHERE name = 'x'")).toEqual([{ n: 0 }]);
    // Nothing was written to OPFS for it.
    const entries = await page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      const names = [];
      for await (const name of root.keys()) names.push(name);
      return names;
    });
    expect(entries).toEqual([]);
  });
});
