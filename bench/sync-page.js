// Page side of bench/sync.mjs: the capture-cost cases (in a worker, bench/sync-worker.js) and the outbox
// drain through the public facade to a real outpost-server on loopback.
import { open } from '/js/index.js';
import { removeOpfsEntry } from './workload.js';

function inWorker(message) {
  const worker = new Worker(new URL('./sync-worker.js', import.meta.url), { type: 'module' });
  return new Promise((resolve, reject) => {
    worker.onmessage = (e) => (e.data?.error ? reject(new Error(e.data.error)) : resolve(e.data));
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(`worker error: ${e.message}`));
    };
    worker.postMessage(message);
  }).finally(() => worker.terminate());
}

/**
 * Queues `n` row operations while paused (written 500 per transaction: the writes are not what is timed),
 * then resumes and times until the outbox is empty. Every operation is one INSERT of a new row.
 */
async function drain({ n, url, token, batchSize, name, durability = 'full' }) {
  const setup = await open(name);
  await setup.exec('CREATE TABLE IF NOT EXISTS notes(id TEXT PRIMARY KEY, title TEXT, body TEXT, updated INTEGER)');
  await setup.close();
  const db = await open(name, {
    durability,
    sync: {
      url,
      token,
      batchSize,
      paused: true,
      pullIntervalMs: 0,
      tables: { notes: { primaryKey: 'id' } },
      ...(globalThis.BENCH_INFLIGHT ? { maxInflightPushes: globalThis.BENCH_INFLIGHT } : {}), // bench/sync.mjs
    },
    testHooks: true, // the sync loop's time split (syncProfile)
  });
  try {
    for (let i = 0; i < n; i += 500) {
      await db.transaction((tx) => {
        for (let j = i; j < Math.min(n, i + 500); j++) {
          tx.exec('INSERT INTO notes(id, title, body, updated) VALUES (?, ?, ?, ?)', [`d${j}`, `Note ${j}`, `body ${j}`, j]);
        }
      });
    }
    const queued = await db.outbox.stats();
    const done = new Promise((resolve) => {
      const off = db.on('status', (s) => {
        if (s.pending === 0 && !s.paused) {
          off();
          resolve();
        }
      });
    });
    const t0 = performance.now();
    await db.sync.resume();
    await done;
    const ms = performance.now() - t0;
    const stats = await db.outbox.stats();
    const p = await db.debug('syncProfile').catch(() => null); // null: a build without the profile
    if (!p) return { n, ms: Math.round(ms), opsPerSec: Math.round((n / ms) * 1000), queued, after: stats };
    const per = (x) => Math.round((x / Math.max(1, p.pushes)) * 100) / 100;
    // Per push request, in ms: the engine's Next (claim + encode, and the commit), the request, OnResult
    // (decode + ack + commit), event draining, waits for the request chain, and what is left (timers,
    // promise hops, the worker's message handling); wall = the drain's time per push.
    const profile = {
      pushes: p.pushes,
      next: per(p.nextMs),
      fetch: per(p.fetchMs),
      result: per(p.resultMs),
      events: per(p.eventsMs),
      queued: per(p.queuedMs),
      wait: per(p.waitMs ?? 0), // the loop idle, waiting for an answer (the worker's spare time)
      wall: per(ms),
      other: per(ms - p.nextMs - p.fetchMs - p.resultMs - p.eventsMs - p.queuedMs),
    };
    return { n, ms: Math.round(ms), opsPerSec: Math.round((n / ms) * 1000), queued, after: stats, perPushMs: profile };
  } finally {
    await db.close();
    await removeOpfsEntry(`.outpost/${name}`);
  }
}

export async function run(kind, args) {
  try {
    if (kind === 'capture') return await inWorker(args);
    if (kind === 'drain') return await drain(args);
    throw new Error(`unknown case ${kind}`);
  } catch (e) {
    return { error: `${e?.code ?? e?.name ?? 'Error'}: ${e?.message ?? e}` };
  }
}
