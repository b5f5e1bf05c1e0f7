// Serves the message protocol (protocol.js) for one database inside the worker. Requests run one at a time
// in arrival order; while a transaction is open, requests that do not belong to it wait in a queue, so other
// calls (from this tab now, from follower tabs later) never interleave with it.
import { EngineDatabase, normalizeOptions } from './engine-host.js';
import { ErrorCode, OutpostError } from './errors.js';
import { Op, Replies, holdLifeline } from './protocol.js';

export class WorkerServer {
  constructor() {
    this.db = null;
    this.chain = Promise.resolve();
    this.activeTx = null; // { port, id } of the open transaction, if any
    this.waiting = []; // [port, request] that arrived while another transaction was open
    this.replies = new Replies();
    this.lifelines = [];
  }

  /** Serves requests arriving on `port`; holds `lifeline` (see protocol.js CONNECT) while alive. */
  attach(port, lifeline) {
    this.lifelines.push(holdLifeline(lifeline));
    port.onmessage = (event) => this.enqueue(port, event.data);
    port.start?.();
  }

  enqueue(port, batch) {
    this.chain = this.chain.then(async () => {
      for (const request of batch) await this.admit(port, request);
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
        // The opener starts watching the lifeline when open() resolves, so it must be held by then; it was
        // requested at connect time and is long granted, so waiting here keeps it off the cold-start path.
        await Promise.all(this.lifelines);
        return { storage: options.storage, durability: options.durability, files: this.db.files() };
      }
      case Op.EXEC:
        return this.requireDb().exec(args.sql, args.params);
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
          if (op === Op.COMMIT) db.exec('COMMIT');
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
        this.db = null;
        this.activeTx = null;
        db?.close();
        return {};
      }
      case Op.DEBUG:
        return this.debug(args);
      default:
        throw new OutpostError(ErrorCode.INVALID_ARGUMENT, `Unknown operation '${op}'.`);
    }
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
      default:
        throw new OutpostError(ErrorCode.INVALID_ARGUMENT, `Unknown debug action '${args.action}'.`);
    }
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
