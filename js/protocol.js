// The worker message protocol, in one place. The facade (index.js) and the worker (worker-server.js) talk
// over a MessagePort, never the Worker object itself, so a later multi-tab mode can hand a follower tab a
// port to the leader's worker without changing the API.
//
// Request:  { id, op, args, tx? }      id: unique per port; tx: the transaction the call belongs to
// Response: { id, result } | { id, error: { code, message, sql?, sqliteCode? } }
//
// Messages are arrays: the client sends the requests made in one turn of the event loop as one message,
// and the worker answers everything a message produced as one message. A postMessage costs tens of
// microseconds; a transaction whose statements are not awaited thus costs one message each way (BEGIN,
// the statements and COMMIT travel together: see Client.call).
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
//   outbox.enqueue { op } (tx?)         → id        (sync only, else NOT_SYNCED)
//   outbox.stats / outbox.list { state, limit } / outbox.retry { id } / outbox.discard { id }
//   sync.status / sync.now (answers when the round ends) / sync.pause / sync.resume / sync.token { token }
//   conflicts.list / conflicts.resolve { id, choice }
//
// Events: the worker adds { event, detail } entries to the arrays it sends (sync status changes, op-failed,
// synced, auth-required, conflict, stale, change); they have no id and go to every connected port.
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
  OUTBOX_ENQUEUE: 'outbox.enqueue',
  OUTBOX_STATS: 'outbox.stats',
  OUTBOX_LIST: 'outbox.list',
  OUTBOX_RETRY: 'outbox.retry',
  OUTBOX_DISCARD: 'outbox.discard',
  SYNC_STATUS: 'sync.status',
  SYNC_NOW: 'sync.now',
  SYNC_PAUSE: 'sync.pause',
  SYNC_RESUME: 'sync.resume',
  SYNC_TOKEN: 'sync.token',
  CONFLICTS_LIST: 'conflicts.list',
  CONFLICTS_RESOLVE: 'conflicts.resolve',
  INTERNAL: 'internal', // never sent: the worker's own requests (worker-server.js)
});

/** The worker's first message: its entry module has run and listens (see worker.js). */
export const READY = 'outpost.ready';
/**
 * The facade's first message to a ready Worker: { type: CONNECT, port, lifeline?, engine? }. It hands the worker the
 * port to serve and, where Web Locks exist, the name of a lock the worker holds for as long as it lives:
 * the facade queues for the same lock, and getting it means the worker is gone (terminated, crashed, out
 * of memory), so pending and later calls fail with WORKER_FAILED instead of waiting forever.
 */
export const CONNECT = 'outpost.connect';
/**
 * CONNECT's `engine` says where the worker gets its WASM: 'load' (fetch and compile it itself) or 'follows'
 * (the page is compiling it, overlapping the worker's start-up, and sends { type: ENGINE, module } next;
 * module null means the page could not, and the worker loads it itself).
 */
export const ENGINE = 'outpost.engine';

/** Holds the lifeline lock until this context dies; resolves once it is held. */
export function holdLifeline(name) {
  if (!name || typeof navigator === 'undefined' || !navigator.locks) return Promise.resolve();
  return new Promise((held) => {
    navigator.locks.request(name, () => {
      held();
      return new Promise(() => {});
    });
  });
}

/** Calls `onDeath` when the holder of the lifeline lock is gone (no-op without Web Locks). */
export function watchLifeline(name, onDeath) {
  if (!name || typeof navigator === 'undefined' || !navigator.locks) return;
  navigator.locks.request(name, () => onDeath()).catch(() => {});
}

/** Client side: sends requests over `port` and settles one promise per response. */
export class Client {
  /** @param {MessagePort} port */
  constructor(port) {
    this.port = port;
    this.nextId = 1;
    this.pending = new Map();
    this.failure = null;
    this.nextTx = 1;
    this.outgoing = [];
    this.onEvent = null; // (name, detail) => void
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
      this.pending.set(id, { resolve, reject });
      // Two microtask hops, not one: db.transaction(tx => { tx.exec(a); tx.exec(b); }) queues BEGIN and the
      // statements, and its COMMIT one tick later (after `await fn(tx)`); sending after the second hop puts
      // the whole transaction in one message, hence one round trip. Awaited calls wait one tick more.
      if (this.outgoing.length === 0) queueMicrotask(() => queueMicrotask(() => this.flush()));
      this.outgoing.push({ message: { id, op, args, tx }, transfer, sql: args.sql });
    });
  }

  /** Sends the requests queued in this turn as one message. */
  flush() {
    const batch = this.outgoing;
    this.outgoing = [];
    if (this.failure) return;
    try {
      this.port.postMessage(
        batch.map((b) => b.message),
        batch.flatMap((b) => b.transfer),
      );
      return;
    } catch {
      // Structured clone refused a value in some request: send them one by one to find which.
    }
    for (const { message, transfer, sql } of batch) {
      try {
        this.port.postMessage([message], transfer);
      } catch (cause) {
        this.settle({
          id: message.id,
          error: new OutpostError(
            ErrorCode.INVALID_ARGUMENT,
            `Cannot send this call to the database worker (${cause?.message ?? cause}). Parameters must be null, number, bigint, string, boolean or Uint8Array.`,
            { sql, cause },
          ),
        });
      }
    }
  }

  receive(batch) {
    for (const response of batch) {
      if (response.event !== undefined) this.onEvent?.(response.event, response.detail);
      else this.settle(response);
    }
  }

  settle(response) {
    const entry = this.pending.get(response.id);
    if (!entry) return;
    this.pending.delete(response.id);
    if (response.error) entry.reject(OutpostError.from(response.error));
    else entry.resolve(response.result);
  }

  /** Rejects every pending call and all later ones with `error` (the worker is gone). */
  fail(error) {
    if (this.failure) return; // the first reason stands (e.g. DB_CLOSED after close())
    this.failure = error;
    for (const entry of this.pending.values()) entry.reject(error);
    this.pending.clear();
  }
}

/**
 * Server side: collects the responses to one incoming message (and to requests it let in) per port, and
 * sends each port's responses as one message with flush().
 */
export class Replies {
  constructor() {
    this.byPort = new Map();
  }

  ok(port, id, result) {
    // Results that own a buffer (export()) move rather than copy.
    this.add(port, { id, result }, result instanceof Uint8Array ? [result.buffer] : []);
  }

  error(port, id, error) {
    const plain =
      error instanceof OutpostError
        ? error.toJSON()
        : { code: ErrorCode.WORKER_FAILED, message: `Internal error in the Outpost worker: ${error?.message ?? error}` };
    this.add(port, { id, error: plain }, []);
  }

  event(port, name, detail) {
    this.add(port, { event: name, detail }, []);
  }

  add(port, response, transfer) {
    let out = this.byPort.get(port);
    if (!out) this.byPort.set(port, (out = { responses: [], transfer: [] }));
    out.responses.push(response);
    out.transfer.push(...transfer);
  }

  flush() {
    for (const [port, { responses, transfer }] of this.byPort) port.postMessage(responses, transfer);
    this.byPort.clear();
  }
}
