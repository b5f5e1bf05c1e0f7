// Serves the message protocol (protocol.js) for one database inside the worker. Requests run one at a time
// in arrival order; while a transaction is open, requests that do not belong to it wait in a queue, so other
// calls (from this tab now, from follower tabs later) never interleave with it.
import { EngineDatabase, normalizeOptions } from './engine-host.js';
import { ErrorCode, OutpostError } from './errors.js';
import { Op, respond, respondError } from './protocol.js';

export class WorkerServer {
  constructor() {
    this.db = null;
    this.chain = Promise.resolve();
    this.activeTx = null; // id of the open transaction, if any
    this.waiting = []; // requests that arrived while another transaction was open
    this.nextTx = 1;
  }

  /** Serves requests arriving on `port`. */
  attach(port) {
    port.onmessage = (event) => this.enqueue(port, event.data);
    port.start?.();
  }

  enqueue(port, request) {
    this.chain = this.chain.then(() => this.admit(port, request));
  }

  async admit(port, request) {
    if (this.activeTx !== null && request.tx !== this.activeTx) {
      this.waiting.push([port, request]);
      return;
    }
    await this.run(port, request);
    // A finished transaction lets the waiting requests in, in order, until one of them opens another.
    while (this.activeTx === null && this.waiting.length) {
      const [p, r] = this.waiting.shift();
      await this.run(p, r);
    }
  }

  async run(port, { id, op, args, tx }) {
    try {
      respond(port, id, await this.handle(op, args ?? {}, tx));
    } catch (error) {
      respondError(port, id, error);
    }
  }

  requireDb() {
    if (!this.db) throw new OutpostError(ErrorCode.DB_CLOSED, 'The database is closed; call open() again.');
    return this.db;
  }

  async handle(op, args, tx) {
    switch (op) {
      case Op.OPEN: {
        if (this.db) throw new OutpostError(ErrorCode.INVALID_STATE, 'This worker already has an open database.');
        const options = normalizeOptions(args.name, args.options);
        this.db = await EngineDatabase.open(args.name, options);
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
        db.exec(`BEGIN ${mode}`);
        this.activeTx = this.nextTx++;
        return { tx: this.activeTx };
      }
      case Op.COMMIT:
      case Op.ROLLBACK: {
        const db = this.requireDb();
        if (tx === undefined || tx !== this.activeTx) {
          throw new OutpostError(ErrorCode.INVALID_STATE, 'No such open transaction; it was already committed or rolled back.');
        }
        try {
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
