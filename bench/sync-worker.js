// Capture cost, inside a dedicated worker (no postMessage per transaction): N durable transactions of one
// INSERT each, on a table the sync engine tracks (its triggers record an outbox operation in the same
// transaction) and on the same table untracked. The ratio tracked / untracked is the price of capture.
import { EngineDatabase, loadEngine, normalizeOptions } from '/js/engine-host.js';
import { removeOpfsEntry, summarize } from './workload.js';

const SCHEMA = 'CREATE TABLE IF NOT EXISTS notes(id TEXT PRIMARY KEY, title TEXT, body TEXT, updated INTEGER)';
const INSERT = 'INSERT INTO notes(id, title, body, updated) VALUES (?, ?, ?, ?)';
const FILLER = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore';

self.onmessage = async ({ data: { n, durability, name, tracked, update } }) => {
  try {
    await loadEngine();
    let db = await EngineDatabase.open(name, normalizeOptions(name, { durability }));
    db.exec(SCHEMA);
    if (tracked) {
      // A URL nobody listens on: the engine stays offline and only captures. Paused, so no request is made.
      db.close();
      const options = normalizeOptions(name, {
        durability,
        sync: { url: 'http://127.0.0.1:9', clientId: 'bench', paused: true, tables: { notes: { primaryKey: 'id' } } },
      });
      db = await EngineDatabase.open(name, options);
      db.syncOpen({ ...options.sync.engine, paused: true });
    }
    const rows = Array.from({ length: n }, (_, i) => [`n${i}`, `Note ${i}`, `#${i} ${FILLER}`.slice(0, 100), 1_763_700_000_000 + i]);
    if (update) for (const r of rows) db.exec(INSERT, r);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      db.exec('BEGIN');
      if (update) db.exec('UPDATE notes SET title = ?, updated = ? WHERE id = ?', [`Edited ${i}`, 1_763_800_000_000 + i, `n${i}`]);
      else db.exec(INSERT, rows[i]);
      db.exec('COMMIT');
    }
    const ms = performance.now() - t0;
    const [count] = db.query('SELECT count(*) AS notes FROM notes');
    const ops = tracked ? db.syncStats() : null;
    db.close();
    await removeOpfsEntry(`.outpost/${name}`);
    self.postMessage(summarize(n, ms, { rows: count, outbox: ops }));
  } catch (e) {
    self.postMessage({ error: `${e?.code ?? e?.name ?? 'Error'}: ${e?.message ?? e}` });
  }
};
