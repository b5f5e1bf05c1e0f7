// Fixtures for the installable demo's suite (e2e/pwa.spec.js).
//
//  - `site` (per test): the built demo (scripts/build-sw.mjs, run once per worker) copied into a temporary
//    directory and served by the real outpost-server (`serve --static DIR --dev-tokens --log FILE`), so the
//    sync API and the app share one origin and the server's request log is the oracle for "zero requests
//    reached the server". A test may rewrite the copy (a new sw.js) without touching the checkout. With
//    `test.use({ siteMode: 'static' })`, or without the server binary (before the native build), it is
//    e2e/static-server.mjs serving the demo at /www/ instead: local-only mode, under a sub-path.
//  - `pwa` (per test): Debian's Chromium on a fresh persistent profile (service workers, OPFS and the
//    installability check all need one); it can SIGKILL the browser and relaunch the same profile.
import { spawn } from 'node:child_process';
import { createServer, request } from 'node:http';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';
import { buildServiceWorker } from '../scripts/build-sw.mjs';
import { launchOptions } from './browser-options.js';
import { expect, processes, test as base, waitFor } from './fixtures.js';
import { startStaticServer } from './static-server.mjs';

export { expect, waitFor };

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const SERVER_BIN = process.env.OUTPOST_SERVER ?? join(REPO_ROOT, 'build/native/server/outpost-server');

/** The demo served by outpost-server from a temporary copy, with its request log. */
class Site {
  constructor(dir) {
    this.dir = dir;
    this.root = join(dir, 'www');
    cpSync(join(REPO_ROOT, 'demo-app'), this.root, { recursive: true, filter: (src) => !src.includes('/demo-app/src') });
    this.logFile = join(dir, 'requests.log');
  }

  /** mode 'sync': outpost-server serving the demo at /; 'static': a plain static server, the demo at /www/. */
  async start(mode) {
    if (mode === 'static' || !existsSync(SERVER_BIN)) {
      this.static = await startStaticServer({ root: this.dir });
      // The static server logs on arrival, in this process: stamp each line as it comes.
      this.staticTimes = [];
      const push = this.static.log.push.bind(this.static.log);
      this.static.log.push = (...lines) => {
        for (const _ of lines) this.staticTimes.push(Date.now());
        return push(...lines);
      };
      this.url = `${this.static.url}/www`;
      this.syncServer = false;
      return;
    }
    // The demo declares `notes` manual (demo-app/src/field-log.js); the server must agree. Until
    // server/demo-schema.json says so itself, the served copy adds it.
    const schema = JSON.parse(readFileSync(join(REPO_ROOT, 'server/demo-schema.json'), 'utf8'));
    schema.tables.records.columnPolicies = { ...schema.tables.records.columnPolicies, notes: 'manual' };
    const schemaFile = join(this.dir, 'schema.json');
    writeFileSync(schemaFile, JSON.stringify(schema));
    const secret = join(this.dir, 'server.secret');
    writeFileSync(secret, 'e2e-secret-'.padEnd(48, '0'), { mode: 0o600 });
    this.process = spawn(
      SERVER_BIN,
      ['serve', '--store', `sqlite:${join(this.dir, 'store.sqlite')}`, '--schema', schemaFile,
        '--secret-file', secret, '--port', '0', '--static', this.root, '--log', this.logFile, '--dev-tokens'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.stderr = '';
    this.process.stderr.on('data', (chunk) => (this.stderr += chunk));
    const port = await waitFor(() => /listening on http:\/\/[^:]+:(\d+)/.exec(this.stderr)?.[1], {
      what: `outpost-server to listen (stderr: ${this.stderr})`,
    });
    this.url = `http://localhost:${port}`;
    this.syncServer = true;
  }

  get origin() {
    return new URL(this.url).origin;
  }

  /** The demo's path prefix: '' at /, '/www' under the static server. */
  get base() {
    return new URL(this.url).pathname.replace(/\/$/, '');
  }

  /** Request log lines, "METHOD /path STATUS" (time, duration and device dropped). */
  requests() {
    return this.log().map((entry) => entry.line);
  }

  /**
   * The requests that reached the server at or after `ms` (Date.now() of the test process). The server logs
   * a request when it has answered it, so a request that arrived before the network was cut may be logged
   * just after: its arrival is the line's time minus its handling time.
   */
  requestsSince(ms) {
    return this.log()
      .filter((entry) => entry.arrivedAt >= ms)
      .map((entry) => entry.line);
  }

  log() {
    if (this.static) return this.static.log.map((line, i) => ({ line, arrivedAt: this.staticTimes[i] }));
    if (!existsSync(this.logFile)) return [];
    return readFileSync(this.logFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((text) => {
        const [time, method, path, status, duration] = text.split(' ');
        return { line: `${method} ${path} ${status}`, arrivedAt: Date.parse(time) - parseFloat(duration) };
      });
  }

  /** Replaces a file of the served copy (e.g. a new sw.js: what a deployment does). */
  write(path, text) {
    writeFileSync(join(this.root, path), text);
  }

  read(path) {
    return readFileSync(join(this.root, path), 'utf8');
  }

  /** A development token straight from the server (what another device would get). */
  async token(device = 'e2e-reader') {
    const res = await fetch(`${this.url}/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'checker', device, scopes: ['field-demo'] }),
    });
    return (await res.json()).token;
  }

  /** The server's rows of `records`, pulled as another device. */
  async serverRecords() {
    const token = await this.token();
    const res = await fetch(`${this.url}/sync/v1/pull?clientId=e2e-reader&limit=1000`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (!res.ok) throw new Error(`pull failed: ${res.status} ${await res.text()}`);
    return (await res.json()).changes ?? [];
  }

  async stop() {
    if (this.static) await this.static.close();
    if (this.process && this.process.exitCode === null) {
      const exited = new Promise((r) => this.process.once('exit', r));
      this.process.kill('SIGTERM');
      await exited;
    }
  }
}


/**
 * The browser's network link: Chromium sends every request, localhost included, through this forwarding
 * proxy, so cutting it cuts the requests DevTools' offline emulation does not see (the browser's own
 * service-worker update checks, favicons). Offline, a connection is reset as soon as a request arrives.
 */
class NetworkLink {
  async start() {
    this.online = true;
    this.sockets = new Set();
    this.inflight = new Set(); // forwarded requests whose answer has not fully come back
    this.server = createServer((req, res) => {
      if (!this.online) {
        req.socket.destroy();
        return;
      }
      let settle;
      const done = new Promise((r) => (settle = r));
      this.inflight.add(done);
      const finish = () => {
        this.inflight.delete(done);
        settle();
      };
      const upstream = request(req.url, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
        answer.on('end', finish);
        answer.on('error', finish);
      });
      upstream.on('error', () => {
        finish();
        req.socket.destroy();
      });
      req.pipe(upstream);
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise((ok) => this.server.listen(0, '127.0.0.1', ok));
    this.port = this.server.address().port;
  }

  /** Offline: refuses new requests, then waits for the answers to the ones already forwarded. */
  async setOnline(online) {
    this.online = online;
    if (online) return;
    await Promise.all(this.inflight);
    for (const socket of this.sockets) socket.destroy();
  }

  close() {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((ok) => this.server.close(() => ok()));
  }
}

/** Chromium on one persistent profile, relaunchable after a kill. */
export class Pwa {
  constructor(site) {
    this.site = site;
    this.profileDir = mkdtempSync(join(tmpdir(), 'outpost-pwa-'));
    this.pageErrors = [];
  }

  async launch({ offline = false } = {}) {
    if (!this.link) {
      this.link = new NetworkLink();
      await this.link.start();
    }
    await this.link.setOnline(!offline);
    this.offlineSince = offline ? Date.now() : null;
    this.context = await chromium.launchPersistentContext(this.profileDir, {
      ...launchOptions,
      // <-loopback>: do not bypass the proxy for localhost, as Chromium does by default.
      args: [...launchOptions.args, `--proxy-server=http://127.0.0.1:${this.link.port}`, '--proxy-bypass-list=<-loopback>'],
      viewport: { width: 900, height: 700 },
      offline,
    });
    this.closed = new Promise((r) => this.context.once('close', r));
    this.page = this.context.pages()[0] ?? (await this.context.newPage());
    this.page.on('pageerror', (error) => {
      console.error(`uncaught error in page: ${error.stack ?? error}`);
      this.pageErrors.push(String(error));
    });
    this.page.on('console', (msg) => {
      if (msg.type() === 'error') console.error(`console.error: ${msg.text()}`);
    });
    return this.page;
  }

  /** Takes the whole browser off the network (offlineSince: when) (DevTools emulation for the pages, the link for the rest). */
  async setOffline(offline) {
    const wasOffline = !this.link.online;
    await this.link.setOnline(!offline);
    if (!offline) this.offlineSince = null;
    else if (!wasOffline) this.offlineSince = Date.now(); // the time the network was cut
    await this.context.setOffline(offline);
  }

  /** Opens the app and waits until its first render (the database is open and the records are listed). */
  async open(page = this.page) {
    await page.goto(`${this.site.url}/`);
    await this.ready(page);
  }

  async ready(page = this.page) {
    await page.waitForSelector('body[data-ready="true"]');
  }

  /** Waits until an activated service worker controls the page (its precache is then complete). */
  async controlled(page = this.page) {
    await page.waitForFunction(() => navigator.serviceWorker.controller?.state === 'activated');
  }

  /** SIGKILLs the browser's main process and waits until every process of the profile is gone. */
  async kill() {
    const mine = processes().filter(
      ([, argv]) => argv.includes(`--user-data-dir=${this.profileDir}`) && !argv.some((a) => a.startsWith('--type=')),
    );
    const real = mine.filter(([, argv]) => argv[0].endsWith('/chromium') && !argv[0].startsWith('/bin'));
    if (real.length !== 1) throw new Error(`Expected one browser process, found ${JSON.stringify(mine)}`);
    process.kill(real[0][0], 'SIGKILL');
    await this.closed;
    await waitFor(() => !processes().some(([, argv]) => argv.some((a) => a.includes(this.profileDir))), {
      what: 'the killed browser to exit',
    });
    this.context = null;
  }

  async dispose() {
    if (this.context) await this.context.close().catch(() => {});
    await this.link?.close();
    rmSync(this.profileDir, { recursive: true, force: true });
  }
}

let built = false;

export const test = base.extend({
  siteMode: ['sync', { option: true }],
  site: async ({ siteMode }, use) => {
    if (!built) {
      await buildServiceWorker({ quiet: true });
      built = true;
    }
    const site = new Site(mkdtempSync(join(tmpdir(), 'outpost-site-')));
    await site.start(siteMode);
    await use(site);
    await site.stop();
    rmSync(site.dir, { recursive: true, force: true });
  },
  pwa: async ({ site }, use) => {
    const pwa = new Pwa(site);
    await pwa.launch();
    await use(pwa);
    await pwa.dispose();
    expect(pwa.pageErrors, 'uncaught errors in the page').toEqual([]);
  },
});
