// Serves the message protocol (protocol.js) for one database inside the worker. Requests run one at a time
// in arrival order; while a transaction is open, requests that do not belong to it wait in a queue, so other
// calls (from this tab now, from follower tabs later) never interleave with it.
import { EngineDatabase, normalizeOptions } from './engine-host.js';
import { ErrorCode, OutpostError } from './errors.js';
import { Op, Replies, holdLifeline } from './protocol.js';
import { SyncLoop } from './sync-loop.js';

// The pseudo-port of requests the worker makes itself (the sync loop's engine calls): they queue like
// requests from a tab, so they never run inside a user's open transaction.
const INTERNAL = { internal: true };

export class WorkerServer {
  constructor() {
    this.db = null;
    this.chain = Promise.resolve();
    this.activeTx = null; // { port, id } of the open transaction, if any
    this.waiting = []; // [port, request] that arrived while another transaction was open
    this.replies = new Replies();
    this.lifelines = [];
    this.ports = [];
    this.sync = null; // SyncLoop when opened with { sync }
  }

  /** Runs fn() on the request chain as soon as no transaction is open (the sync loop's engine calls). */
  runInternal(fn) {
    return new Promise((resolve, reject) => this.enqueue(INTERNAL, [{ op: Op.INTERNAL, fn, resolve, reject }]));
  }

  /** Sends the engine's new events to every connected port (with the replies being collected). */
  drainEvents() {
    if (!this.db?.syncing) return;
    for (const { name, detail } of this.db.syncEvents()) {
      for (const port of this.ports) this.replies.event(port, name, detail);
    }
  }

  /** Serves requests arriving on `port`; holds `lifeline` (see protocol.js CONNECT) while alive. */
  attach(port, lifeline) {
    this.lifelines.push(holdLifeline(lifeline));
    this.ports.push(port);
    port.onmessage = (event) => this.enqueue(port, event.data);
    port.start?.();
  }

  enqueue(port, batch) {
    this.chain = this.chain.then(async () => {
      for (const request of batch) await this.admit(port, request);
      this.drainEvents();
      this.replies.flush();
    });
  }

  /** Whether `request` from `port` belongs to the open transaction. */
  owns(port, request) {
    return this.activeTx !== null && this.activeTx.port === port && this.activeTx.id === request.tx;
  }

  /** Whether `request` may run now: no transaction is open, or it belongs to the open one. */
  runnable(port, request) {
    return this.activeTx === null || this.owns(port, request);
  }

  async admit(port, request) {
    if (!this.runnable(port, request)) {
      this.waiting.push([port, request]);
      return;
    }
    await this.run(port, request);
    // Let waiting requests in, oldest first, as soon as they may run: after a transaction ends, the next
    // one's BEGIN and then its statements (queued behind it while the first was open) run in their order.
    for (;;) {
      const next = this.waiting.findIndex(([p, r]) => this.runnable(p, r));
      if (next < 0) break;
      const [[p, r]] = this.waiting.splice(next, 1);
      await this.run(p, r);
    }
  }

  async run(port, request) {
    const { id, op, args, tx } = request;
    if (port === INTERNAL) {
      try {
        request.resolve(await request.fn());
      } catch (error) {
        request.reject(error);
      }
      return;
    }
    try {
      // A call made inside a transaction that is not open (its BEGIN failed, or it ended) must not run
      // outside it.
      if (tx !== undefined && op !== Op.BEGIN && !this.owns(port, request)) {
        throw new OutpostError(ErrorCode.INVALID_STATE, 'This transaction is not open: it failed to begin or has already ended.');
      }
      const inTx = tx !== undefined && op !== Op.BEGIN && op !== Op.COMMIT && op !== Op.ROLLBACK;
      // Like PostgreSQL (and IndexedDB): after a failed statement the transaction is aborted. Its later
      // statements are refused and COMMIT rolls back, so statements sent without waiting for each other
      // can never commit half a transaction.
      if (inTx && this.activeTx.failure) throw aborted(this.activeTx.failure);
      let result;
      try {
        result = await this.handle(op, args ?? {}, tx, port);
        if (result instanceof Later) {
          result.promise.then(
            (value) => this.replies.ok(port, id, value),
            (error) => this.replies.error(port, id, error),
          ).finally(() => this.replies.flush());
          return;
        }
      } catch (error) {
        if (inTx && this.activeTx) this.activeTx.failure = error;
        throw error;
      }
      this.replies.ok(port, id, result);
    } catch (error) {
      this.replies.error(port, id, error);
    }
  }

  requireDb() {
    if (!this.db) throw new OutpostError(ErrorCode.DB_CLOSED, 'The database is closed; call open() again.');
    return this.db;
  }

  async handle(op, args, tx, port) {
    switch (op) {
      case Op.OPEN: {
        if (this.db) throw new OutpostError(ErrorCode.INVALID_STATE, 'This worker already has an open database.');
        const options = normalizeOptions(args.name, args.options);
        this.db = await EngineDatabase.open(args.name, options);
        if (options.sync) this.startSync(options.sync);
        // The opener starts watching the lifeline when open() resolves, so it must be held by then; it was
        // requested at connect time and is long granted, so waiting here keeps it off the cold-start path.
        await Promise.all(this.lifelines);
        return {
          storage: options.storage,
          durability: options.durability,
          files: this.db.files(),
          sync: this.sync ? this.db.syncStatus() : null,
        };
      }
      case Op.EXEC: {
        const result = this.requireDb().exec(args.sql, args.params);
        if (tx === undefined) this.sync?.wake(); // a committed local write may have queued operations
        return result;
      }
      case Op.QUERY:
        return this.requireDb().query(args.sql, args.params);
      case Op.BEGIN: {
        const db = this.requireDb();
        const mode = args.mode ?? 'IMMEDIATE';
        if (!['DEFERRED', 'IMMEDIATE', 'EXCLUSIVE'].includes(mode)) {
          throw new OutpostError(ErrorCode.INVALID_ARGUMENT, "Transaction mode must be 'DEFERRED', 'IMMEDIATE' or 'EXCLUSIVE'.");
        }
        if (tx === undefined) throw new OutpostError(ErrorCode.INVALID_ARGUMENT, 'BEGIN needs a transaction id.');
        db.exec(`BEGIN ${mode}`);
        this.activeTx = { port, id: tx, failure: null };
        return {};
      }
      case Op.COMMIT:
      case Op.ROLLBACK: {
        const db = this.requireDb();
        const failure = this.activeTx.failure;
        try {
          if (op === Op.COMMIT && failure) throw aborted(failure);
          // SQLite may already have rolled back on its own (e.g. SQLITE_FULL); ROLLBACK then has nothing to do.
          if (op === Op.COMMIT) {
            db.exec('COMMIT');
            this.sync?.wake();
          }
          else if (db.inTransaction) db.exec('ROLLBACK');
        } catch (error) {
          if (db.inTransaction) {
            try {
              db.exec('ROLLBACK');
            } catch {
              /* the connection rolls back on close at the latest */
            }
          }
          this.activeTx = null;
          throw error;
        }
        this.activeTx = null;
        return {};
      }
      case Op.EXPORT:
        return this.requireDb().export();
      case Op.IMPORT:
        this.requireDb().import(args.bytes);
        return {};
      case Op.CLOSE: {
        const db = this.db;
        this.sync?.stop();
        this.sync = null;
        this.db = null;
        this.activeTx = null;
        db?.close();
        return {};
      }
      case Op.DEBUG:
        return this.debug(args);
      case Op.OUTBOX_ENQUEUE: {
        const id = this.requireSync().syncEnqueue(args.op ?? {}, Date.now());
        if (tx === undefined) this.sync.wake();
        return id;
      }
      case Op.OUTBOX_STATS:
        return this.requireSync().syncStats();
      case Op.OUTBOX_LIST:
        return this.requireSync().syncList(args.state, args.limit);
      case Op.OUTBOX_RETRY:
        this.requireSync().syncRetry(args.id, Date.now());
        this.sync.wake();
        return {};
      case Op.OUTBOX_DISCARD:
        this.requireSync().syncDiscard(args.id, Date.now());
        return {};
      case Op.SYNC_STATUS:
        return this.requireSync().syncStatus();
      case Op.SYNC_NOW: {
        this.requireSync();
        // The round needs the request chain (the loop's engine calls run on it): answer later, off the chain.
        return new Later(this.sync.now().then(() => this.db?.syncStatus() ?? null));
      }
      case Op.SYNC_PAUSE:
      case Op.SYNC_RESUME:
        this.requireSync().syncSetPaused(op === Op.SYNC_PAUSE);
        this.sync.wake();
        return this.db.syncStatus();
      case Op.SYNC_TOKEN:
        this.requireSync();
        if (typeof args.token !== 'string' || args.token === '') {
          throw new OutpostError(ErrorCode.INVALID_ARGUMENT, 'setToken() takes the new bearer token as a non-empty string.');
        }
        this.sync.token = args.token;
        this.db.syncSetToken(true);
        this.sync.wake();
        return {};
      case Op.CONFLICTS_LIST:
        return this.requireSync().conflictsList();
      case Op.CONFLICTS_RESOLVE: {
        this.requireSync().conflictsResolve(args.id, args.choice);
        this.sync.wake();
        return {};
      }
      default:
        throw new OutpostError(ErrorCode.INVALID_ARGUMENT, `Unknown operation '${op}'.`);
    }
  }

  requireSync() {
    const db = this.requireDb();
    if (!this.sync) {
      throw new OutpostError(ErrorCode.NOT_SYNCED, 'This database was opened without sync; pass open(name, { sync: { url, token, tables } }).');
    }
    return db;
  }

  startSync({ url, token, paused, requestTimeoutMs, engine }) {
    const db = this.db;
    try {
      db.syncOpen(engine);
      if (paused) db.syncSetPaused(true);
      if (!token) db.syncSetToken(false);
    } catch (error) {
      this.db = null;
      db.close();
      throw error;
    }
    this.sync = new SyncLoop({
      url,
      token,
      requestTimeoutMs,
      engine: db,
      runEngine: (fn) => this.runInternal(fn),
      afterEngine: () => this.drainEvents(),
    });
    this.sync.start();
  }

  debug(args) {
    const db = this.requireDb();
    if (!db.options.testHooks) {
      throw new OutpostError(ErrorCode.INVALID_STATE, 'Test hooks are off; open with { testHooks: true } in tests only.');
    }
    switch (args.action) {
      case 'failWrites':
        db.failWrites(args.mode ?? 'quota');
        return {};
      case 'clearWriteFailures':
        db.clearWriteFailures();
        return {};
      case 'files':
        return db.files();
      case 'syncProfile':
        return this.sync ? { ...this.sync.profile } : null;
      default:
        throw new OutpostError(ErrorCode.INVALID_ARGUMENT, `Unknown debug action '${args.action}'.`);
    }
  }
}

/** A result that arrives after the request chain has moved on (db.sync.now()). */
class Later {
  constructor(promise) {
    this.promise = promise;
  }
}

/** The error for a call in (or the commit of) a transaction that an earlier statement aborted. */
function aborted(failure) {
  const cause = failure instanceof OutpostError ? failure : null;
  return new OutpostError(
    cause?.code ?? ErrorCode.INVALID_STATE,
    `The transaction was rolled back because an earlier statement in it failed: ${failure?.message ?? failure}`,
    { sql: cause?.sql, sqliteCode: cause?.sqliteCode },
  );
}
