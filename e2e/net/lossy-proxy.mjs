// A lossy HTTP proxy on loopback between the browser and outpost-server. CDP can throttle HTTP but cannot lose
// it (packetLoss is WebRTC only, ../shared/reference/e2e-testing.md §1), so the faults a real satellite link or
// tunnel produces are made here: requests reset before they reach the server, responses lost after the server
// applied the batch, truncated bodies, delays, 500 / 503 + Retry-After / 429, answers slower than the client's
// timeout. Each sync request draws its fate from a seeded PRNG; every fault is logged with the request so a
// failing test can print the schedule that reproduces it.
//
// The proxy is also the suite's wire-level witness: it parses every push (operation ids, rows, deltas) and
// every push answer (per-operation status), counts bytes per endpoint, and offers interception points
// (request read, upstream answered, answer delivered) where a test can hold a request and crash the client.
import { createServer, request as httpRequest, Agent } from 'node:http';
import { gunzipSync, brotliDecompressSync, inflateSync } from 'node:zlib';
import { prng } from './random.js';

/** What an injected fault does, in the order of the request's life. */
export const FAULT_KINDS = [
  'drop-request', // the connection is reset before anything reaches the server
  'delay', // forwarded after a pause (within the client's timeout)
  'http-500', // answered 500 INTERNAL without reaching the server
  'http-503', // answered 503 UNAVAILABLE with Retry-After, without reaching the server
  'http-429', // answered 429 RATE_LIMITED with Retry-After, without reaching the server
  'lose-response', // forwarded and applied by the server, then the client's connection is reset
  'truncate-response', // forwarded and applied; the client gets the headers and half the body, then a reset
  'slow-response', // forwarded and applied; the answer is held past the client's timeout
];

/** The default mix of faults within the faulty share: loss dominates, as on a real lossy link. */
export const DEFAULT_MIX = {
  'drop-request': 25,
  'lose-response': 25,
  'truncate-response': 10,
  delay: 15,
  'http-500': 7,
  'http-503': 7,
  'http-429': 6,
  'slow-response': 5,
};

const ERRORS = {
  'http-500': [500, 'INTERNAL'],
  'http-503': [503, 'UNAVAILABLE'],
  'http-429': [429, 'RATE_LIMITED'],
};

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer']);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The endpoint a path belongs to, for byte and fault accounting. */
export function endpointOf(path) {
  if (path.startsWith('/sync/v1/push')) return 'push';
  if (path.startsWith('/sync/v1/pull')) return 'pull';
  if (path.startsWith('/sync/v1/health')) return 'health';
  return 'other';
}

/** The device named in a bearer token (the claims are readable; only the server checks the MAC). */
function deviceOf(authorization) {
  const m = /^Bearer ot1\.([A-Za-z0-9_-]+)\./.exec(authorization ?? '');
  if (!m) return '-';
  try {
    return JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8')).dev ?? '-';
  } catch {
    return '-';
  }
}

function decodeBody(body, encoding) {
  if (!body.length) return '';
  if (encoding === 'gzip') return gunzipSync(body).toString('utf8');
  if (encoding === 'br') return brotliDecompressSync(body).toString('utf8');
  if (encoding === 'deflate') return inflateSync(body).toString('utf8');
  return body.toString('utf8');
}

function headerBytes(rawHeaders) {
  let n = 2; // the blank line
  for (let i = 0; i < rawHeaders.length; i += 2) n += rawHeaders[i].length + rawHeaders[i + 1].length + 4;
  return n;
}

export class LossyProxy {
  /**
   * @param {object} o
   * @param {string} o.upstream       the server's base URL (http://127.0.0.1:port)
   * @param {number} o.seed           seeds the fault draws
   * @param {number} [o.share]        share of sync requests that get a fault, 0..1
   * @param {object} [o.mix]          weights of the fault kinds within that share
   * @param {number} [o.clientTimeoutMs] the client's request timeout: slow-response holds the answer past it
   * @param {[number, number]} [o.delayMs] range of the 'delay' fault
   */
  constructor({ upstream, seed, share = 0, mix = DEFAULT_MIX, clientTimeoutMs = 5000, delayMs = [200, 2000] }) {
    this.upstream = new URL(upstream);
    this.seed = seed;
    this.random = prng(seed).fork('proxy');
    this.share = share;
    this.mix = mix;
    this.clientTimeoutMs = clientTimeoutMs;
    this.delayMs = delayMs;
    this.down = false;
    this.agent = new Agent({ keepAlive: true, maxSockets: 64 });
    this.server = null;
    this.started = Date.now();
    this.sockets = new Set();
    this.hooks = [];
    this.reset();
  }

  /** Clears the counters, the fault log and the operation ledger (e.g. between the phases of a measurement). */
  reset() {
    this.n = 0;
    /** Every sync request: { n, atMs, method, path, endpoint, device, fault, status, bytesUp, bytesDown, ops }. */
    this.log = [];
    /** Operation id -> { device, op (as pushed), deliveries, statuses: [status of each answer the proxy saw] }. */
    this.ops = new Map();
    this.anomalies = [];
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = 0) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error) => {
        this.anomalies.push(`proxy error on ${req.method} ${req.url}: ${error.stack ?? error}`);
        req.socket.destroy();
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.keepAliveTimeout = 30_000;
    await new Promise((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = this.server.address().port;
    return this;
  }

  async close() {
    for (const hook of this.hooks) hook.release({});
    this.hooks = [];
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server?.close(resolve) ?? resolve());
    this.agent.destroy();
  }

  /** Changes the faulty share and mix from now on (a profile switch). */
  configure({ share = this.share, mix = this.mix, clientTimeoutMs = this.clientTimeoutMs } = {}) {
    this.share = share;
    this.mix = mix;
    this.clientTimeoutMs = clientTimeoutMs;
  }

  /** While down, every sync request is reset at once, as an unreachable host would be (the server keeps its state). */
  setDown(down) {
    this.down = down;
  }

  /**
   * Holds the next sync request matching `endpoint` (and `when(ctx)`) at `stage`: 'request' (body read, not
   * forwarded), 'applied' (the server answered, the client has nothing yet) or 'responded' (the answer was
   * written). `reached` resolves with the request's context; `release({ drop })` lets it continue, or resets
   * the client's connection when `drop` is set. Without `hold`, the request only reports and continues.
   */
  intercept({ stage, endpoint = 'push', when = () => true, hold = true }) {
    let release;
    const gate = new Promise((r) => (release = r));
    let reach;
    const reached = new Promise((r) => (reach = r));
    const hook = { stage, endpoint, when, hold, gate, reach, release, used: false };
    this.hooks.push(hook);
    return {
      reached,
      release: (how = {}) => release(how),
      cancel: () => {
        hook.used = true;
        release({});
      },
    };
  }

  async checkpoint(stage, ctx, req) {
    const hook = this.hooks.find((h) => !h.used && h.stage === stage && h.endpoint === ctx.endpoint && h.when(ctx));
    if (!hook) return true;
    hook.used = true;
    hook.reach(ctx);
    if (!hook.hold) return true;
    const how = await hook.gate;
    if (how.drop) {
      ctx.fault = ctx.fault ?? `dropped at ${stage} by the test`;
      req.socket.resetAndDestroy();
      return false;
    }
    return true;
  }

  async handle(req, res) {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const path = new URL(req.url, 'http://x').pathname;
    const endpoint = endpointOf(path);
    if (endpoint === 'other') return this.forward(req, res, body, null);

    const ctx = {
      n: ++this.n,
      atMs: Date.now() - this.started,
      method: req.method,
      path,
      endpoint,
      device: deviceOf(req.headers.authorization),
      fault: null,
      status: null,
      bytesUp: req.method.length + req.url.length + 11 + headerBytes(req.rawHeaders) + body.length,
      bodyUp: body.length,
      bytesDown: 0,
      bodyDown: 0,
      ops: 0,
    };
    this.log.push(ctx);
    if (endpoint === 'push') this.notePush(ctx, body);

    // Three draws per request whatever happens, so one request's fate never shifts the next one's.
    const roll = this.random();
    const which = this.random();
    const param = this.random();
    if (this.down) {
      ctx.fault = 'server-unreachable';
      req.socket.resetAndDestroy();
      return;
    }
    if (!(await this.checkpoint('request', ctx, req))) return;
    const fault = roll < this.share ? pickWeighted(this.mix, which) : null;
    ctx.fault = fault;

    if (fault === 'drop-request') {
      req.socket.resetAndDestroy();
      return;
    }
    if (ERRORS[fault]) {
      const [status, code] = ERRORS[fault];
      const headers = { 'Content-Type': 'application/json' };
      if (status !== 500) headers['Retry-After'] = String(1 + Math.floor(param * 2));
      ctx.retryAfter = headers['Retry-After'];
      const text = JSON.stringify({ error: { code, message: `Injected by the lossy proxy (request ${ctx.n}).` } });
      return this.reply(req, res, ctx, status, headers, Buffer.from(text));
    }
    if (fault === 'delay') {
      ctx.delayMs = Math.round(this.delayMs[0] + param * (this.delayMs[1] - this.delayMs[0]));
      await sleep(ctx.delayMs);
    }
    return this.forward(req, res, body, ctx);
  }

  /** Sends the request upstream and answers (or loses, truncates, stalls) the response. */
  async forward(req, res, body, ctx) {
    let upstream;
    try {
      upstream = await this.sendUpstream(req, body);
    } catch (error) {
      // The server is down (restarting, killed): the client sees a reset, as it would without a proxy.
      if (ctx) ctx.fault = ctx.fault ? `${ctx.fault}+upstream-down` : 'upstream-down';
      req.socket.resetAndDestroy();
      return;
    }
    if (!ctx) {
      res.writeHead(upstream.status, { ...upstream.headers, 'content-length': String(upstream.body.length) });
      res.end(upstream.body);
      return;
    }
    ctx.status = upstream.status;
    if (ctx.endpoint === 'push' && upstream.status === 200) this.notePushAnswer(ctx, upstream);
    if (!(await this.checkpoint('applied', ctx, req))) return;

    if (ctx.fault === 'lose-response') {
      req.socket.resetAndDestroy();
      return;
    }
    if (ctx.fault === 'slow-response') {
      await sleep(this.clientTimeoutMs + 1000);
      if (req.socket.destroyed) return; // the client gave up, as intended
    }
    if (ctx.fault === 'truncate-response') {
      const half = upstream.body.subarray(0, Math.floor(upstream.body.length / 2));
      res.writeHead(upstream.status, { ...upstream.headers, 'content-length': String(upstream.body.length) });
      res.flushHeaders();
      ctx.bytesDown += 15 + headerBytes(Object.entries(upstream.headers).flat().map(String));
      ctx.bodyDown += half.length;
      ctx.bytesDown += half.length;
      res.write(half, () => setTimeout(() => req.socket.resetAndDestroy(), 20));
      return;
    }
    await this.reply(req, res, ctx, upstream.status, upstream.headers, upstream.body);
  }

  reply(req, res, ctx, status, headers, body) {
    headers = { ...headers, 'content-length': String(body.length) };
    ctx.status = ctx.status ?? status;
    ctx.bodyDown = body.length;
    ctx.bytesDown = 15 + headerBytes(Object.entries(headers).flat().map(String)) + body.length;
    return new Promise((resolve) => {
      res.writeHead(status, headers);
      res.end(body, () => resolve(this.checkpoint('responded', ctx, req)));
    });
  }

  sendUpstream(req, body) {
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
    headers.host = this.upstream.host;
    headers['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const up = httpRequest(
        { host: this.upstream.hostname, port: this.upstream.port, method: req.method, path: req.url, headers, agent: this.agent },
        async (response) => {
          const parts = [];
          try {
            for await (const part of response) parts.push(part);
          } catch (error) {
            reject(error);
            return;
          }
          const out = {};
          for (const [k, v] of Object.entries(response.headers)) if (!HOP_BY_HOP.has(k) && k !== 'content-length') out[k] = v;
          resolve({ status: response.statusCode, headers: out, body: Buffer.concat(parts) });
        },
      );
      up.on('error', reject);
      up.end(body);
    });
  }

  notePush(ctx, body) {
    let message;
    try {
      message = JSON.parse(decodeBody(body, undefined));
    } catch {
      this.anomalies.push(`request ${ctx.n}: push body is not JSON`);
      return;
    }
    ctx.ops = message.ops?.length ?? 0;
    ctx.opIds = (message.ops ?? []).map((op) => op.id);
    for (const op of message.ops ?? []) {
      const seen = this.ops.get(op.id);
      if (seen) {
        seen.deliveries++;
        if (JSON.stringify(seen.op) !== JSON.stringify(op)) {
          this.anomalies.push(`operation ${op.id} was re-sent with different content (request ${ctx.n})`);
        }
      } else {
        this.ops.set(op.id, { device: message.clientId, op, deliveries: 1, statuses: [] });
      }
    }
  }

  notePushAnswer(ctx, upstream) {
    let answer;
    try {
      answer = JSON.parse(decodeBody(upstream.body, upstream.headers['content-encoding']));
    } catch {
      this.anomalies.push(`request ${ctx.n}: push answer is not JSON`);
      return;
    }
    (answer.results ?? []).forEach((result, i) => {
      const entry = this.ops.get(result.id ?? ctx.opIds?.[i]);
      if (!entry) return;
      entry.statuses.push(result.status === 'duplicate' ? `duplicate:${result.original?.status}` : result.status);
      if (result.status === 'applied') {
        if (entry.appliedVersion !== undefined) {
          this.anomalies.push(`operation ${result.id} was applied twice (versions ${entry.appliedVersion} and ${result.version})`);
        }
        entry.appliedVersion = result.version;
      }
    });
  }

  /** The injected faults, one line each: what a failing test prints to reproduce its run. */
  schedule() {
    return this.log
      .filter((c) => c.fault)
      .map((c) => `#${c.n} +${c.atMs}ms ${c.device} ${c.method} ${c.path} -> ${c.fault}` +
        (c.delayMs ? ` ${c.delayMs}ms` : '') + (c.retryAfter ? ` Retry-After ${c.retryAfter}` : '') + (c.ops ? ` (${c.ops} ops)` : ''));
  }

  /** Requests, faults and bytes per endpoint. */
  totals() {
    const t = {};
    for (const c of this.log) {
      const e = (t[c.endpoint] ??= { requests: 0, faults: 0, bytesUp: 0, bytesDown: 0, bodyUp: 0, bodyDown: 0, ops: 0 });
      e.requests++;
      if (c.fault) e.faults++;
      e.bytesUp += c.bytesUp;
      e.bytesDown += c.bytesDown;
      e.bodyUp += c.bodyUp;
      e.bodyDown += c.bodyDown;
      e.ops += c.ops;
    }
    return t;
  }
}

function pickWeighted(weights, x) {
  const entries = Object.entries(weights).filter(([, w]) => w > 0);
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let left = x * total;
  for (const [name, w] of entries) if ((left -= w) < 0) return name;
  return entries[entries.length - 1][0];
}
