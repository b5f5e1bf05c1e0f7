// Case a: Outpost's engine used directly inside a dedicated worker (no postMessage per transaction).
import { EngineDatabase, loadEngine, normalizeOptions } from '/js/engine-host.js';
import { installIoCounter } from './io-count.js';
import { INSERT_NOTE, INSERT_OUTBOX, SCHEMA, allRowParams, removeOpfsEntry, summarize } from './workload.js';

self.onmessage = async ({ data: { n, durability, storage, name, countIo } }) => {
  try {
    const io = countIo ? installIoCounter() : null;
    await loadEngine();
    const db = await EngineDatabase.open(name, normalizeOptions(name, { durability, storage }));
    for (const sql of SCHEMA) db.exec(sql);
    const rows = allRowParams(n);
    io?.reset();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      db.exec('BEGIN');
      db.exec(INSERT_NOTE, rows[i][0]);
      db.exec(INSERT_OUTBOX, rows[i][1]);
      db.exec('COMMIT');
    }
    const ms = performance.now() - t0;
    const ioPerTx = io?.perTx(n);
    const count = db.query('SELECT (SELECT count(*) FROM notes) AS notes, (SELECT count(*) FROM outbox) AS outbox')[0];
    db.close();
    if (storage !== 'memory') await removeOpfsEntry(`.outpost/${name}`);
    self.postMessage(summarize(n, ms, { rows: count, ioPerTx }));
  } catch (e) {
    self.postMessage({ error: `${e?.code ?? e?.name ?? 'Error'}: ${e?.message ?? e}` });
  }
};
