// The sync transport loop, in the worker: the only place that does network I/O and timers for sync. The C++
// engine (SyncEngine, sans-IO) decides what to do next; this loop asks it (`next`), performs the request
// with fetch and a timeout, hands the outcome back (`onResult`) and sleeps until the engine's wake-up time or
// a hint (a local write, navigator.onLine, db.sync.now(), the service worker's `sync` event).
//
// Invariants:
//  - One request at a time: the engine never has two requests in flight from this loop.
//  - Every engine call runs through `runEngine`, which the worker server serialises with user requests and
//    keeps out of open user transactions (an outbox claim must never join the app's transaction).
//  - A request's outcome always reaches the engine, success or not (fetch failure, timeout, abort), so no
//    operation stays `inflight` because of the loop; a worker killed mid-request is covered by the engine's
//    requeue-on-open.

const ENDPOINT = { push: '/sync/v1/push', pull: '/sync/v1/pull', heartbeat: '/sync/v1/health' };

export class SyncLoop {
  /**
   * @param {object} o
   * @param {string} o.url            base URL of the sync server
   * @param {string|undefined} o.token bearer token
   * @param {number} o.requestTimeoutMs
   * @param {(fn: () => any) => Promise<any>} o.runEngine  runs an engine call when no user transaction is open
   * @param {object} o.engine         EngineDatabase with the sync* methods
   * @param {() => void} o.afterEngine called after every engine call (events are drained there)
   */
  constructor({ url, token, requestTimeoutMs, runEngine, engine, afterEngine }) {
    this.base = url.replace(/\/+$/, '');
    this.token = token;
    this.requestTimeoutMs = requestTimeoutMs;
    this.runEngine = runEngine;
    this.engine = engine;
    this.afterEngine = afterEngine;
    this.timer = null;
    this.running = false;
    this.again = false;
    this.stopped = false;
    this.controller = null;
    this.roundWaiters = [];
    // Where the time of the requests goes (bench/sync.mjs reads it through the `syncProfile` test hook):
    // queued = waiting for the request chain, engine = inside engine calls, events = draining events,
    // fetch = the request, from its start to the whole answer read.
    this.profile = { pushes: 0, queuedMs: 0, nextMs: 0, resultMs: 0, eventsMs: 0, fetchMs: 0 };
    this.onOnline = () => this.hint(true);
    this.onOffline = () => this.hint(false);
    globalThis.addEventListener?.('online', this.onOnline);
    globalThis.addEventListener?.('offline', this.onOffline);
  }

  start() {
    if (typeof navigator !== 'undefined' && navigator.onLine === false) this.hint(false);
    this.wake();
  }

  /** Runs the loop soon (coalesced): after local writes and hints. */
  wake() {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), 0);
  }

  hint(online) {
    this.call((e) => e.syncHint(online, Date.now())).then(() => this.wake(), () => {});
  }

  /** db.sync.now(): resets backoff, probes at once; resolves when this round has nothing left to do now. */
  now() {
    const done = new Promise((resolve) => this.roundWaiters.push(resolve));
    this.call((e) => e.syncNow(Date.now())).then(() => this.wake(), () => {});
    return done;
  }

  setToken(token) {
    this.token = token;
    return this.call((e) => e.syncSetToken(Boolean(token))).then(() => this.wake());
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.controller?.abort();
    globalThis.removeEventListener?.('online', this.onOnline);
    globalThis.removeEventListener?.('offline', this.onOffline);
    this.settleRound();
  }

  call(fn, phase) {
    const queued = performance.now();
    return this.runEngine(() => {
      const t0 = performance.now();
      try {
        return fn(this.engine);
      } finally {
        const t1 = performance.now();
        this.afterEngine();
        if (phase) {
          const p = this.profile;
          p.queuedMs += t0 - queued;
          p[phase] += t1 - t0;
          p.eventsMs += performance.now() - t1;
        }
      }
    });
  }

  async run() {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      for (;;) {
        this.again = false;
        const action = await this.call((e) => e.syncNext(Date.now()), 'nextMs');
        if (this.stopped) return;
        if (action.kind === 'push' || action.kind === 'pull' || action.kind === 'heartbeat') {
          const t0 = performance.now();
          const result = await this.request(action);
          if (action.kind === 'push') {
            this.profile.pushes += 1;
            this.profile.fetchMs += performance.now() - t0;
          }
          if (this.stopped) return;
          await this.call((e) => e.syncOnResult(action.requestId, result, Date.now()), 'resultMs');
          continue;
        }
        if (this.again) continue; // a hint arrived while we were deciding: ask again
        this.settleRound();
        if (action.kind === 'wait') {
          clearTimeout(this.timer);
          this.timer = setTimeout(() => this.run(), Math.max(0, action.wakeAt - Date.now()));
        }
        return; // idle: a write or a hint wakes us
      }
    } catch (error) {
      // An engine failure (e.g. the database was closed): retry later rather than spin; the next call
      // reports the error to whoever made it.
      if (!this.stopped) {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.run(), 1000);
      }
      this.settleRound();
      if (error?.code !== 'DB_CLOSED') console.warn('[outpost] sync loop:', error);
    } finally {
      this.running = false;
      if (this.again && !this.stopped) this.wake();
    }
  }

  settleRound() {
    const waiters = this.roundWaiters;
    this.roundWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Performs one request; never throws: failures become a result with httpStatus 0. */
  async request(action) {
    const started = performance.now();
    const controller = new AbortController();
    this.controller = controller;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.requestTimeoutMs);
    const headers = { Accept: 'application/json' };
    if (action.kind !== 'heartbeat' && this.token) headers.Authorization = `Bearer ${this.token}`;
    const init = { method: 'GET', headers, signal: controller.signal, cache: 'no-store', credentials: 'omit' };
    if (action.kind !== 'heartbeat') {
      init.method = 'POST';
      headers['Content-Type'] = 'application/json';
      init.body = action.body;
    }
    try {
      const response = await fetch(this.base + ENDPOINT[action.kind], init);
      const body = await response.text();
      return {
        httpStatus: response.status,
        timedOut: false,
        body,
        retryAfterMs: retryAfterMs(response.headers.get('Retry-After')),
        latencyMs: Math.round(performance.now() - started),
      };
    } catch {
      return { httpStatus: 0, timedOut, body: '', retryAfterMs: null, latencyMs: Math.round(performance.now() - started) };
    } finally {
      clearTimeout(timer);
      this.controller = null;
    }
  }
}

/** Retry-After is seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(header) {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}
