// Case c (and sqlite-wasm's cold start): @sqlite.org/sqlite-wasm with the opfs-sahpool VFS in a dedicated
// worker, WAL + exclusive locking, prepared statements throughout (BEGIN and COMMIT included).
import { installIoCounter } from './io-count.js';
import { INSERT_NOTE, INSERT_OUTBOX, SCHEMA, allRowParams, summarize } from './workload.js';

const MODULE = '/node_modules/@sqlite.org/sqlite-wasm/dist/index.mjs';
const quiet = { print: () => {}, printErr: (...a) => console.error(...a) };

async function init(poolName, clearOnInit) {
  const t0 = performance.now();
  const { default: sqlite3InitModule } = await import(MODULE);
  const t1 = performance.now();
  const sqlite3 = await sqlite3InitModule(quiet);
  const t2 = performance.now();
  const pool = await sqlite3.installOpfsSAHPoolVfs({ name: poolName, clearOnInit });
  const t3 = performance.now();
  return { sqlite3, pool, timing: { importMs: t1 - t0, initModuleMs: t2 - t1, installVfsMs: t3 - t2, totalMs: t3 - t0 } };
}

async function throughput({ n, synchronous, poolName, countIo }) {
  const io = countIo ? installIoCounter() : null;
  const { pool, sqlite3 } = await init(poolName, true);
  const db = new pool.OpfsSAHPoolDb('/bench.db');
  db.exec('PRAGMA locking_mode=exclusive');
  const mode = db.selectValue('PRAGMA journal_mode=wal');
  db.exec(`PRAGMA synchronous=${synchronous}`);
  for (const sql of SCHEMA) db.exec(sql);
  const begin = db.prepare('BEGIN');
  const commit = db.prepare('COMMIT');
  const note = db.prepare(INSERT_NOTE);
  const outbox = db.prepare(INSERT_OUTBOX);
  const rows = allRowParams(n);
  io?.reset();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    begin.step();
    begin.reset();
    note.bind(rows[i][0]).step();
    note.reset(true);
    outbox.bind(rows[i][1]).step();
    outbox.reset(true);
    commit.step();
    commit.reset();
  }
  const ms = performance.now() - t0;
  const ioPerTx = io?.perTx(n);
  for (const st of [begin, commit, note, outbox]) st.finalize();
  const notes = db.selectValue('SELECT count(*) FROM notes');
  const outboxRows = db.selectValue('SELECT count(*) FROM outbox');
  db.close();
  await pool.removeVfs();
  return summarize(n, ms, { rows: { notes, outbox: outboxRows }, journalMode: mode, ioPerTx, version: sqlite3.version.libVersion });
}

// Cold start: module import + sqlite3InitModule + installOpfsSAHPoolVfs, then open and SELECT 1.
async function cold({ poolName }) {
  const { pool, timing, sqlite3 } = await init(poolName, false);
  const t0 = performance.now();
  const db = new pool.OpfsSAHPoolDb('/cold.db');
  db.exec('PRAGMA locking_mode=exclusive');
  db.exec('PRAGMA journal_mode=wal');
  const one = db.selectValue('SELECT 1');
  const openAndQueryMs = performance.now() - t0;
  db.close();
  return { ...timing, openAndQueryMs, one, version: sqlite3.version.libVersion };
}

self.onmessage = async ({ data }) => {
  try {
    self.postMessage(data.cmd === 'cold' ? await cold(data) : await throughput(data));
  } catch (e) {
    self.postMessage({ error: `${e?.name ?? 'Error'}: ${e?.message ?? e}` });
  }
};
