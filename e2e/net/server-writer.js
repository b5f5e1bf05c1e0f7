// A device without a browser: pushes protocol-v1 operations from Node straight to outpost-server (not through
// the proxy). The network suite uses it for what a browser device would make slow or nondeterministic: a
// large set of rows for a device to pull (a crash while a pulled page is applied) and deletes made elsewhere
// while a device is offline. It writes the same shape as the browser workload (a record with a counter delta
// and its event row), so the oracle's invariants hold for its rows too.
import { randomBytes } from 'node:crypto';

export class ServerWriter {
  /** `base` is where requests go: the server itself by default, or the lossy proxy in front of it. */
  constructor(server, device = 'seeder', base = server.url) {
    this.server = server;
    this.base = base;
    this.device = device;
    this.token = server.token({ device });
    this.node = randomBytes(8).toString('hex');
    this.lastMs = 0;
    this.counter = 0;
    this.seq = 0;
    /** Writes pushed and answered, in the browser devices' ledger shape. */
    this.committed = [];
  }

  /** A canonical UUIDv7 whose order follows creation order. */
  opId() {
    const ms = Date.now();
    const rand = randomBytes(10);
    const c = ++this.counter & 0xfff;
    const hex = ms.toString(16).padStart(12, '0');
    const variant = ((rand[0] & 0x3f) | 0x80).toString(16).padStart(2, '0');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${c.toString(16).padStart(3, '0')}-${variant}${rand.subarray(1, 2).toString('hex')}-${rand.subarray(2, 8).toString('hex')}`;
  }

  /** A hybrid logical clock reading (wall ms, counter, node), monotonic for this writer. */
  hlc() {
    const now = Date.now();
    if (now > this.lastMs) {
      this.lastMs = now;
      this.hlcCounter = 0;
    } else {
      this.hlcCounter++;
    }
    return `${this.lastMs.toString(16).padStart(12, '0')}-${this.hlcCounter.toString(16).padStart(8, '0')}-${this.node}`;
  }

  /** One push request; resolves with the raw outcome { status, text } or rejects on a network error. */
  async send(ops, { timeoutMs = 10_000 } = {}) {
    const response = await fetch(`${this.base}/sync/v1/push`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.token}` },
      body: JSON.stringify({ protocol: 1, clientId: this.device, ops }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: response.status, text: await response.text() };
  }

  /** Pushes `ops` and requires every one of them applied. */
  async push(ops) {
    const { status, text } = await this.send(ops);
    if (status !== 200) throw new Error(`${this.device} push: ${status} ${text}`);
    const { results } = JSON.parse(text);
    const bad = results.filter((r) => r.status !== 'applied');
    if (bad.length) throw new Error(`${this.device} push: not applied: ${JSON.stringify(bad.slice(0, 3))}`);
    return results;
  }

  /** One workload write per entity (record upsert with +1 and its event row), `batch` operations a push. */
  async writeRecords(entities, { batch = 500 } = {}) {
    const { ops, writes } = this.recordOps(entities);
    for (let i = 0; i < ops.length; i += batch) await this.push(ops.slice(i, i + batch));
    this.committed.push(...writes);
    return writes;
  }

  /** The operations of one workload write per entity, not sent. */
  recordOps(entities) {
    const ops = [];
    const writes = [];
    for (const entity of entities) {
      const seq = ++this.seq;
      const h = this.hlc();
      const col = (value) => ({ value, hlc: h });
      ops.push({
        id: this.opId(), kind: 'upsert', priority: 'normal', hlc: h, table: 'records', key: { id: entity },
        columns: { title: col(`${this.device}#${seq}`), quantity: col(1), updated: col(seq), project: col('p1') },
      });
      ops.push({
        id: this.opId(), kind: 'upsert', priority: 'normal', hlc: h, table: 'events', key: { id: `${this.device}-${seq}` },
        columns: { device: col(this.device), entity: col(entity), seq: col(seq), project: col('p1') },
      });
      writes.push({ device: this.device, seq, entity });
    }
    return { ops, writes };
  }

  /** Deletes records and their event rows (all of them written by this writer). */
  async deleteRecords(entities) {
    const doomed = new Set(entities);
    const ops = [];
    for (const w of this.committed.filter((x) => doomed.has(x.entity))) {
      ops.push({ id: this.opId(), kind: 'delete', priority: 'normal', hlc: this.hlc(), table: 'events', key: { id: `${w.device}-${w.seq}` } });
    }
    for (const entity of doomed) {
      ops.push({ id: this.opId(), kind: 'delete', priority: 'normal', hlc: this.hlc(), table: 'records', key: { id: entity } });
    }
    for (let i = 0; i < ops.length; i += 500) await this.push(ops.slice(i, i + 500));
    this.committed = this.committed.filter((x) => !doomed.has(x.entity));
  }
}
