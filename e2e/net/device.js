// One simulated device of the network suite: Debian's Chromium on its own persistent profile (OPFS must
// survive a killed browser), the harness page loaded from the lossy proxy's origin (so the page and the sync
// API share an origin and every sync request crosses the proxy), a NetworkShaper on its targets, and the
// crash kinds of issue 7 (worker.terminate(), renderer crash, SIGKILL of the browser) with the recovery that
// follows each.
//
// The workload is the oracle's raw material. Each write is one transaction that upserts a shared record
// (title and `updated` last-writer-wins, `quantity` a counter incremented by 1), inserts an immutable event
// row `<device>-<seq>` and, optionally, queues a custom operation for the record's audit entity. The page
// reports each write whose commit promise resolved through a binding, so the ledger survives the page.
import { chromium } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchOptions } from '../browser-options.js';
import { processes, waitFor as waitForBase } from '../fixtures.js';
import { NetworkShaper, PROFILES, conditions } from './profiles.js';

export const HARNESS_PATH = '/e2e/fixtures/harness.html';

/** The synced tables on each device, created before sync starts so their capture triggers exist. */
export const DEVICE_SCHEMA = `
  CREATE TABLE IF NOT EXISTS records(id TEXT PRIMARY KEY, title TEXT, notes TEXT, status TEXT,
    quantity INTEGER NOT NULL DEFAULT 0, updated INTEGER, project TEXT);
  CREATE TABLE IF NOT EXISTS events(id TEXT PRIMARY KEY, device TEXT, entity TEXT, seq INTEGER, project TEXT)`;

/** The server's schema for the same tables (server/demo-schema.json plus the event log). */
export const SERVER_SCHEMA = {
  records: {
    key: ['id'],
    columns: ['title', 'notes', 'status', 'quantity', 'updated', 'project'],
    scopeColumn: 'project',
    policy: 'lww',
    columnPolicies: { quantity: 'counter' },
  },
  events: { key: ['id'], columns: ['device', 'entity', 'seq', 'project'], scopeColumn: 'project' },
};

export const TRACKED_TABLES = {
  records: { primaryKey: 'id', columns: { quantity: 'counter' } },
  events: { primaryKey: 'id' },
};

export const CRASH_KINDS = ['terminate', 'renderer', 'sigkill'];


/** fixtures.js's waitFor with this suite's longer default (devices recover from crashes under load). */
export function waitFor(condition, { timeoutMs = 20_000, intervalMs = 50, what = 'condition' } = {}) {
  return waitForBase(condition, { timeoutMs, intervalMs, what });
}

/** Page-side helpers, installed in every page of the context before the harness runs. */
function pageHelpers() {
  const UPSERT =
    'INSERT INTO records(id, title, quantity, updated, project) VALUES (?, ?, 1, ?, ?) ' +
    'ON CONFLICT(id) DO UPDATE SET title = excluded.title, quantity = quantity + 1, updated = excluded.updated';
  const EVENT = 'INSERT INTO events(id, device, entity, seq, project) VALUES (?, ?, ?, ?, ?)';
  const statements = (tx, w) => [
    tx.exec(UPSERT, [w.entity, `${w.device}#${w.seq}`, w.seq, 'p1']),
    tx.exec(EVENT, [`${w.device}-${w.seq}`, w.device, w.entity, w.seq, 'p1']),
    w.audit ? tx.enqueue({ kind: 'audit.log', entity: `audit/${w.entity}`, payload: { device: w.device, seq: w.seq } }) : null,
  ];
  window.e2e = {
    /** One workload transaction; reports it once its commit promise resolved. */
    async write(key, w) {
      await window.dbs[key].transaction(async (tx) => {
        await Promise.all(statements(tx, w));
      });
      window.e2eCommitted(w);
    },
    /** Runs the statements of a write and then never finishes the transaction (a crash will). */
    holdOpen(key, w) {
      window.dbs[key]
        .transaction(async (tx) => {
          await Promise.all(statements(tx, w));
          window.e2eInTransaction(w);
          await new Promise(() => {});
        })
        .catch(() => {});
    },
    /** Writes `plan` in order in the background, `gapMs` apart; stops at the first failure (a crash). */
    startWriter(key, plan, gapMs) {
      (async () => {
        for (const w of plan) {
          try {
            await window.e2e.write(key, w);
          } catch (error) {
            window.e2eWriterStopped({ at: w.seq, error: String(error?.code ?? error) });
            return;
          }
          if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
        }
        window.e2eWriterStopped({ at: null, error: null });
      })();
    },
    /** Fires all writes at once (they queue in the worker): commits race a crash. */
    burst(key, plan) {
      for (const w of plan) window.e2e.write(key, w).catch(() => {});
    },
    async snapshot(key) {
      const db = window.dbs[key];
      return {
        records: await db.query('SELECT id, title, notes, status, quantity, updated, project FROM records ORDER BY id'),
        events: await db.query('SELECT id, device, entity, seq, project FROM events ORDER BY id'),
        integrity: (await db.query('PRAGMA integrity_check')).map((r) => r.integrity_check).join('\n'),
        stats: await db.outbox.stats(),
        failed: await db.outbox.list({ state: 'failed', limit: 50 }),
        status: db.sync.status,
      };
    },
  };
}

export class Device {
  /**
   * @param {object} o
   * @param {string} o.name       device id (the token's device and the sync clientId)
   * @param {string} o.origin     where the harness and the sync API are served (the proxy)
   * @param {string} o.token      device token
   * @param {object} [o.sync]     extra sync options (batchSize, retry, requestTimeoutMs, ...)
   */
  constructor({ name, origin, token, sync = {} }) {
    this.name = name;
    this.origin = origin;
    this.token = token;
    this.syncExtra = sync;
    this.dbName = 'field';
    this.profileDir = mkdtempSync(join(tmpdir(), `outpost-net-${name}-`));
    this.shaper = new NetworkShaper(name);
    this.context = null;
    this.page = null;
    this.launches = 0;
    this.prepared = false;
    /** Writes whose commit promise resolved, in resolution order. */
    this.committed = [];
    /** Writes whose statements ran inside a transaction held open for a crash. */
    this.inTransaction = [];
    this.opFailed = [];
    this.pageErrors = [];
    this.writerDone = null;
    this.crashing = false;
  }

  get syncOptions() {
    return {
      url: this.origin,
      token: this.token,
      clientId: this.name, // the server requires the token's device here
      tables: TRACKED_TABLES,
      retry: { baseMs: 200, capMs: 2000 },
      requestTimeoutMs: 4000,
      ...this.syncExtra,
    };
  }

  async launch() {
    this.launches++;
    this.context = await chromium.launchPersistentContext(this.profileDir, { ...launchOptions, viewport: { width: 640, height: 480 } });
    this.contextClosed = new Promise((r) => this.context.once('close', r));
    await this.context.exposeBinding('e2eCommitted', (_, w) => this.committed.push(w));
    await this.context.exposeBinding('e2eInTransaction', (_, w) => this.inTransaction.push(w));
    await this.context.exposeBinding('e2eOpFailed', (_, e) => this.opFailed.push(e));
    await this.context.exposeBinding('e2eWriterStopped', (_, r) => this.writerStopped?.(r));
    await this.context.addInitScript(pageHelpers);
    this.page = await this.preparePage(this.context.pages()[0] ?? (await this.context.newPage()));
    return this.page;
  }

  async preparePage(page) {
    const label = `[${this.name} launch ${this.launches}]`;
    page.on('pageerror', (error) => {
      if (this.crashing) return;
      console.error(`${label} uncaught error: ${error.stack ?? error}`);
      this.pageErrors.push(String(error));
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !this.crashing) console.error(`${label} console.error: ${msg.text()}`);
    });
    await page.goto(`${this.origin}${HARNESS_PATH}`);
    await page.waitForFunction(() => window.harnessReady === true);
    await this.shaper.attach(this.context, page);
    return page;
  }

  /** Opens the synced database in the current page (creating the tables on first use). */
  async open({ paused = false } = {}) {
    if (!this.prepared) {
      await this.page.evaluate(
        async ({ name, schema }) => {
          const db = await window.outpost.open(name);
          await db.exec(schema);
          await db.close();
        },
        { name: this.dbName, schema: DEVICE_SCHEMA },
      );
      this.prepared = true;
    }
    const r = await this.page.evaluate(
      ({ name, sync }) =>
        window.settle(async () => {
          const db = await window.outpost.open(name, { sync });
          window.dbs[name] = db;
          db.on('op-failed', (e) => window.e2eOpFailed(e));
        }),
      { name: this.dbName, sync: { ...this.syncOptions, paused } },
    );
    if (!r.ok) throw new Error(`${this.name}: open with sync failed: ${JSON.stringify(r.error)}`);
  }

  /** Calls db[ns][method](...args) in the page; throws with the OutpostError's code on failure. */
  async call(path, ...args) {
    const r = await this.page.evaluate(
      ({ key, path, args }) =>
        window.settle(() => {
          const [ns, method] = path.split('.');
          const target = method ? window.dbs[key][ns] : window.dbs[key];
          return target[method ?? ns](...args);
        }),
      { key: this.dbName, path, args },
    );
    if (!r.ok) throw new Error(`${this.name}: ${path} failed: ${JSON.stringify(r.error)}`);
    return r.value;
  }

  write(w) {
    return this.page.evaluate(({ key, w }) => window.e2e.write(key, w), { key: this.dbName, w });
  }

  /** Starts writing `plan` in the page; `writerDone` resolves with { at, error } when it stops. */
  startWriter(plan, gapMs = 0) {
    this.writerDone = new Promise((r) => (this.writerStopped = r));
    return this.page.evaluate(({ key, plan, gapMs }) => window.e2e.startWriter(key, plan, gapMs), { key: this.dbName, plan, gapMs });
  }

  burst(plan) {
    return this.page.evaluate(({ key, plan }) => window.e2e.burst(key, plan), { key: this.dbName, plan });
  }

  holdOpen(w) {
    return this.page.evaluate(({ key, w }) => window.e2e.holdOpen(key, w), { key: this.dbName, w });
  }

  snapshot() {
    return this.page.evaluate((key) => window.e2e.snapshot(key), this.dbName);
  }

  /** The main browser process: ours by --user-data-dir, without --type=, the real binary behind the wrapper. */
  browserPid() {
    const mine = processes().filter(
      ([, argv]) => argv.includes(`--user-data-dir=${this.profileDir}`) && !argv.some((a) => a.startsWith('--type=')),
    );
    const real = mine.filter(([, argv]) => argv[0].endsWith('/chromium') && !argv[0].startsWith('/bin'));
    if (real.length !== 1) throw new Error(`${this.name}: expected one browser process, found ${JSON.stringify(mine)}`);
    return real[0][0];
  }

  /**
   * Crashes the device: 'terminate' kills the database worker only (worker.terminate()), 'renderer' crashes
   * the page's renderer (its dedicated worker dies with it), 'sigkill' kills the whole browser.
   */
  async crash(kind) {
    this.crashing = true;
    if (kind === 'terminate') {
      await this.page.evaluate((key) => {
        window.dbs[key][Symbol.for('outpost.worker')].terminate();
        delete window.dbs[key];
      }, this.dbName);
    } else if (kind === 'renderer') {
      const crashed = this.page.waitForEvent('crash');
      const cdp = await this.context.newCDPSession(this.page);
      cdp.send('Page.crash').catch(() => {}); // the session dies with the renderer: no answer comes
      await crashed;
      await this.page.close().catch(() => {});
      this.shaper.detach();
      this.page = null;
    } else if (kind === 'sigkill') {
      process.kill(this.browserPid(), 'SIGKILL');
      await this.contextClosed;
      await waitFor(() => !processes().some(([, argv]) => argv.some((a) => a.includes(this.profileDir))), {
        what: `${this.name}'s browser processes to exit`,
      });
      this.shaper.detach();
      this.context = null;
      this.page = null;
    } else {
      throw new Error(`unknown crash kind ${kind}`);
    }
  }

  /**
   * Brings the device back after crash(kind): a new worker, a new page, or a relaunched browser. The database
   * opens paused and online (the harness has no service worker to serve the worker script offline, as an
   * installed app would), then the device's network state comes back and sync resumes: no request leaves
   * before the profile and the offline state are in place again.
   */
  async recover(kind) {
    this.shaper.override = conditions(PROFILES.fast, false);
    if (kind === 'renderer') this.page = await this.preparePage(await this.context.newPage());
    if (kind === 'sigkill') await this.launch();
    this.crashing = false;
    await this.shaper.setOverride('fast', false);
    await this.open({ paused: true });
    await this.shaper.clearOverride(); // what the scenario asked for meanwhile (an offline window may have ended)
    await this.call('sync.resume');
  }

  /**
   * Pushes and pulls until nothing is pending (db.sync.now() rounds); returns the last status. Used after the
   * network settled; the caller bounds it.
   */
  async drain({ timeoutMs = 60_000 } = {}) {
    return waitFor(
      async () => {
        const status = await this.call('sync.now');
        return status && status.pending === 0 ? status : null;
      },
      { timeoutMs, intervalMs: 100, what: `${this.name}'s outbox to drain` },
    );
  }

  async dispose() {
    await this.shaper.stopFlapping().catch(() => {});
    if (this.context) await this.context.close().catch(() => {});
    this.context = null;
    rmSync(this.profileDir, { recursive: true, force: true });
  }
}
