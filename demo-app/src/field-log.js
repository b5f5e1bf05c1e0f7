// The demo's database: opens 'field-log' with sync when the device has a token (device-link.js), local-only
// otherwise, in memory where OPFS is missing; creates the records table the server's demo schema expects
// (server/demo-schema.json: id key; title, status, updated last-writer-wins; quantity a counter; notes
// manual; project the scope column). Client and server must declare the same policies: both run the same
// merge code (docs/conflicts.md).
import { open, OutpostError } from '../../js/index.js';

export const SYNC_TABLES = {
  // Notes are free text two inspectors may rewrite at once: a concurrent edit is shown to the user (the
  // conflict view) instead of one silently replacing the other. Counts add up.
  records: { primaryKey: 'id', policy: 'lww', columns: { quantity: 'counter', notes: 'manual' } },
};

const SCHEMA = `CREATE TABLE IF NOT EXISTS records(
  id TEXT PRIMARY KEY, title TEXT, notes TEXT, status TEXT, quantity INTEGER, updated INTEGER, project TEXT)`;

/**
 * @param {{ token: string } | null} link
 * @returns {Promise<{ db: import('../../js/index').Database, syncing: boolean, memory: boolean }>}
 */
export async function openFieldLog(link) {
  // Paused until the table exists: a first pull must not arrive before there is a table to apply it to.
  const sync = link ? { url: location.origin, token: link.token, tables: SYNC_TABLES, paused: true } : undefined;
  let db;
  let memory = false;
  try {
    db = await open('field-log', { sync });
  } catch (e) {
    if (!(e instanceof OutpostError) || e.code !== 'OPFS_UNAVAILABLE') throw e;
    db = await open('field-log', { storage: 'memory', sync });
    memory = true;
  }
  await db.exec(SCHEMA);
  if (sync) await db.sync.resume();
  return { db, syncing: Boolean(db.sync?.status), memory };
}
