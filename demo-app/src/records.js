// Reads and writes of the inspection records. Every write is one statement (one transaction), so with sync
// on, the row change and its outbox operation commit together. `quantity` is a counter on the server: an
// edit is sent as the difference, so two inspectors counting on two devices add up instead of overwriting.
import { PROJECT } from './device-link.js';

export class Records {
  /** @param {import('../../js/index').Database} db  @param {{ syncing: boolean }} options */
  constructor(db, { syncing }) {
    this.db = db;
    this.syncing = syncing;
    this.hasSyncState = syncing;
  }

  /** Newest first; with sync, each row carries `sync`: local-only | syncing | synced | failed. */
  async list() {
    if (this.hasSyncState) {
      try {
        return await this.db.query(
          `SELECT *, outpost_sync_state('records', id) AS sync FROM records ORDER BY updated DESC, rowid DESC`,
        );
      } catch {
        this.hasSyncState = false; // an engine without the per-record state: list without badges
      }
    }
    return this.db.query('SELECT * FROM records ORDER BY updated DESC, rowid DESC');
  }

  get(id) {
    return this.db.query('SELECT * FROM records WHERE id = ?', [id]).then((rows) => rows[0] ?? null);
  }

  create({ title, notes, status, quantity }) {
    return this.db.exec(
      `INSERT INTO records(id, title, notes, status, quantity, updated, project)
       VALUES (:id, :title, :notes, :status, :quantity, :updated, :project)`,
      { id: crypto.randomUUID(), title, notes, status, quantity, updated: Date.now(), project: PROJECT },
    );
  }

  /** Writes only the fields that changed, so an unchanged field never overwrites another device's edit. */
  async update(id, fields) {
    const current = await this.get(id);
    if (!current) return;
    const changed = Object.keys(fields).filter((k) => fields[k] !== current[k]);
    if (changed.length === 0) return;
    const sets = changed.map((k) => (k === 'quantity' ? 'quantity = quantity + :delta' : `${k} = :${k}`));
    const params = { id, updated: Date.now() };
    for (const k of changed) {
      if (k === 'quantity') params.delta = fields.quantity - current.quantity;
      else params[k] = fields[k];
    }
    await this.db.exec(`UPDATE records SET ${sets.join(', ')}, updated = :updated WHERE id = :id`, params);
  }

  remove(id) {
    return this.db.exec('DELETE FROM records WHERE id = ?', [id]);
  }
}
