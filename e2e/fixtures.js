// Test fixtures for the Outpost e2e suite.
//
//  - `server` (one per Playwright worker): e2e/static-server.mjs serving the repository root on localhost.
//  - `app` (one per test): Debian's Chromium in a *persistent* context on a fresh temporary profile (an
//    incognito context keeps OPFS in memory, so it cannot prove anything about durability), with the
//    harness page (e2e/fixtures/harness.html) open. It can crash a renderer, SIGKILL the whole browser and
//    relaunch the same profile. Uncaught page errors are printed as they happen and fail the test.
//
// The page-side helpers below (openDb, exec, query, ...) go through window.dbs[key] set up by harness.js.
import { test as base, expect, chromium } from '@playwright/test';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchOptions } from './browser-options.js';
import { startStaticServer } from './static-server.mjs';

export { expect };

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const HARNESS_PATH = '/e2e/fixtures/harness.html';

/** Polls `condition` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor(condition, { timeoutMs = 10_000, intervalMs = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Command lines of all live processes, as [pid, argv[]] (zombies skipped). */
export function processes() {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue; // zombie: already dead
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      out.push([Number(entry), argv]);
    } catch {
      /* exited while we looked */
    }
  }
  return out;
}

class App {
  constructor(serverUrl, testInfo) {
    this.serverUrl = serverUrl;
    this.testInfo = testInfo;
    this.profileDir = mkdtempSync(join(tmpdir(), 'outpost-e2e-'));
    this.context = null;
    this.page = null;
    this.pageErrors = [];
    this.expectedErrors = [];
    this.launches = 0;
  }

  get url() {
    return `${this.serverUrl}${HARNESS_PATH}`;
  }

  /** Starts Chromium on this test's profile and opens the harness page. */
  async launch() {
    this.launches++;
    this.context = await chromium.launchPersistentContext(this.profileDir, {
      ...launchOptions,
      // Each launch restores nothing: every page is opened by the test.
      viewport: { width: 800, height: 600 },
    });
    this.contextClosed = new Promise((r) => this.context.once('close', r));
    const first = this.context.pages()[0];
    this.page = first ? await this.preparePage(first) : await this.newPage();
    return this.page;
  }

  /** A new tab in the current context, on the harness page. */
  async newPage() {
    return this.preparePage(await this.context.newPage());
  }

  async preparePage(page) {
    const label = `[page ${this.context.pages().indexOf(page)} / launch ${this.launches}]`;
    page.on('pageerror', (error) => {
      if (this.expectedErrors.some((re) => re.test(String(error)))) return;
      console.error(`${label} uncaught error in page: ${error.stack ?? error}`);
      this.pageErrors.push(String(error));
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error') console.error(`${label} console.error: ${msg.text()}`);
    });
    await page.goto(this.url);
    await page.waitForFunction(() => window.harnessReady === true);
    return page;
  }

  /** Errors matching `re` are expected in this test and do not fail it. */
  allowPageError(re) {
    this.expectedErrors.push(re);
  }

  /** The main browser process: the one with our --user-data-dir and no --type= switch. */
  browserPid() {
    const mine = processes().filter(
      ([, argv]) =>
        argv.some((a) => a === `--user-data-dir=${this.profileDir}`) && !argv.some((a) => a.startsWith('--type=')),
    );
    // The Debian wrapper execs the real binary, so exactly one process is left: /usr/lib/chromium/chromium.
    const real = mine.filter(([, argv]) => argv[0].endsWith('/chromium') && !argv[0].startsWith('/bin'));
    if (real.length !== 1) {
      throw new Error(`Expected one browser process for ${this.profileDir}, found: ${JSON.stringify(mine)}`);
    }
    return real[0][0];
  }

  /** Every process (browser and children) still holding our profile dir on its command line. */
  profileProcesses() {
    return processes().filter(([, argv]) => argv.some((a) => a.includes(this.profileDir)));
  }

  /** SIGKILLs the main browser process (the closest to a power cut software gets) and waits until it is gone. */
  async killBrowser() {
    const pid = this.browserPid();
    process.kill(pid, 'SIGKILL');
    await this.contextClosed;
    await waitFor(() => this.profileProcesses().length === 0, { what: `browser processes of ${this.profileDir} to exit` });
    this.context = null;
    this.page = null;
    return pid;
  }

  /** Crashes the renderer behind `page` (its dedicated workers die with it) and waits for the crash event. */
  async crashPage(page = this.page) {
    const crashed = page.waitForEvent('crash');
    const cdp = await this.context.newCDPSession(page);
    // The session dies with the renderer, so the command itself never gets an answer.
    cdp.send('Page.crash').catch(() => {});
    await crashed;
    await page.close().catch(() => {});
    if (page === this.page) this.page = null;
  }

  /** Relaunches the same profile (after killBrowser(), or closing the browser cleanly if it still runs). */
  async relaunch() {
    if (this.context) {
      await this.context.close();
      this.context = null;
    }
    return this.launch();
  }

  async dispose() {
    if (this.context) await this.context.close().catch(() => {});
    rmSync(this.profileDir, { recursive: true, force: true });
  }
}

export const test = base.extend({
  server: [
    async ({}, use) => {
      const server = await startStaticServer({ root: REPO_ROOT });
      await use(server);
      await server.close();
    },
    { scope: 'worker' },
  ],

  app: async ({ server }, use, testInfo) => {
    const app = new App(server.url, testInfo);
    await app.launch();
    await use(app);
    await app.dispose();
    expect(app.pageErrors, 'uncaught errors in the page').toEqual([]);
  },
});

// ---------------------------------------------------------------------------------------------------------
// Page-side helpers. `key` names the Database in window.dbs (defaults to the database name).

/** open(name, options) in `page`; returns { ok, value: {storage, durability} } or { ok: false, error }. */
export function tryOpen(page, name, options = {}, key = name) {
  return page.evaluate(
    async ({ name, options, key }) =>
      window.settle(async () => {
        const db = await window.outpost.open(name, options);
        window.dbs[key] = db;
        return { storage: db.storage, durability: db.durability };
      }),
    { name, options, key },
  );
}

/** open() that must succeed. */
export async function openDb(page, name, options = {}, key = name) {
  const result = await tryOpen(page, name, options, key);
  if (!result.ok) throw new Error(`open(${name}) failed: ${JSON.stringify(result.error)}`);
  return result.value;
}

/** db.exec in the page; throws (with the error's code) on failure. */
export async function exec(page, key, sql, params) {
  const r = await trySql(page, key, 'exec', sql, params);
  if (!r.ok) throw new Error(`exec failed: ${JSON.stringify(r.error)}`);
  return r.value;
}

/** db.query in the page; throws (with the error's code) on failure. */
export async function query(page, key, sql, params) {
  const r = await trySql(page, key, 'query', sql, params);
  if (!r.ok) throw new Error(`query failed: ${JSON.stringify(r.error)}`);
  return r.value;
}

/** db[method](sql, params) settled: { ok, value } or { ok: false, error }. */
export function trySql(page, key, method, sql, params) {
  return page.evaluate(
    ({ key, method, sql, params }) => window.settle(() => window.dbs[key][method](sql, params)),
    { key, method, sql, params },
  );
}

/** PRAGMA integrity_check as one string ('ok' when healthy). */
export async function integrity(page, key) {
  const rows = await query(page, key, 'PRAGMA integrity_check');
  return rows.map((r) => r.integrity_check).join('\n');
}

/** SELECT count(*) FROM table. */
export async function count(page, key, table) {
  const [row] = await query(page, key, `SELECT count(*) AS n FROM ${table}`);
  return row.n;
}

/** db.close() in the page. */
export function closeDb(page, key) {
  return page.evaluate(async (key) => {
    await window.dbs[key].close();
    delete window.dbs[key];
  }, key);
}

/** Terminates the database's worker from the page, as a crash of the worker alone would. */
export function terminateWorker(page, key) {
  return page.evaluate((key) => {
    window.dbs[key][Symbol.for('outpost.worker')].terminate();
    delete window.dbs[key];
  }, key);
}

/** A unique, valid database name per call. */
let nameCounter = 0;
export function dbName(prefix = 'db') {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${++nameCounter}`;
}

/**
 * Creates t(id INTEGER PRIMARY KEY, v TEXT NOT NULL) and commits `n` rows 'row-1'..'row-n': half in one
 * transaction, the rest as autocommit statements, so both commit paths are covered.
 */
export async function seed(page, key, n) {
  await page.evaluate(
    async ({ key, n }) => {
      const db = window.dbs[key];
      await db.exec('CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
      const half = Math.floor(n / 2);
      await db.transaction(async (tx) => {
        for (let i = 1; i <= half; i++) await tx.exec('INSERT INTO t(id, v) VALUES (?, ?)', [i, `row-${i}`]);
      });
      for (let i = half + 1; i <= n; i++) await db.exec('INSERT INTO t(id, v) VALUES (?, ?)', [i, `row-${i}`]);
    },
    { key, n },
  );
}

/** Asserts that t holds exactly the rows seed(n) wrote (plus `extra` values after them) and the file is sound. */
export async function expectSeeded(page, key, n, extra = []) {
  expect(await integrity(page, key)).toBe('ok');
  const rows = await query(page, key, 'SELECT id, v FROM t ORDER BY id');
  const expected = Array.from({ length: n }, (_, i) => `row-${i + 1}`).concat(extra);
  expect(rows.length).toBe(expected.length);
  expect(rows.map((r) => r.v)).toEqual(expected);
}
