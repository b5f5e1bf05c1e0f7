// The npm package as a user gets it: `npm pack`, install the tarball into a scratch project outside the
// repository, and load it in Chromium twice: unbundled (an import map, files served as installed) and built
// by a bundler (Vite), which must find the worker and the WASM through their new URL(..., import.meta.url).
import { test, expect, chromium } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchOptions } from './browser-options.js';
import { startStaticServer } from './static-server.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8' });

const APP = `
import { open, OutpostError } from 'outpost';
const db = await open('packaged');
await db.exec('CREATE TABLE IF NOT EXISTS t(x)');
await db.exec('INSERT INTO t VALUES (?)', [21]);
let code = null;
try { await db.exec('SELECT * FROM missing'); } catch (e) { code = e instanceof OutpostError ? e.code : String(e); }
const [row] = await db.query('SELECT sum(x) AS total, count(*) AS n FROM t');
window.result = { ...row, code, storage: db.storage };
`;

test.describe.configure({ mode: 'serial', timeout: 120_000 });

let scratch;
test.beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'outpost-pack-'));
  const tarball = npm(['pack', '--pack-destination', scratch], REPO).trim().split('\n').pop();
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  npm(['install', join(scratch, tarball)], scratch);
  writeFileSync(join(scratch, 'app.js'), APP);
  writeFileSync(
    join(scratch, 'unbundled.html'),
    `<!doctype html><meta charset="utf-8"><script type="importmap">{"imports":{"outpost":"/node_modules/outpost/js/index.js"}}</script>` +
      `<script type="module" src="/app.js"></script>`,
  );
  writeFileSync(join(scratch, 'index.html'), `<!doctype html><meta charset="utf-8"><script type="module" src="./app.js"></script>`);
  execFileSync(process.execPath, [join(REPO, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn', '--outDir', 'dist'], {
    cwd: scratch,
    encoding: 'utf8',
  });
});
test.afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function load(root, path) {
  const server = await startStaticServer({ root });
  const profile = mkdtempSync(join(tmpdir(), 'outpost-pack-profile-'));
  const context = await chromium.launchPersistentContext(profile, launchOptions);
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    await page.goto(server.url + path);
    await page.waitForFunction(() => window.result, null, { timeout: 30_000 });
    expect(errors).toEqual([]);
    return { result: await page.evaluate(() => window.result), log: server.log };
  } finally {
    await context.close();
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

test('the installed tarball works unbundled through an import map', async () => {
  const { result, log } = await load(scratch, '/unbundled.html');
  expect(result).toEqual({ total: 21, n: 1, code: 'SQLITE_ERROR', storage: 'opfs' });
  expect(log).toContain('GET /node_modules/outpost/js/engine/outpost-worker.js'); // the bundled worker: one request
  // Fetched once: the page compiles it while the worker starts, and hands the worker the compiled module.
  expect(log.filter((line) => line.endsWith('.wasm'))).toEqual(['GET /node_modules/outpost/js/engine/outpost-engine.wasm']);
});

test('the installed tarball works when bundled by Vite', async () => {
  const { result, log } = await load(join(scratch, 'dist'), '/');
  expect(result).toEqual({ total: 21, n: 1, code: 'SQLITE_ERROR', storage: 'opfs' });
  expect(log.filter((line) => line.endsWith('.wasm'))).toEqual([expect.stringMatching(/^GET \/assets\/.*\.wasm$/)]);
  expect(log.some((line) => line.includes('node_modules'))).toBe(false);
});
