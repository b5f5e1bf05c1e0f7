// Outpost's public API: open() starts a dedicated worker that runs SQLite over OPFS and returns a Database
// whose methods are promises. The worker, the WASM module and the message protocol stay hidden.
import { ErrorCode, OutpostError } from './errors.js';
import { CONNECT, Client, ENGINE, Op, READY, watchLifeline } from './protocol.js';

export { ErrorCode, OutpostError };

const WORKER = Symbol.for('outpost.worker');

/**
 * Opens (creating if needed) the database `name`.
 * @param {string} name
 * @param {import('./index').OpenOptions} [options]
 * @returns {Promise<Database>}
 */
export async function open(name, options = {}) {
  if (typeof Worker === 'undefined') {
    throw new OutpostError(ErrorCode.OPFS_UNAVAILABLE, 'Outpost needs Web Workers; call open() from a page or a worker in a browser.');
  }
  const { workerUrl, ...engineOptions } = options;
  // The worker resolves URLs against its own script: make the sync URL absolute against the page first.
  if (engineOptions.sync && typeof engineOptions.sync.url === 'string' && typeof location !== 'undefined') {
    try {
      engineOptions.sync = { ...engineOptions.sync, url: new URL(engineOptions.sync.url, location.href).href };
    } catch {
      /* the worker reports the bad URL */
    }
  }
  // The WASM compiles here, on the browser's compile threads, while the worker thread starts (tens of ms on a
  // cold start), and goes to the worker as a compiled module. Only for the default worker: a custom one may
  // load its engine from elsewhere. Any failure here just leaves the worker to fetch and compile it itself,
  // and report the error.
  const compiled = workerUrl ? null : compileEngine(new URL('./engine/outpost-engine.wasm', import.meta.url));
  // Literal new URL(..., import.meta.url) so bundlers find and emit the worker: js/worker.js bundled into
  // one file by scripts/bundle-worker.mjs.
  const worker = workerUrl
    ? new Worker(workerUrl, { type: 'module', name: `outpost:${name}` })
    : new Worker(new URL('./engine/outpost-worker.js', import.meta.url), { type: 'module', name: `outpost:${name}` });
  const channel = new MessageChannel();
  const client = new Client(channel.port1);
  const started = new Promise((resolve, reject) => {
    worker.onmessage = (event) => {
      if (event.data?.type === READY) resolve();
    };
    worker.onerror = (event) => {
      event.preventDefault?.();
      const error = new OutpostError(
        ErrorCode.WORKER_FAILED,
        `The Outpost worker failed to start or crashed: ${event.message ?? 'the script could not be loaded'}. ` +
          `Check that the worker script is served next to the outpost package (or pass workerUrl), then reload; committed data is safe.`,
      );
      reject(error);
      client.fail(error);
    };
  });
  try {
    await started;
    const lifeline = `outpost-lifeline:${globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random()}`}`;
    worker.postMessage({ type: CONNECT, port: channel.port2, lifeline, engine: compiled ? 'follows' : 'load' }, [channel.port2]);
    compiled?.then((module) => worker.postMessage({ type: ENGINE, module }));
    const info = await client.call(Op.OPEN, { name, options: engineOptions });
    watchLifeline(lifeline, () =>
      client.fail(
        new OutpostError(
          ErrorCode.WORKER_FAILED,
          'The Outpost worker stopped (terminated or crashed). Open the database again; committed data is safe.',
        ),
      ),
    );
    return new Database(name, client, worker, info);
  } catch (error) {
    worker.terminate();
    throw error;
  }
}

/** Resolves with the compiled engine module, or null when the page cannot compile it (never rejects). */
function compileEngine(url) {
  if (typeof WebAssembly?.compileStreaming !== 'function' || typeof fetch !== 'function') return null;
  return WebAssembly.compileStreaming(fetch(url)).catch(() => null);
}

export class Database {
  constructor(name, client, worker, info) {
    this.name = name;
    this.storage = info.storage;
    this.durability = info.durability;
    this.client = client;
    this[WORKER] = worker;
    this.closed = false;
    this.listeners = new Map();
    const status = info.sync ?? null;
    this.outbox = new OutboxApi(client);
    this.sync = new SyncApi(client, status);
    this.conflicts = new ConflictsApi(client);
    client.onEvent = (name, detail) => {
      if (name === 'status') this.sync.current = detail;
      for (const fn of this.listeners.get(name) ?? []) {
        try {
          fn(detail);
        } catch (error) {
          queueMicrotask(() => {
            throw error; // a listener's bug must not stop the others; report it as uncaught
          });
        }
      }
    };
  }

  /**
   * Subscribes to an event: 'status', 'op-failed', 'synced', 'auth-required', 'conflict', 'stale', 'change',
   * 'clock-drift', 'pull-failed', 'tables-missing'.
   * @returns {() => void} unsubscribe
   */
  on(name, fn) {
    if (typeof fn !== 'function') throw new OutpostError(ErrorCode.INVALID_ARGUMENT, 'on(name, fn) takes a listener function.');
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.listeners.get(name)?.delete(fn);
  }

  /** Runs SQL that returns no rows (or ignores them). @returns {Promise<{changes: number, lastInsertRowId: number|bigint}>} */
  exec(sql, params) {
    return this.client.call(Op.EXEC, { sql, params });
  }

  /** Runs one statement and returns its rows as plain objects. */
  query(sql, params) {
    return this.client.call(Op.QUERY, { sql, params });
  }

  /**
   * Runs `fn` in one transaction: commits when the promise it returns resolves, rolls back when it rejects
   * (and rejects with the same error). Other calls on this database wait until it ends.
   *
   * Statements need not be awaited one by one: `db.transaction(tx => { tx.exec(a); tx.exec(b); })` sends
   * everything at once and costs a single round trip to the worker. As in PostgreSQL, a failed statement
   * aborts the transaction: the statements after it are refused and the transaction rejects with the first
   * error, committing nothing. (Use `INSERT ... ON CONFLICT` rather than catching constraint errors.)
   * @template T
   * @param {(tx: Transaction) => Promise<T>|T} fn
   * @param {{ mode?: 'DEFERRED'|'IMMEDIATE'|'EXCLUSIVE' }} [options]
   * @returns {Promise<T>}
   */
  async transaction(fn, options = {}) {
    if (typeof fn !== 'function') {
      throw new OutpostError(ErrorCode.INVALID_ARGUMENT, 'transaction() takes a function: db.transaction(async (tx) => { ... }).');
    }
    // BEGIN is not awaited: the transaction's statements follow it on the same port.
    const tx = this.client.newTransactionId();
    const begun = this.client.call(Op.BEGIN, { mode: options.mode }, tx);
    begun.catch(() => {}); // settled below
    const handle = new Transaction(this.client, tx);
    let result;
    try {
      result = await fn(handle);
    } catch (error) {
      handle.done = true;
      const beginError = await begun.then(
        () => null,
        (e) => e,
      );
      if (beginError) throw beginError; // the callback failed because the transaction never began
      await this.client.call(Op.ROLLBACK, {}, tx).catch(() => {});
      throw error;
    }
    handle.done = true;
    const [began, committed] = await Promise.allSettled([begun, this.client.call(Op.COMMIT, {}, tx)]);
    if (began.status === 'rejected') throw began.reason;
    if (committed.status === 'rejected') throw handle.firstError ?? committed.reason;
    return result;
  }

  /** The whole database as a plain SQLite file (opens in the sqlite3 shell). @returns {Promise<Uint8Array>} */
  export() {
    return this.client.call(Op.EXPORT);
  }

  /** Replaces the database with `bytes`, a plain SQLite file. Invalid input is rejected and changes nothing. */
  import(bytes) {
    return this.client.call(Op.IMPORT, { bytes });
  }

  /** Checkpoints, releases the storage (and its lock) and stops the worker. */
  async close() {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.client.call(Op.CLOSE);
    } finally {
      this[WORKER].terminate();
      this.client.fail(new OutpostError(ErrorCode.DB_CLOSED, 'The database is closed; call open() again.'));
    }
  }

  /** Test hooks; the database must be opened with { testHooks: true }. */
  debug(action, args = {}) {
    return this.client.call(Op.DEBUG, { action, ...args });
  }
}

export class Transaction {
  constructor(client, id) {
    this.client = client;
    this.id = id;
    this.done = false;
    this.firstError = null; // the statement error that aborted the transaction, reported by transaction()
  }

  exec(sql, params) {
    return this.send(Op.EXEC, sql, params);
  }

  query(sql, params) {
    return this.send(Op.QUERY, sql, params);
  }

  /** Records a custom operation in this transaction: it commits or rolls back with the transaction. */
  enqueue(op) {
    return this.send(Op.OUTBOX_ENQUEUE, undefined, undefined, { op });
  }

  send(op, sql, params, args = { sql, params }) {
    if (this.done) return Promise.reject(ended());
    const call = this.client.call(op, args, this.id);
    // transaction() reports the first failure even when the caller did not await this statement.
    call.catch((error) => {
      this.firstError ??= error;
    });
    return call;
  }
}

/** db.outbox: the durable queue of operations waiting for the server. */
class OutboxApi {
  constructor(client) {
    this.client = client;
  }
  /** Records a custom operation in its own transaction; resolves with its id once it is durable. */
  enqueue(op) {
    return this.client.call(Op.OUTBOX_ENQUEUE, { op });
  }
  stats() {
    return this.client.call(Op.OUTBOX_STATS);
  }
  list(options = {}) {
    return this.client.call(Op.OUTBOX_LIST, { state: options.state, limit: options.limit });
  }
  retry(id) {
    return this.client.call(Op.OUTBOX_RETRY, { id }).then(() => undefined);
  }
  /** Drops an operation for good. Only as an explicit user action: nothing else ever drops one. */
  discard(id) {
    return this.client.call(Op.OUTBOX_DISCARD, { id }).then(() => undefined);
  }
}

/** db.sync: status and control of the sync loop in the worker. */
class SyncApi {
  constructor(client, status) {
    this.client = client;
    this.current = status;
  }
  /** The latest status the worker reported (null when the database was opened without sync). */
  get status() {
    return this.current;
  }
  async now() {
    const status = await this.client.call(Op.SYNC_NOW);
    if (status) this.current = status;
    return status;
  }
  async pause() {
    this.current = await this.client.call(Op.SYNC_PAUSE);
  }
  async resume() {
    this.current = await this.client.call(Op.SYNC_RESUME);
  }
  setToken(token) {
    return this.client.call(Op.SYNC_TOKEN, { token }).then(() => undefined);
  }
}

/** db.conflicts: concurrent edits of `manual` columns, waiting for the user. */
class ConflictsApi {
  constructor(client) {
    this.client = client;
  }
  list() {
    return this.client.call(Op.CONFLICTS_LIST);
  }
  resolve(id, choice) {
    return this.client.call(Op.CONFLICTS_RESOLVE, { id, choice }).then(() => undefined);
  }
}

const ended = () =>
  new OutpostError(ErrorCode.INVALID_STATE, 'This transaction has already ended; use the tx object only inside its callback.');

/**
 * Asks the browser to keep this origin's storage under pressure (window only: workers cannot call it).
 * @returns {Promise<{ persisted: boolean, usage?: number, quota?: number }>}
 */
export async function requestPersistentStorage() {
  if (typeof navigator === 'undefined' || !navigator.storage?.persist) return { persisted: false };
  const persisted = await navigator.storage.persist();
  return { persisted, ...(await storageEstimate()) };
}

/** Usage and quota of this origin's storage, in bytes. */
export async function storageEstimate() {
  if (typeof navigator === 'undefined' || !navigator.storage?.estimate) return {};
  const { usage, quota } = await navigator.storage.estimate();
  return { usage, quota };
}
