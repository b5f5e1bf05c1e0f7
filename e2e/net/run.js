// One seeded run of the network suite: the real outpost-server on a temporary store, the lossy proxy in front
// of it, the devices, and a timeline of everything the scenario did to them (profiles, crashes, server
// restarts). `describe()` is what a failure prints: the seed, the timeline, the proxy's fault schedule and the
// flap phases, enough to replay the run with OUTPOST_E2E_SEED=<seed>.
import { SyncServer, writeSchema } from '../sync-server.js';
import { Device, SERVER_SCHEMA } from './device.js';
import { LossyProxy } from './lossy-proxy.mjs';
import { checkOracle, settle } from './oracle.js';
import { PROFILES } from './profiles.js';
import { prng } from './random.js';

export class Run {
  /**
   * @param {number} seed
   * @param {object} [o]
   * @param {string[]} [o.serverArgs]      extra outpost-server flags (rate limit, tombstone retention)
   * @param {number} [o.clientTimeoutMs]   the devices' request timeout (slow-response holds past it)
   */
  constructor(seed, { serverArgs = [], clientTimeoutMs = 4000 } = {}) {
    this.seed = seed;
    this.random = prng(seed);
    this.serverArgs = serverArgs;
    this.clientTimeoutMs = clientTimeoutMs;
    this.devices = [];
    this.timeline = [];
    this.started = Date.now();
    this.server = null;
    this.proxy = null;
  }

  async start() {
    const server = new SyncServer({ extraArgs: this.serverArgs });
    server.schema = writeSchema(server.dir, SERVER_SCHEMA);
    this.server = await server.start();
    this.proxy = await new LossyProxy({ upstream: this.server.url, seed: this.seed, clientTimeoutMs: this.clientTimeoutMs }).start();
    return this;
  }

  note(text) {
    this.timeline.push(`+${Date.now() - this.started}ms ${text}`);
  }

  /** Launches a device on its own profile and opens the synced database. */
  async device(name, { sync = {}, paused = false } = {}) {
    const device = new Device({
      name,
      origin: this.proxy.url,
      token: this.server.token({ device: name }),
      sync: { requestTimeoutMs: this.clientTimeoutMs, ...sync },
    });
    this.devices.push(device);
    await device.launch();
    await device.open({ paused });
    this.note(`${name} opened`);
    return device;
  }

  /** Applies a profile to a device's targets and its share of faults to the proxy (shared by all devices). */
  async profile(device, name) {
    await device.shaper.apply(name);
    this.proxy.configure({ share: PROFILES[name].share });
    this.note(`${device.name} profile ${name} (proxy share ${PROFILES[name].share})`);
  }

  async crash(device, kind, where) {
    this.note(`${device.name} crash ${kind} ${where}`);
    await device.crash(kind);
  }

  async recover(device, kind) {
    await device.recover(kind);
    this.note(`${device.name} recovered from ${kind}`);
  }

  async restartServer({ downMs, kill = true }) {
    this.note(`server ${kill ? 'SIGKILL' : 'SIGTERM'}, down ${downMs}ms`);
    if (kill) await this.server.kill();
    else await this.server.stop();
    await new Promise((r) => setTimeout(r, downMs));
    await this.server.start();
    this.note('server back');
  }

  /** Writes numbered for `device`: seq continues across calls; entities drawn from `entities`. */
  plan(device, count, entities, { audit = true } = {}) {
    device.nextSeq ??= 0;
    return Array.from({ length: count }, () => ({
      device: device.name,
      seq: ++device.nextSeq,
      entity: this.random.pick(entities),
      audit,
    }));
  }

  /** Settles the network and checks the oracle; returns the violations (plus why it did not settle). */
  async verify({ expectedFailed = 0, others = [], timeoutMs } = {}) {
    this.note('settling');
    const { snapshots, settled, why } = await settle({ server: this.server, proxy: this.proxy, devices: this.devices, timeoutMs });
    this.note(settled ? 'settled' : `did not settle: ${why}`);
    const result = await checkOracle({ server: this.server, proxy: this.proxy, devices: this.devices, snapshots, expectedFailed, others });
    if (!settled) result.problems.unshift(`did not settle: ${why}`);
    this.note(`oracle: ${result.oplogSize} operations in the server's op log, ${result.applied} record operations order-checked, ` +
      `${result.tables.events.size} writes on the server, ${result.problems.length} problem(s)`);
    this.result = result;
    return result.problems;
  }

  /** The reproduction recipe of this run. */
  describe() {
    const lines = [`seed ${this.seed} (replay: OUTPOST_E2E_SEED=${this.seed} npx playwright test e2e/network.spec.js)`];
    lines.push('timeline:', ...this.timeline.map((l) => `  ${l}`));
    const faults = this.proxy?.schedule() ?? [];
    lines.push(`fault schedule (${faults.length} of ${this.proxy?.log.length ?? 0} sync requests):`, ...faults.map((l) => `  ${l}`));
    const flaps = this.devices.flatMap((d) => d.shaper.schedule());
    if (flaps.length) lines.push('flaps:', ...flaps.map((l) => `  ${l}`));
    return lines.join('\n');
  }

  async dispose() {
    for (const d of this.devices) await d.dispose();
    await this.proxy?.close();
    await this.server?.stop().catch(() => {});
    this.server?.dispose();
  }
}
