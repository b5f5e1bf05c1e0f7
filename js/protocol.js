// The worker message protocol, in one place. The facade (index.js) and the worker (worker-server.js) talk
// over a MessagePort, never the Worker object itself, so a later multi-tab mode can hand a follower tab a
// port to the leader's worker without changing the API.
//
// Request:  { id, op, args, tx? }      id: unique per port; tx: the transaction the call belongs to
// Response: { id, result } | { id, error: { code, message, sql?, sqliteCode? } }
//
// Ops and their args / results:
//   open     { name, options }          → { storage, durability, files }
//   exec     { sql, params }            → { changes, lastInsertRowId }
//   query    { sql, params }            → rows (plain objects)
//   begin    { mode }  (tx)             → {}  tx: chosen by the client (Client.newTransactionId), so calls of
//                                             the transaction can be sent without waiting for BEGIN's answer.
//                                             While it is open, other calls (other ports, or no tx) wait; a
//                                             call whose tx is not open fails with INVALID_STATE.
//   commit   {}  (tx)                   → {}
//   rollback {}  (tx)                   → {}
//   export   {}                         → Uint8Array (transferred)
//   import   { bytes }                  → {}
//   close    {}                         → {}
//   debug    { action, ... }            → test hooks; only when opened with { testHooks: true }
import { ErrorCode, OutpostError } from './errors.js';

export const Op = Object.freeze({
  OPEN: 'open',
  EXEC: 'exec',
  QUERY: 'query',
  BEGIN: 'begin',
  COMMIT: 'commit',
  ROLLBACK: 'rollback',
  EXPORT: 'export',
  IMPORT: 'import',
  CLOSE: 'close',
  DEBUG: 'debug',
});

/** The worker's first message: its entry module has run and listens (see worker.js). */
export const READY = 'outpost.ready';
/** The facade's first message to a ready Worker: hands it the port to serve. */
export const CONNECT = 'outpost.connect';

/** Client side: sends requests over `port` and settles one promise per response. */
export class Client {
  /** @param {MessagePort} port */
  constructor(port) {
    this.port = port;
    this.nextId = 1;
    this.pending = new Map();
    this.failure = null;
    this.nextTx = 1;
    port.onmessage = (event) => this.receive(event.data);
    port.start?.();
  }

  /** A transaction id unique on this port. */
  newTransactionId() {
    return this.nextTx++;
  }

  /** @returns {Promise<any>} */
  call(op, args = {}, tx = undefined, transfer = []) {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      try {
        this.port.postMessage({ id, op, args, tx }, transfer);
      } catch (cause) {
        // Structured clone refused a value (a function, a Symbol, a DOM node...): nothing was sent.
        reject(
          new OutpostError(
            ErrorCode.INVALID_ARGUMENT,
            `Cannot send this call to the database worker (${cause?.message ?? cause}). Parameters must be null, number, bigint, string, boolean or Uint8Array.`,
            { sql: args.sql, cause },
          ),
        );
        return;
      }
      this.pending.set(id, { resolve, reject });
    });
  }

  receive(message) {
    const entry = this.pending.get(message.id);
    if (!entry) return;
    this.pending.delete(message.id);
    if (message.error) entry.reject(OutpostError.from(message.error));
    else entry.resolve(message.result);
  }

  /** Rejects every pending call and all later ones with `error` (the worker is gone). */
  fail(error) {
    this.failure = error;
    for (const entry of this.pending.values()) entry.reject(error);
    this.pending.clear();
  }
}

/** Server side: the response for a request, with transferables moved rather than copied. */
export function respond(port, id, result) {
  const transfer = result instanceof Uint8Array ? [result.buffer] : [];
  port.postMessage({ id, result }, transfer);
}

export function respondError(port, id, error) {
  const plain =
    error instanceof OutpostError
      ? error.toJSON()
      : { code: ErrorCode.WORKER_FAILED, message: `Internal error in the Outpost worker: ${error?.message ?? error}` };
  port.postMessage({ id, error: plain });
}
