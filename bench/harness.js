// Page side of the benchmark: starts the worker cases, and runs the facade and IndexedDB cases on the main
// thread. run.mjs calls window.bench.run(kind, args) through Playwright.
import { open } from '/js/index.js';
import { INSERT_NOTE, INSERT_OUTBOX, SCHEMA, allRowObjects, allRowParams, removeOpfsEntry, summarize } from './workload.js';

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]);
}

/** Runs one message's worth of work in a fresh module worker and returns its answer. */
async function inWorker(script, message, timeoutMs) {
  const worker = new Worker(new URL(script, import.meta.url), { type: 'module' });
  try {
    const answer = await withTimeout(
      new Promise((resolve, reject) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => {
          e.preventDefault();
          reject(new Error(`worker error: ${e.message ?? 'unknown'}`));
        };
        worker.postMessage(message);
      }),
      timeoutMs,
      script,
    );
    if (answer?.error) throw new Error(answer.error);
    return answer;
  } finally {
    worker.terminate();
  }
}

// Case b: the public facade, one db.transaction() per operation. Awaited: `await tx.exec()` each (BEGIN is
// pipelined with the first statement: 3 round trips). Pipelined: the statements are not awaited, as an
// IndexedDB transaction queues its requests, so the transaction costs one round trip.
async function facade({ n, durability, name, pipelined = false }) {
  const db = await open(name, { durability });
  try {
    for (const sql of SCHEMA) await db.exec(sql);
    const rows = allRowParams(n);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const [note, outbox] = rows[i];
      if (pipelined) {
        await db.transaction((tx) => {
          tx.exec(INSERT_NOTE, note);
          tx.exec(INSERT_OUTBOX, outbox);
        });
      } else {
        await db.transaction(async (tx) => {
          await tx.exec(INSERT_NOTE, note);
          await tx.exec(INSERT_OUTBOX, outbox);
        });
      }
    }
    const ms = performance.now() - t0;
    const [count] = await db.query('SELECT (SELECT count(*) FROM notes) AS notes, (SELECT count(*) FROM outbox) AS outbox');
    return summarize(n, ms, { rows: count });
  } finally {
    await db.close();
    await removeOpfsEntry(`.outpost/${name}`);
  }
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    // 'blocked' is not an error: a just-closed connection lets go once its last transaction completes.
  });
}

// Case d: raw IndexedDB on the main thread, both stores in one readwrite transaction per operation.
async function idb({ n, durability, name }) {
  await request(indexedDB.deleteDatabase(name));
  const openReq = indexedDB.open(name, 1);
  openReq.onupgradeneeded = () => {
    openReq.result.createObjectStore('notes', { keyPath: 'id' });
    openReq.result.createObjectStore('outbox', { keyPath: 'seq' });
  };
  const db = await request(openReq);
  try {
    const rows = allRowObjects(n);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const tx = db.transaction(['notes', 'outbox'], 'readwrite', { durability });
      tx.objectStore('notes').put(rows[i][0]);
      tx.objectStore('outbox').put(rows[i][1]);
      await new Promise((resolve, reject) => {
        tx.oncomplete = resolve;
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error ?? new Error('aborted'));
      });
    }
    const ms = performance.now() - t0;
    const tx = db.transaction(['notes', 'outbox'], 'readonly');
    const notes = await request(tx.objectStore('notes').count());
    const outbox = await request(tx.objectStore('outbox').count());
    await new Promise((resolve) => {
      tx.oncomplete = tx.onabort = tx.onerror = resolve;
    });
    return summarize(n, ms, { rows: { notes, outbox }, where: 'main thread' });
  } finally {
    db.close();
    await request(indexedDB.deleteDatabase(name));
  }
}

// Case g (anchor): the round trip alone. Each request has the shape of a facade statement (one batch of one
// call with its SQL and parameters) and is awaited before the next, as an awaited tx.exec() is.
async function roundTrip({ n }) {
  const worker = new Worker(new URL('./echo-worker.js', import.meta.url), { type: 'module' });
  const channel = new MessageChannel();
  worker.postMessage('port', [channel.port2]);
  try {
    const rows = allRowParams(n);
    let settle;
    channel.port1.onmessage = ({ data }) => settle(data);
    const once = (i) =>
      new Promise((resolve) => {
        settle = resolve;
        channel.port1.postMessage([{ id: i, op: 'exec', args: { sql: INSERT_NOTE, params: rows[i][0] }, tx: 1 }]);
      });
    await withTimeout(once(0), 10_000, 'echo worker');
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await once(i);
    return summarize(n, performance.now() - t0, { where: 'page <-> worker, MessageChannel' });
  } finally {
    worker.terminate();
  }
}

const CASES = {
  roundTrip: (a) => withTimeout(roundTrip(a), 60_000, 'roundTrip'),
  outpostWorker: (a) => inWorker('./outpost-worker.js', a, 120_000),
  sqliteWasm: (a) => inWorker('./sqlite-worker.js', a, 120_000),
  rawSah: (a) => inWorker('./raw-worker.js', a, 120_000),
  facade: (a) => withTimeout(facade(a), 180_000, 'facade'),
  idb: (a) => withTimeout(idb(a), 180_000, 'idb'),
};

export async function run(kind, args) {
  try {
    return await CASES[kind](args);
  } catch (e) {
    return { error: `${e?.code ?? e?.name ?? 'Error'}: ${e?.message ?? e}` };
  }
}
