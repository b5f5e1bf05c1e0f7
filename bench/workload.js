// The one workload of every throughput case (see /work/shared/reference/measurements.md): N durable
// transactions, each inserting one note and one outbox entry. Rows are generated before the clock starts,
// so only storage work is timed.
export const SCHEMA = [
  'CREATE TABLE IF NOT EXISTS notes(id TEXT PRIMARY KEY, title TEXT, body TEXT, updated INTEGER)',
  'CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY, op_id TEXT, kind TEXT, payload TEXT, status TEXT)',
];
export const INSERT_NOTE = 'INSERT INTO notes(id, title, body, updated) VALUES (?, ?, ?, ?)';
export const INSERT_OUTBOX = 'INSERT INTO outbox(seq, op_id, kind, payload, status) VALUES (?, ?, ?, ?, ?)';

const FILLER = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore';

/** About 100 bytes, different per row. */
export function body(i) {
  return `#${i} ${FILLER}`.slice(0, 100);
}

/** Parameter arrays for transaction i: [noteParams, outboxParams]. */
export function rowParams(i) {
  const id = `n${i}`;
  const title = `Note ${i}`;
  return [
    [id, title, body(i), 1_763_700_000_000 + i],
    [i + 1, `op-${i}`, 'upsert', JSON.stringify({ id, title }), 'pending'],
  ];
}

export function allRowParams(n) {
  const rows = new Array(n);
  for (let i = 0; i < n; i++) rows[i] = rowParams(i);
  return rows;
}

/** The same rows as objects, for IndexedDB. */
export function allRowObjects(n) {
  return allRowParams(n).map(([[id, title, bodyText, updated], [seq, op_id, kind, payload, status]]) => [
    { id, title, body: bodyText, updated },
    { seq, op_id, kind, payload, status },
  ]);
}

export function summarize(n, ms, extra = {}) {
  return { n, ms: Math.round(ms * 10) / 10, txPerSec: Math.round((n / ms) * 1000), ...extra };
}

/** Removes a directory entry under the OPFS root, ignoring "not found". */
export async function removeOpfsEntry(path) {
  const parts = path.split('/').filter(Boolean);
  let dir = await navigator.storage.getDirectory();
  try {
    for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part);
    await dir.removeEntry(parts[parts.length - 1], { recursive: true });
  } catch (e) {
    if (e?.name !== 'NotFoundError') throw e;
  }
}
