// Sync benchmark (issue 3's targets), one command, one persistent Chromium profile:
//   node bench/sync.mjs        BENCH_N=2000 capture transactions per case (4x at relaxed), BENCH_ROUNDS=3, BENCH_DRAIN_N=20000,
//                              BENCH_ONLY=capture|drain to run one part, BENCH_DRAIN_DURABILITY=full|relaxed,
//                              BENCH_INFLIGHT=n the drain's maxInflightPushes
// 1. Capture cost: durable single-row transactions/s on a tracked table vs the same table untracked, inside
//    the worker, interleaved over rounds (target: tracked >= 0.7x untracked, i.e. capture costs <= 30%;
//    cr-sqlite's synced tables are 2.5x slower). Inserts and updates.
// 2. Outbox drain: N queued operations pushed through the facade to a real outpost-server (SQLite store) on
//    loopback in batches of 500, operations/s (target >= 20,000/s).
// Prints a table on stderr and JSON on stdout; also bench/results/sync-latest.json.
import { chromium } from '@playwright/test';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchOptions } from '../e2e/browser-options.js';
import { startStaticServer } from '../e2e/static-server.mjs';
import { SyncServer, writeSchema } from '../e2e/sync-server.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const N = Number(process.env.BENCH_N ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DRAIN_N = Number(process.env.BENCH_DRAIN_N ?? 20000);
const ONLY = process.env.BENCH_ONLY ?? '';
// Without a flush per commit a case of N transactions lasts ~0.2 s, too short to time well (its ratio moved
// by ±0.05 between runs): the relaxed cases run RELAXED_FACTOR * N.
const RELAXED_FACTOR = 4;
const DRAIN_DURABILITY = process.env.BENCH_DRAIN_DURABILITY ?? 'full';
if (!['', 'capture', 'drain'].includes(ONLY)) throw new Error(`BENCH_ONLY: use capture or drain, not ${ONLY}`);
const log = (...a) => console.error(...a);
const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : null;
};

const CAPTURE = [
  { id: 'untrackedInsertFull', args: { durability: 'full', tracked: false } },
  { id: 'trackedInsertFull', args: { durability: 'full', tracked: true } },
  { id: 'untrackedUpdateFull', args: { durability: 'full', tracked: false, update: true } },
  { id: 'trackedUpdateFull', args: { durability: 'full', tracked: true, update: true } },
  { id: 'untrackedInsertRelaxed', args: { durability: 'relaxed', tracked: false }, factor: RELAXED_FACTOR },
  { id: 'trackedInsertRelaxed', args: { durability: 'relaxed', tracked: true }, factor: RELAXED_FACTOR },
];

async function main() {
  const statics = await startStaticServer({ root: ROOT });
  const schemaDir = mkdtempSync(join(os.tmpdir(), 'outpost-bench-schema-'));
  const schema = writeSchema(schemaDir, { notes: { key: ['id'], columns: ['title', 'body', 'updated'], scope: 'bench' } });
  const sync = new SyncServer({ schema, extraArgs: ['--cors', '*'] });
  await sync.start();
  const profile = mkdtempSync(join(os.tmpdir(), 'outpost-bench-sync-'));
  const context = await chromium.launchPersistentContext(profile, launchOptions);
  const errors = [];
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => errors.push(String(e)));
    // BENCH_INFLIGHT=n: the drain's maxInflightPushes (default: the engine's, 2).
    if (process.env.BENCH_INFLIGHT) {
      await page.addInitScript((n) => (globalThis.BENCH_INFLIGHT = n), Number(process.env.BENCH_INFLIGHT));
    }
    await page.goto(`${statics.url}/bench/sync.html`);
    await page.waitForFunction(() => window.bench, null, { timeout: 30_000 });

    // Untimed warm-up: V8 tiers the engine's WASM up while it runs, and the tiered code is shared by later
    // workers; without this the first cases of round 1 ran partly on baseline code.
    for (const c of ONLY === 'drain' ? [] : CAPTURE) {
      await page.evaluate(([k, a]) => window.bench.run(k, a), ['capture', { n: 1000, name: `bench-cap-warm-${c.id}`, ...c.args }]);
    }
    const runs = Object.fromEntries(CAPTURE.map((c) => [c.id, []]));
    const pairs = { insertFull: [], updateFull: [], insertRelaxed: [] };
    for (let r = 0; r < (ONLY === 'drain' ? 0 : ROUNDS); r++) {
      const round = {};
      for (const c of r % 2 ? [...CAPTURE].reverse() : CAPTURE) {
        const out = await page.evaluate(([k, a]) => window.bench.run(k, a), ['capture', { n: N * (c.factor ?? 1), name: `bench-cap-${c.id}-${r}`, ...c.args }]);
        if (out.error) errors.push(`${c.id}: ${out.error}`);
        round[c.id] = out.txPerSec ?? null;
        runs[c.id].push(out.txPerSec ?? null);
        log(`round ${r + 1}/${ROUNDS}  ${c.id.padEnd(24)} ${out.error ? `ERROR ${out.error}` : `${out.txPerSec} tx/s`}`);
      }
      const ratio = (a, b) => (round[a] && round[b] ? round[a] / round[b] : null);
      pairs.insertFull.push(ratio('trackedInsertFull', 'untrackedInsertFull'));
      pairs.updateFull.push(ratio('trackedUpdateFull', 'untrackedUpdateFull'));
      pairs.insertRelaxed.push(ratio('trackedInsertRelaxed', 'untrackedInsertRelaxed'));
    }

    if (ONLY !== 'capture') log(`drain: ${DRAIN_N} operations, batches of 500, to outpost-server (SQLite store) on loopback`);
    const drains = [];
    let logLines = 0;
    for (let r = 0; r < (ONLY === 'capture' ? 0 : Math.max(1, Math.min(ROUNDS, 2))); r++) {
      const token = sync.token({ device: `bench-${r}`, scopes: ['bench'] });
      const out = await page.evaluate(([k, a]) => window.bench.run(k, a), [
        'drain',
        { n: DRAIN_N, url: sync.url, token, batchSize: 500, name: `bench-drain-${r}`, durability: DRAIN_DURABILITY },
      ]);
      if (out.error) errors.push(`drain: ${out.error}`);
      // The server's own time per push (its request log: read, decode, store, encode), and its OPTIONS.
      const lines = readFileSync(sync.logFile, 'utf8').split('\n').slice(logLines);
      logLines += lines.length - 1;
      const took = (re) => lines.filter((l) => re.test(l)).map((l) => Number(/ ([\d.]+)ms /.exec(l)?.[1] ?? NaN));
      const pushes = took(/ POST \/sync\/v1\/push 200 /);
      out.serverMsPerPush = pushes.length ? Math.round((pushes.reduce((a, b) => a + b, 0) / pushes.length) * 100) / 100 : null;
      out.preflights = took(/ OPTIONS /).length;
      drains.push(out);
      log(`drain ${r + 1}: ${out.error ? `ERROR ${out.error}` : `${out.opsPerSec} ops/s (${out.ms} ms)`}`);
      if (out.perPushMs) log(`  per push (ms): ${JSON.stringify(out.perPushMs)}, server ${out.serverMsPerPush}, preflights ${out.preflights}`);
    }
    const round2 = (x) => (x == null ? null : Math.round(x * 100) / 100);
    const result = {
      when: new Date().toISOString(),
      n: N,
      nRelaxed: N * RELAXED_FACTOR,
      rounds: ROUNDS,
      captureTxPerSec: Object.fromEntries(Object.entries(runs).map(([id, xs]) => [id, { median: median(xs), runs: xs }])),
      ratios: {
        what: 'tracked / untracked transactions/s, median over rounds of the within-round ratio (target >= 0.7)',
        insertFull: round2(median(pairs.insertFull)),
        updateFull: round2(median(pairs.updateFull)),
        insertRelaxed: round2(median(pairs.insertRelaxed)),
      },
      drain: {
        what: `${DRAIN_N} queued row operations pushed in batches of 500 to outpost-server (SQLite store, loopback), through the facade (target >= 20000 ops/s)`,
        opsPerSec: median(drains.map((d) => d.opsPerSec)),
        runs: drains,
      },
      errors,
    };
    mkdirSync(join(HERE, 'results'), { recursive: true });
    writeFileSync(join(HERE, 'results', 'sync-latest.json'), JSON.stringify(result, null, 2));
    log('');
    log(`capture ratio (tracked/untracked): insert full ${result.ratios.insertFull}, update full ${result.ratios.updateFull}, insert relaxed ${result.ratios.insertRelaxed}`);
    log(`drain: ${result.drain.opsPerSec} ops/s`);
    console.log(JSON.stringify(result, null, 2));
    if (errors.length) process.exitCode = 1;
  } finally {
    await context.close();
    await sync.stop();
    sync.dispose();
    statics.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
