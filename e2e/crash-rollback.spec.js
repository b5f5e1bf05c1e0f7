// A transaction killed between two of its statements never becomes visible: the next open() rolls it back
// (WAL recovery ignores frames without a commit record) and keeps everything committed before it.
//
// Each kill method runs twice: 'small' (one INSERT, probably still only in SQLite's page cache) and 'spilled'
// (PRAGMA cache_size=10, then ~2.5 MB of blobs, so SQLite must spill uncommitted pages into the WAL file
// before the kill: the test checks the slot files on disk really grew before it reopens).
import { test, expect, count, exec, expectSeeded, openDb, query, seed, terminateWorker } from './fixtures.js';

const N = 12;
const BLOBS = 40;
const BLOB_SIZE = 64 * 1024;

/** Starts a transaction that never ends; resolves once its statements ran, with what the tx itself sees. */
async function startHangingTransaction(page, key, spill) {
  return page.evaluate(
    async ({ key, spill, BLOBS, BLOB_SIZE }) => {
      const db = window.dbs[key];
      if (spill) await db.exec('PRAGMA cache_size=10');
      const reached = new Promise((resolve) => (window.__inTx = resolve));
      // Deliberately not awaited: the callback never settles, the kill ends it.
      window.__hanging = db.transaction(async (tx) => {
        await tx.exec("INSERT INTO t(v) VALUES ('uncommitted')");
        if (spill) {
          for (let i = 0; i < BLOBS; i++) await tx.exec('INSERT INTO big(b) VALUES (randomblob(?))', [BLOB_SIZE]);
        }
        const [{ n }] = await tx.query('SELECT count(*) AS n FROM t');
        const [{ m }] = await tx.query('SELECT count(*) AS m FROM big');
        window.__inTx({ n, m });
        await new Promise(() => {});
      });
      return reached;
    },
    { key, spill, BLOBS, BLOB_SIZE },
  );
}

const KILLS = {
  /** Only the worker dies; the same page opens the database again. */
  'worker.terminate()': async (app, page, key) => {
    await terminateWorker(page, key);
    return page;
  },
  /** The renderer (and the worker inside it) dies; a new page in the same context opens it. */
  'renderer crash': async (app, page) => {
    await app.crashPage(page);
    return app.newPage();
  },
  /** The whole browser is SIGKILLed; the same profile is relaunched. */
  'browser SIGKILL': async (app) => {
    await app.killBrowser();
    return app.relaunch();
  },
};

for (const [kill, doKill] of Object.entries(KILLS)) {
  for (const spill of [false, true]) {
    test(`an open transaction is rolled back after ${kill} (${spill ? 'spilled to the WAL' : 'small'})`, async ({ app }) => {
      const page = app.page;
      await openDb(page, 'ledger');
      await seed(page, 'ledger', N);
      await exec(page, 'ledger', 'CREATE TABLE big(id INTEGER PRIMARY KEY, b BLOB)');
      await exec(page, 'ledger', "INSERT INTO big(b) VALUES (x'00ff')");

      // Inside the transaction its own writes are visible: the statements really ran.
      expect(await startHangingTransaction(page, 'ledger', spill)).toEqual({ n: N + 1, m: spill ? BLOBS + 1 : 1 });

      const next = await doKill(app, page, 'ledger');

      if (spill) {
        // Before anything opens the database again: the uncommitted blobs reached the slot files.
        const sizes = await next.evaluate(() => window.slotSizes('ledger'));
        const total = Object.values(sizes).reduce((a, b) => a + b, 0);
        expect(total, `slot files ${JSON.stringify(sizes)}`).toBeGreaterThan(0.8 * BLOBS * BLOB_SIZE);
      }

      await openDb(next, 'ledger');
      await expectSeeded(next, 'ledger', N); // 'uncommitted' is gone, every committed row is there
      expect(await query(next, 'ledger', 'SELECT id, hex(b) AS b FROM big')).toEqual([{ id: 1, b: '00FF' }]);
      expect(await query(next, 'ledger', "SELECT count(*) AS n FROM t WHERE v = 'uncommitted'")).toEqual([{ n: 0 }]);

      // The database is fully usable afterwards, including for a transaction as big as the lost one.
      await next.evaluate(async () => {
        const db = window.dbs.ledger;
        await db.transaction(async (tx) => {
          await tx.exec("INSERT INTO t(v) VALUES ('after-recovery')");
          for (let i = 0; i < 10; i++) await tx.exec('INSERT INTO big(b) VALUES (randomblob(65536))');
        });
      });
      expect(await count(next, 'ledger', 'big')).toBe(11);
      await expectSeeded(next, 'ledger', N, ['after-recovery']);
    });
  }
}
