// The engine inside the worker: loads the WASM module once, acquires storage, and wraps one Connection
// (wasm/bindings.cc) in methods that throw OutpostError. worker-server.js serves it over the message
// protocol; benchmarks use it directly to measure without the postMessage hop.
import createOutpostEngine from './engine/outpost-engine.js';
import { ErrorCode, OutpostError } from './errors.js';
import { acquirePool } from './opfs-pool.js';

let enginePromise = null;
let nextPool = 1;

/**
 * Loads the engine once per worker. `compiled` (optional): a promise of a WebAssembly.Module compiled
 * elsewhere (the page, see index.js), or of null to fetch and compile here after all.
 */
export function loadEngine(compiled = null) {
  // The Emscripten glue finds the WASM itself with new URL('outpost-engine.wasm', import.meta.url), which
  // holds both for js/engine/outpost-engine.js and for the bundled worker beside it, and which bundlers see.
  enginePromise ??= Promise.resolve(compiled)
    .then((module) => (module ? instantiate(module) : createOutpostEngine()))
    .then((engine) => {
      engine.outpostPools = {};
      return engine;
    });
  return enginePromise;
}

function instantiate(module) {
  return new Promise((resolve, reject) => {
    createOutpostEngine({
      instantiateWasm(imports, receiveInstance) {
        WebAssembly.instantiate(module, imports).then((instance) => receiveInstance(instance, module), reject);
        return {}; // exports arrive asynchronously, through receiveInstance
      },
    }).then(resolve, reject);
  });
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Fills in defaults and rejects bad options with INVALID_ARGUMENT. */
export function normalizeOptions(name, options = {}) {
  if (typeof name !== 'string' || !NAME.test(name) || name.includes('..')) {
    throw new OutpostError(
      ErrorCode.INVALID_ARGUMENT,
      `Invalid database name ${JSON.stringify(name)}: use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit.`,
    );
  }
  const o = {
    storage: options.storage ?? 'opfs',
    durability: options.durability ?? 'full',
    poolSize: options.poolSize ?? 4,
    lockTimeoutMs: options.lockTimeoutMs ?? 3000,
    pageSize: options.pageSize ?? 4096,
    cacheSizeKiB: options.cacheSizeKiB ?? 8192,
    testHooks: options.testHooks === true,
    sync: options.sync === undefined ? null : normalizeSync(options.sync),
  };
  const bad = (what) => new OutpostError(ErrorCode.INVALID_ARGUMENT, `Invalid option ${what}.`);
  if (o.storage !== 'opfs' && o.storage !== 'memory') throw bad(`storage: use 'opfs' (default) or 'memory'`);
  if (o.durability !== 'full' && o.durability !== 'relaxed') throw bad(`durability: use 'full' (default) or 'relaxed'`);
  if (!Number.isInteger(o.poolSize) || o.poolSize < 3 || o.poolSize > 64) throw bad('poolSize: an integer from 3 to 64');
  if (!(o.lockTimeoutMs >= 0)) throw bad('lockTimeoutMs: a number of milliseconds >= 0');
  if (![512, 1024, 2048, 4096, 8192, 16384, 32768, 65536].includes(o.pageSize)) throw bad('pageSize: a power of two from 512 to 65536');
  if (!Number.isInteger(o.cacheSizeKiB) || o.cacheSizeKiB < 64) throw bad('cacheSizeKiB: an integer >= 64');
  return o;
}

/**
 * Splits open()'s `sync` option into what the worker's transport keeps (url, token, timeout, paused) and the
 * engine's configuration (everything else, validated by the engine: SyncConfig::FromJson, docs/sync.md).
 */
function normalizeSync(sync) {
  const bad = (what) => new OutpostError(ErrorCode.INVALID_ARGUMENT, `Invalid sync option ${what}.`);
  if (sync === null || typeof sync !== 'object') throw bad(": pass { url, token, tables: { name: { primaryKey } } }");
  const { url, token, paused, ...engine } = sync;
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw bad(`url: ${JSON.stringify(url)} is not an absolute URL (e.g. 'https://sync.example.com')`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw bad('url: use http: or https:');
  if (token !== undefined && typeof token !== 'string') throw bad('token: a string');
  if (engine.tables === null || typeof engine.tables !== 'object' || Object.keys(engine.tables).length === 0) {
    throw bad("tables: name at least one table, e.g. { notes: { primaryKey: 'id' } }");
  }
  // The server checks that a request's clientId is the token's device. Tokens of outpost-server
  // (ot1.<claims>.<mac>) name it, so it need not be repeated; other backends: pass sync.clientId.
  if (engine.clientId === undefined) {
    const device = tokenDevice(token);
    if (device) engine.clientId = device;
  }
  const requestTimeoutMs = engine.requestTimeoutMs ?? 30_000;
  if (!(requestTimeoutMs > 0)) throw bad('requestTimeoutMs: a number of milliseconds > 0');
  return { url: parsed.href, token, paused: paused === true, requestTimeoutMs, engine };
}

/** The `dev` claim of an outpost-server token, or null for any other token. */
export function tokenDevice(token) {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3 || parts[0] !== 'ot1') return null;
  try {
    const claims = JSON.parse(atob(parts[1].replace(/-/g, '+').replace(/_/g, '/')));
    return typeof claims.dev === 'string' ? claims.dev : null;
  } catch {
    return null;
  }
}

function check(result) {
  if (result.error) throw OutpostError.from(result.error);
  return result;
}

export class EngineDatabase {
  /** Opens `name` with normalized options (see normalizeOptions). */
  static async open(name, options) {
    // Compiling the WASM and acquiring the OPFS handles are independent: overlap them.
    const poolPromise = options.storage === 'opfs' ? acquirePool(name, options.poolSize, options.lockTimeoutMs) : null;
    poolPromise?.catch(() => {}); // awaited below; until then a failure must not count as an unhandled rejection
    let engine;
    try {
      engine = await loadEngine();
    } catch (error) {
      (await poolPromise?.catch(() => null))?.close();
      throw new OutpostError(ErrorCode.WORKER_FAILED, `The Outpost engine (WASM) failed to load: ${error?.message ?? error}. Check that outpost-engine.wasm is served next to outpost-engine.js with Content-Type application/wasm.`, { cause: error });
    }
    const pool = await poolPromise;
    let poolId = 0;
    if (pool) {
      poolId = nextPool++;
      engine.outpostPools[poolId] = pool;
    }
    const connection = new engine.Connection();
    const result = connection.open(`/${name}`, {
      storage: options.storage,
      pool: poolId,
      slots: options.poolSize,
      durability: options.durability,
      pageSize: options.pageSize,
      cacheSizeKiB: options.cacheSizeKiB,
    });
    if (result.error) {
      connection.delete();
      pool?.close();
      delete engine.outpostPools[poolId];
      throw OutpostError.from(result.error);
    }
    return new EngineDatabase(engine, connection, pool, poolId, options);
  }

  constructor(engine, connection, pool, poolId, options) {
    this.engine = engine;
    this.connection = connection;
    this.pool = pool;
    this.poolId = poolId;
    this.options = options;
    this.realHandles = null;
    this.syncing = false;
  }

  exec(sql, params) {
    const text = this.sqlText(sql);
    return check(this.connection.exec(text, params ?? null)); // stamps the time for capture (bindings.cc)
  }

  query(sql, params) {
    const text = this.sqlText(sql);
    return check(this.connection.query(text, params ?? null)).rows;
  }

  get inTransaction() {
    return this.connection.inTransaction();
  }

  export() {
    return check(this.connection.exportBytes()).bytes;
  }

  import(bytes) {
    if (!(bytes instanceof Uint8Array)) {
      throw new OutpostError(ErrorCode.INVALID_ARGUMENT, 'import() takes the database file as a Uint8Array.');
    }
    check(this.connection.importBytes(bytes));
  }

  files() {
    return this.connection.files();
  }

  // Sync (wasm/include/outpost/sync_engine.h through wasm/bindings.cc). JSON crosses as strings where the
  // engine speaks JSON (config, custom operations, choices); results come back as plain objects.

  /** Starts the sync engine on this connection with `config` (docs/sync.md, without url/token). */
  syncOpen(config) {
    const seed = new Uint8Array(32);
    crypto.getRandomValues(seed);
    check(this.sqlHandle().syncOpen(JSON.stringify(config), Date.now(), seed));
    this.syncing = true;
  }

  syncEnqueue(op, now) {
    let payload;
    try {
      payload = op.payload === undefined ? undefined : JSON.stringify(op.payload);
    } catch (cause) {
      throw new OutpostError(ErrorCode.INVALID_ARGUMENT, `The operation's payload is not JSON-serialisable: ${cause?.message ?? cause}.`);
    }
    if (op === null || typeof op !== 'object') {
      throw new OutpostError(ErrorCode.INVALID_ARGUMENT, "enqueue() takes an operation: { kind: 'http.post', target, payload, priority, entity }.");
    }
    const plain = { kind: op.kind, target: op.target, entity: op.entity, priority: op.priority, payload };
    return check(this.sqlHandle().syncEnqueue(plain, now)).id;
  }

  syncNext(now) {
    return check(this.sqlHandle().syncNext(now));
  }

  syncOnResult(requestId, result, now) {
    check(this.sqlHandle().syncOnResult(requestId, result, now));
  }

  syncHint(online, now) {
    this.sqlHandle().syncHint(online, now);
  }

  syncNow(now) {
    this.sqlHandle().syncNow(now);
  }

  syncSetPaused(paused) {
    this.sqlHandle().syncSetPaused(paused);
  }

  syncSetToken(present) {
    this.sqlHandle().syncSetToken(present);
  }

  syncStatus() {
    return check(this.sqlHandle().syncStatus());
  }

  syncStats() {
    return check(this.sqlHandle().syncStats());
  }

  syncList(state, limit) {
    return check(this.sqlHandle().syncList(state ?? '', limit ?? 100)).entries;
  }

  syncRetry(id, now) {
    check(this.sqlHandle().syncRetry(String(id), now));
  }

  syncDiscard(id, now) {
    check(this.sqlHandle().syncDiscard(String(id), now));
  }

  /** Events the engine raised since the last call: [{ name, detail }]. */
  syncEvents() {
    return this.connection ? this.connection.syncEvents() : [];
  }

  conflictsList() {
    return check(this.sqlHandle().conflictsList()).conflicts;
  }

  /**
   * Resolves a manual conflict in one transaction: writes the chosen values to the row (an ordinary write,
   * so capture turns it into an operation the server applies) and forgets the conflict. The engine already
   * set the row to the server's values when it recorded the conflict, so choosing 'remote' writes nothing.
   */
  conflictsResolve(id, choice) {
    const conflict = this.conflictsList().find((c) => c.id === id);
    if (!conflict) throw new OutpostError(ErrorCode.NOT_FOUND, `No conflict ${JSON.stringify(id)}: it was resolved already, or list() again.`);
    const fields = Object.keys(conflict.fields);
    let values;
    if (choice?.choose === 'local' || choice?.choose === 'remote') {
      values = Object.fromEntries(fields.map((f) => [f, conflict.fields[f][choice.choose]]));
    } else if (choice?.value && typeof choice.value === 'object') {
      values = choice.value;
      const unknown = Object.keys(values).filter((f) => !fields.includes(f));
      if (unknown.length) {
        throw new OutpostError(ErrorCode.INVALID_ARGUMENT, `resolve(): ${unknown.join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not in conflict; give values for ${fields.join(', ')}.`);
      }
    } else {
      throw new OutpostError(ErrorCode.INVALID_ARGUMENT, "resolve(id, choice) takes { choose: 'local' | 'remote' } or { value: { column: value } }.");
    }
    const quote = (name) => `"${String(name).replaceAll('"', '""')}"`;
    const columns = Object.keys(values);
    const keys = Object.keys(conflict.key);
    this.exec('SAVEPOINT outpost_resolve');
    try {
      if (conflict.deleted) {
        // A delete-wins tombstone: the row is gone for good; the user's choice is only acknowledged.
      } else if (columns.length && !(choice.choose === 'remote')) {
        this.exec(
          `UPDATE ${quote(conflict.table)} SET ${columns.map((c) => `${quote(c)} = ?`).join(', ')} WHERE ${keys.map((k) => `${quote(k)} = ?`).join(' AND ')}`,
          [...columns.map((c) => values[c]), ...keys.map((k) => conflict.key[k])],
        );
      }
      check(this.sqlHandle().conflictsDrop(String(id)));
      this.exec('RELEASE outpost_resolve');
    } catch (error) {
      // A write the sync engine cannot record rolls back the whole transaction, savepoint included.
      if (this.inTransaction) {
        this.exec('ROLLBACK TO outpost_resolve');
        this.exec('RELEASE outpost_resolve');
      }
      throw error;
    }
  }

  sqlHandle() {
    if (!this.connection) throw new OutpostError(ErrorCode.DB_CLOSED, 'The database is closed; call open() again.');
    return this.connection;
  }

  close() {
    if (!this.connection) return;
    const result = this.connection.close();
    this.connection.delete();
    this.connection = null;
    this.pool?.close();
    delete this.engine.outpostPools[this.poolId];
    check(result);
  }

  sqlText(sql) {
    if (!this.connection) throw new OutpostError(ErrorCode.DB_CLOSED, 'The database is closed; call open() again.');
    if (typeof sql !== 'string') throw new OutpostError(ErrorCode.INVALID_ARGUMENT, 'SQL must be a string.');
    return sql;
  }

  /**
   * Test hook: from the next write on, every OPFS write fails the way a full disk does in browsers:
   * `mode` 'quota' throws QuotaExceededError, 'short' stores only part of the bytes.
   * The real handles are untouched; clearWriteFailures() restores them.
   */
  failWrites(mode) {
    if (!this.pool) throw new OutpostError(ErrorCode.INVALID_STATE, 'Write failures can be injected only with OPFS storage.');
    this.realHandles ??= this.pool.handles.slice();
    this.pool.handles = this.realHandles.map((h) => ({
      read: (buf, opts) => h.read(buf, opts),
      write: (buf, opts) => {
        if (mode === 'short') return h.write(buf.subarray(0, buf.length >> 1), opts);
        throw new DOMException('Quota exceeded (injected)', 'QuotaExceededError');
      },
      truncate: (n) => h.truncate(n),
      getSize: () => h.getSize(),
      flush: () => h.flush(),
      close: () => h.close(),
    }));
  }

  clearWriteFailures() {
    if (this.realHandles) this.pool.handles = this.realHandles;
    this.realHandles = null;
  }
}
