// The drain report of issue 7: per network profile, how long one device takes to drain N queued operations
// against the ideal for that profile's latency and bandwidth with the chosen batch size, the bytes sent per
// operation and the retries per operation. A report, not a test: it never fails because a number is high.
//
//   node bench/drain-report.mjs                     # N=1000, batch 200, every profile
//   DRAIN_N=2000 DRAIN_BATCH=500 DRAIN_PROFILES=satellite,satellite-lossy node bench/drain-report.mjs
//
// Needs outpost-server (build/native/server/outpost-server, or OUTPOST_SERVER_BIN) and js/engine built.
// Output: a table on stderr, JSON on stdout and in bench/results/drain.json.
//
// Method. The device queues N operations while sync is paused (N/2 writes, each a record upsert and an
// event row, all on distinct keys so nothing compacts), the profile is applied (CDP on the page, which covers
// the sync worker; the proxy's fault share), and the clock starts when db.sync.resume() is called in the page.
// It stops at the first `status` event with nothing pending. The ideal is
//   ceil(N / batch) × RTT + (request bytes + response bytes of one clean delivery) / bandwidth,
// bytes measured at the proxy on fault-free pushes (headers included). Retries per operation = (operations
// carried by pushes − distinct operations) / distinct operations.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Run } from '../e2e/net/run.js';
import { PROFILES } from '../e2e/net/profiles.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.DRAIN_N ?? 1000);
const BATCH = Number(process.env.DRAIN_BATCH ?? 200);
const SEED = Number(process.env.OUTPOST_E2E_SEED ?? 1);
const CASES = {
  fast: { profile: 'fast', share: 0 },
  '3g': { profile: '3g', share: 0 },
  satellite: { profile: 'satellite', share: 0 },
  'satellite-lossy': { profile: 'satellite', share: PROFILES.satellite.share },
  flapping: { profile: 'flapping', share: 0, flap: true },
};
const selected = (process.env.DRAIN_PROFILES ?? Object.keys(CASES).join(',')).split(',');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(name) {
  const spec = CASES[name];
  const profile = PROFILES[spec.profile];
  const run = await new Run(SEED, { clientTimeoutMs: 15_000 }).start();
  try {
    const device = await run.device('drain', { sync: { batchSize: BATCH }, paused: true });
    const writes = Array.from({ length: N / 2 }, (_, i) => ({ device: 'drain', seq: i + 1, entity: `k-${i}`, audit: false }));
    await device.burst(writes);
    while (device.committed.length < writes.length) await sleep(100);
    const queued = await device.call('outbox.stats');
    run.proxy.reset();
    await device.shaper.apply(spec.profile);
    run.proxy.configure({ share: spec.share });
    if (spec.flap) device.shaper.startFlapping(run.random.fork('flap'), profile.flap);
    const wall0 = Date.now();
    await device.page.evaluate(async (key) => {
      const db = window.dbs[key];
      window.drainedAt = null;
      db.on('status', (s) => {
        if (s.pending === 0 && window.drainedAt === null) window.drainedAt = performance.now();
      });
      window.drainStart = performance.now();
      await db.sync.resume();
    }, device.dbName);
    let ms = null;
    while (ms === null && Date.now() - wall0 < 15 * 60_000) {
      await sleep(200);
      ms = await device.page.evaluate(() => (window.drainedAt === null ? null : window.drainedAt - window.drainStart));
    }
    await device.shaper.stopFlapping();
    const pushes = run.proxy.log.filter((c) => c.endpoint === 'push');
    const clean = pushes.filter((c) => !c.fault && c.status === 200);
    const cleanOps = clean.reduce((s, c) => s + c.ops, 0) || 1;
    const upPerOp = clean.reduce((s, c) => s + c.bytesUp, 0) / cleanOps;
    const downPerOp = clean.reduce((s, c) => s + c.bytesDown, 0) / cleanOps;
    const carried = pushes.reduce((s, c) => s + c.ops, 0);
    const distinct = run.proxy.ops.size;
    const bytesPerSecond = profile.kbps ? (profile.kbps * 1000) / 8 : Infinity;
    const requests = Math.ceil(queued.pending / BATCH);
    const idealMs = requests * profile.latencyMs + ((upPerOp + downPerOp) * queued.pending * 1000) / bytesPerSecond;
    const byEndpoint = {};
    for (const c of run.proxy.log) byEndpoint[c.endpoint] = (byEndpoint[c.endpoint] ?? 0) + 1;
    return {
      case: name,
      profile: spec.profile,
      rttMs: profile.latencyMs,
      kbps: profile.kbps,
      faultShare: spec.share,
      ops: queued.pending,
      batch: BATCH,
      drainMs: ms === null ? null : Math.round(ms),
      idealMs: Math.round(idealMs),
      ratio: ms === null || idealMs < 1 ? null : Number((ms / idealMs).toFixed(2)),
      pushRequests: pushes.length,
      requests: byEndpoint,
      faults: run.proxy.log.filter((c) => c.fault).length,
      bytesUpPerOp: Math.round(pushes.reduce((s, c) => s + c.bytesUp, 0) / distinct),
      bytesDownPerOp: Math.round(pushes.reduce((s, c) => s + c.bytesDown, 0) / distinct),
      cleanBytesUpPerOp: Math.round(upPerOp),
      retriesPerOp: Number(((carried - distinct) / distinct).toFixed(3)),
      schedule: run.proxy.schedule(),
      flaps: device.shaper.schedule(),
    };
  } finally {
    await run.dispose();
  }
}

const results = [];
for (const name of selected) {
  process.stderr.write(`drain: ${name} ...\n`);
  results.push(await measure(name));
}
const header = 'case              ops  batch  drain ms  ideal ms  ratio  pushes  up B/op  down B/op  retries/op';
const lines = results.map((r) =>
  [
    r.case.padEnd(16),
    String(r.ops).padStart(4),
    String(r.batch).padStart(6),
    String(r.drainMs ?? 'timeout').padStart(9),
    String(r.idealMs).padStart(9),
    String(r.ratio ?? '-').padStart(6),
    String(r.pushRequests).padStart(7),
    String(r.bytesUpPerOp).padStart(8),
    String(r.bytesDownPerOp).padStart(10),
    String(r.retriesPerOp).padStart(11),
  ].join(' '),
);
process.stderr.write(`${header}\n${lines.join('\n')}\n`);
const out = { at: new Date().toISOString(), seed: SEED, n: N, batch: BATCH, results };
mkdirSync(join(HERE, 'results'), { recursive: true });
writeFileSync(join(HERE, 'results/drain.json'), `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
