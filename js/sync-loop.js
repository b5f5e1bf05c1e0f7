// The sync transport loop, in the worker: the only place that does network I/O and timers for sync. The C++
// engine (SyncEngine, sans-IO) decides what to do next; this loop asks it (`next`), performs the request
// with fetch and a timeout, hands the outcome back (`onResult`) and sleeps until the engine's wake-up time or
// a hint (a local write, navigator.onLine, db.sync.now(), the service worker's `sync` event).
//
// Invariants:
//  - The engine decides how many requests are in flight: the loop starts every request `next` hands out
//    (with maxInflightPushes > 1, a second push while the first is on its way) and asks again at once; only
//    when the engine has nothing more to start does it wait, for the first answer, the engine's wake-up time
//    or a hint.
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
    this.controllers = new Set();
    this.inflight = new Map(); // requestId → promise of { action, result, ms }; outlives a failed run()
    this.kick = null; // ends the wait for answers when a hint arrives
    this.roundWaiters = [];
    // Where the time of the requests goes (bench/sync.mjs reads it through the `syncProfile` test hook):
    // queued = waiting for the request chain, engine = inside engine calls, events = draining events,
    // fetch = the request, from its start to the whole answer read, wait = the loop waiting for an answer
    // with nothing else to do.
    this.profile = { pushes: 0, queuedMs: 0, nextMs: 0, resultMs: 0, eventsMs: 0, fetchMs: 0, waitMs: 0 };
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
      this.kick?.();
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
    for (const controller of this.controllers) controller.abort();
    this.inflight.clear();
    this.kick?.();
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
          this.send(action);
          continue; // the engine may hand out another request (a pipelined push) at once
        }
        if (this.inflight.size > 0) {
          const waited = performance.now();
          const done = await this.firstAnswer(action);
          this.profile.waitMs += performance.now() - waited;
          if (this.stopped) return;
          if (done) {
            this.inflight.delete(done.action.requestId);
            if (done.action.kind === 'push') {
              this.profile.pushes += 1;
              this.profile.fetchMs += done.ms;
            }
            await this.call((e) => e.syncOnResult(done.action.requestId, done.result, Date.now()), 'resultMs');
          }
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
      // reports the error to whoever made it. Answers still on their way are delivered by that run.
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

  /** Starts a request; its answer is picked up by firstAnswer(). */
  send(action) {
    const t0 = performance.now();
    this.inflight.set(
      action.requestId,
      this.request(action).then((result) => ({ action, result, ms: performance.now() - t0 })),
    );
  }

  /** The first answer of the requests in flight, or null at the engine's wake-up time or on a hint. */
  firstAnswer(action) {
    let timer = null;
    const waits = [...this.inflight.values()];
    waits.push(
      new Promise((resolve) => {
        this.kick = () => resolve(null);
        if (this.again || this.stopped) resolve(null);
        if (action.kind === 'wait') timer = setTimeout(() => resolve(null), Math.max(0, action.wakeAt - Date.now()));
      }),
    );
    return Promise.race(waits).finally(() => {
      clearTimeout(timer);
      this.kick = null;
    });
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
    this.controllers.add(controller);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.requestTimeoutMs);
    const headers = { Accept: 'application/json' };
    if (action.kind !== 'heartbeat' && this.token) headers.Authorization = `Bearer ${this.token}`;
    const init = { method: 'GET', headers, signal: controller.signal, cache: 'no-store', credentials: 'omit' };
    if (action.kind !== 'heartbeat') {
      // POST answers are never taken from the HTTP cache (and the server marks them no-store); without
      // cache: 'no-store' Chromium also keeps the CORS preflight (Access-Control-Max-Age) instead of sending
      // an OPTIONS before every push and pull to a server on another origin.
      delete init.cache;
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
      this.controllers.delete(controller);
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
