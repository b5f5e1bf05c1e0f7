// The oracle of issue 7, part 5: after the network settles, what every device, the wire and the server say
// must agree with what the scenario did.
//
//  1. Durability: every write whose commit promise resolved is on the server (its event row exists).
//  2. Exactly once, by operation id: no id was answered `applied` twice (the proxy saw every answer), no id
//     was re-sent with different content, every operation the proxy carried is in the server's op log once
//     (outpost_oplog is keyed by id), and every record's counter equals the number of its event rows: a
//     delta applied twice, or lost, breaks the equality. Custom operations: one per (device, seq).
//  3. Per-entity order: for each device and record, the versions the server gave that device's applied
//     operations rise with the writes' sequence numbers; the same for custom operations per entity.
//  4. Convergence: every device's tables equal the server's rows.
//  5. No failed operation the scenario did not cause on purpose; PRAGMA integrity_check is ok on every device
//     and on the server's store.
//
// Server-side truth comes from a pull with an all-scopes token (SyncServer.pullAll) and from the store file
// itself (sqlite3 CLI, read only), which holds the op log and the custom operations; the protocol has no
// endpoint that lists applied operation ids.
import { execFileSync } from 'node:child_process';

const RECORD_COLUMNS = ['title', 'notes', 'status', 'quantity', 'updated', 'project'];
const EVENT_COLUMNS = ['device', 'entity', 'seq', 'project'];

/** Runs a read-only query on the server's SQLite store. */
export function storeQuery(storePath, sql) {
  const out = execFileSync('sqlite3', ['-readonly', '-json', storePath, sql], { encoding: 'utf8' });
  return out.trim() ? JSON.parse(out) : [];
}

/** The server's synced rows by table: Map id -> columns (live rows only; tombstones are left out). */
export async function serverTables(server) {
  const rows = await server.pullAll();
  const tables = { records: new Map(), events: new Map() };
  for (const [id, row] of rows) {
    const table = id.slice(0, id.indexOf(':'));
    if (!tables[table] || row.deleted) continue;
    tables[table].set(JSON.parse(id.slice(table.length + 1)).id, row);
  }
  return tables;
}

function normalize(row, columns) {
  return Object.fromEntries(columns.map((c) => [c, row[c] ?? null]));
}

function diffTable(name, local, server, columns, problems, device) {
  const localIds = new Set(local.map((r) => r.id));
  for (const row of local) {
    const remote = server.get(row.id);
    if (!remote) {
      problems.push(`${device}: ${name} ${row.id} is on the device but not on the server`);
      continue;
    }
    const a = JSON.stringify(normalize(row, columns));
    const b = JSON.stringify(normalize(remote, columns));
    if (a !== b) problems.push(`${device}: ${name} ${row.id} differs: device ${a} server ${b}`);
  }
  for (const id of server.keys()) {
    if (!localIds.has(id)) problems.push(`${device}: ${name} ${id} is on the server but not on the device`);
  }
}

/** Whether every device's tables equal the server's (used to wait for convergence before checking). */
export function converged(snapshots, tables) {
  const problems = [];
  for (const [device, snap] of Object.entries(snapshots)) {
    diffTable('records', snap.records, tables.records, RECORD_COLUMNS, problems, device);
    diffTable('events', snap.events, tables.events, EVENT_COLUMNS, problems, device);
  }
  return problems;
}

/**
 * Checks the oracle; returns the list of violations (empty when the run is correct).
 * @param {object} o
 * @param {import('../sync-server.js').SyncServer} o.server
 * @param {import('./lossy-proxy.mjs').LossyProxy} o.proxy
 * @param {import('./device.js').Device[]} o.devices
 * @param {Record<string, object>} o.snapshots  device name -> Device.snapshot() taken after settling
 * @param {number} [o.expectedFailed]           failed operations the scenario caused on purpose
 * @param {Set<string>} [o.deletedEntities]     records the scenario deleted (no counter check for them)
 * @param {{ device: string, committed: object[] }[]} [o.others] writers without a browser (ServerWriter)
 */
export async function checkOracle({ server, proxy, devices, snapshots, expectedFailed = 0, deletedEntities = new Set(), others = [] }) {
  const problems = [];
  const tables = await serverTables(server);

  // 1. Durability of acknowledged commits.
  for (const device of devices) {
    for (const w of device.committed) {
      if (!tables.events.has(`${w.device}-${w.seq}`)) {
        problems.push(`${device.name}: write ${w.seq} (${w.entity}) was acknowledged to the app but is not on the server`);
      }
    }
    for (const w of device.inTransaction) {
      if (tables.events.has(`${w.device}-${w.seq}`)) {
        problems.push(`${device.name}: write ${w.seq} ran in a transaction that never committed, yet it is on the server`);
      }
    }
  }

  for (const other of others) {
    for (const w of other.committed) {
      if (!tables.events.has(`${w.device}-${w.seq}`)) problems.push(`${other.device}: write ${w.seq} was applied but is not on the server`);
    }
  }

  // 2. Exactly once.
  problems.push(...proxy.anomalies);
  const oplog = new Map(
    storeQuery(server.storePath, 'SELECT op_id, client_id, outcome_json FROM outpost_oplog').map((r) => [
      r.op_id,
      { device: r.client_id, outcome: JSON.parse(r.outcome_json) },
    ]),
  );
  for (const [id, entry] of proxy.ops) {
    if (!oplog.has(id)) {
      const device = devices.find((d) => d.name === entry.device);
      const stillQueued = device && snapshots[device.name] && snapshots[device.name].stats.pending + snapshots[device.name].stats.inflight > 0;
      if (!stillQueued) problems.push(`operation ${id} of ${entry.device} was pushed (${entry.deliveries}x) but the server never logged it`);
    }
  }
  const eventsByEntity = new Map();
  for (const e of tables.events.values()) eventsByEntity.set(e.entity, (eventsByEntity.get(e.entity) ?? 0) + 1);
  for (const [id, row] of tables.records) {
    if (deletedEntities.has(id)) continue;
    const expected = eventsByEntity.get(id) ?? 0;
    if (row.quantity !== expected) {
      problems.push(`record ${id}: counter is ${row.quantity} on the server but ${expected} writes committed (a delta lost or applied twice)`);
    }
  }
  const custom = storeQuery(server.storePath, "SELECT op_id, entity, payload, version FROM outpost_custom_ops WHERE kind = 'audit.log' ORDER BY version");
  const customSeen = new Map();
  for (const c of custom) {
    const p = JSON.parse(c.payload);
    const k = `${p.device}-${p.seq}`;
    if (customSeen.has(k)) problems.push(`custom operation of write ${k} delivered twice (ids ${customSeen.get(k)} and ${c.op_id})`);
    customSeen.set(k, c.op_id);
  }

  // 3. Per-entity order, from the operations as pushed and the versions the server logged.
  const lastVersion = new Map();
  const applied = [];
  for (const [id, entry] of proxy.ops) {
    const op = entry.op;
    const outcome = oplog.get(id)?.outcome;
    if (op.table !== 'records' || outcome?.status !== 'applied' || !op.columns?.updated) continue;
    applied.push({ device: entry.device, entity: op.key.id, seq: op.columns.updated.value, version: outcome.version, id });
  }
  applied.sort((a, b) => a.seq - b.seq);
  for (const a of applied) {
    const k = `${a.device}/${a.entity}`;
    const prev = lastVersion.get(k);
    if (prev && prev.version > a.version) {
      problems.push(`order: ${a.device}'s write ${a.seq} to ${a.entity} got version ${a.version}, below write ${prev.seq}'s ${prev.version}`);
    }
    lastVersion.set(k, a);
  }
  const lastCustom = new Map();
  for (const c of custom) {
    const p = JSON.parse(c.payload);
    const k = `${p.device}/${c.entity}`;
    const prev = lastCustom.get(k);
    if (prev !== undefined && prev > p.seq) problems.push(`order: custom operations of ${k} applied out of order (${prev} before ${p.seq})`);
    lastCustom.set(k, p.seq);
  }
  for (const device of devices) {
    for (const w of device.committed) {
      if (w.audit && !customSeen.has(`${w.device}-${w.seq}`)) problems.push(`custom operation of ${w.device}-${w.seq} never reached the server`);
    }
  }

  // 4. Convergence.
  problems.push(...converged(snapshots, tables));

  // 5. Failures and integrity.
  let failed = 0;
  for (const device of devices) {
    const snap = snapshots[device.name];
    failed += snap.stats.failed;
    for (const f of snap.failed) problems.push(`${device.name}: failed operation ${f.id} ${f.kind} ${f.table ?? f.entity}: ${f.error?.code} ${f.error?.message}`);
    if (snap.integrity !== 'ok') problems.push(`${device.name}: integrity_check: ${snap.integrity}`);
    if (device.pageErrors.length) problems.push(`${device.name}: uncaught page errors: ${device.pageErrors.join(' | ')}`);
  }
  if (failed !== expectedFailed) problems.push(`${failed} failed operations, the scenario caused ${expectedFailed}`);
  const serverIntegrity = storeQuery(server.storePath, 'PRAGMA integrity_check').map((r) => r.integrity_check).join('\n');
  if (serverIntegrity !== 'ok') problems.push(`server store integrity_check: ${serverIntegrity}`);

  return { problems, tables, oplogSize: oplog.size, applied: applied.length };
}

/**
 * Lets the network settle and the devices converge: networks reset, proxy faults off, then rounds of
 * db.sync.now() on every device until nothing is pending and every device equals the server, or `timeoutMs`
 * passes. Returns the last snapshots and, if it did not settle, why (the oracle then reports the differences).
 */
export async function settle({ server, proxy, devices, timeoutMs = 90_000 }) {
  proxy.configure({ share: 0 });
  proxy.setDown(false);
  for (const d of devices) await d.shaper.reset();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let stuck = null;
    for (const d of devices) {
      try {
        await d.drain({ timeoutMs: Math.max(1000, deadline - Date.now()) });
      } catch (error) {
        stuck = String(error.message ?? error);
      }
    }
    // One more round each so every device pulls what the others pushed last.
    for (const d of devices) await d.call('sync.now');
    const snapshots = {};
    for (const d of devices) snapshots[d.name] = await d.snapshot();
    const pending = Object.values(snapshots).some((s) => s.stats.pending + s.stats.inflight > 0);
    const differences = converged(snapshots, await serverTables(server));
    if (!pending && differences.length === 0) return { snapshots, settled: true };
    if (Date.now() > deadline || stuck) {
      return { snapshots, settled: false, why: stuck ?? `not converged within ${timeoutMs} ms (${differences.length} differences)` };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
