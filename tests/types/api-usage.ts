// Type-level test of the public API (js/index.d.ts): compiled with tsc --noEmit by scripts/test.sh.
// Lines marked @ts-expect-error must fail to type-check; everything else must pass.
import { open, OutpostError, ErrorCode, requestPersistentStorage, type Database, type Row } from '../../js/index.js';

async function usage(): Promise<void> {
  const db: Database = await open('app.db', { durability: 'relaxed', lockTimeoutMs: 500 });
  const r = await db.exec('INSERT INTO notes(id, title) VALUES (?, ?)', ['n1', 'hello']);
  const changes: number = r.changes;
  const rowid: number | bigint = r.lastInsertRowId;
  await db.exec('UPDATE notes SET title = :title WHERE id = :id', { id: 'n1', title: null });
  await db.exec('INSERT INTO files(data, size) VALUES (?, ?)', [new Uint8Array([1]), 2n ** 60n]);

  interface Note extends Row { id: string; title: string | null }
  const notes = await db.query<Note>('SELECT id, title FROM notes');
  const first: string | undefined = notes[0]?.id;

  const n: number = await db.transaction(async (tx) => {
    await tx.exec('DELETE FROM notes WHERE id = ?', ['n1']);
    const rows = await tx.query('SELECT count(*) AS c FROM notes');
    return Number(rows[0]!.c);
  });

  const bytes: Uint8Array = await db.export();
  await db.import(bytes);
  await db.close();

  try {
    await open('x', { storage: 'memory' });
  } catch (e) {
    if (e instanceof OutpostError && e.code === ErrorCode.DB_LOCKED) console.log(e.sql, e.message);
  }
  const { persisted } = await requestPersistentStorage();

  // @ts-expect-error durability is 'full' or 'relaxed'
  await open('y', { durability: 'fast' });
  // @ts-expect-error parameters are SQL values, not arbitrary objects
  await db.exec('SELECT ?', [{ nested: true }]);
  // @ts-expect-error query() needs SQL
  await db.query();
  void [changes, rowid, first, n, persisted];
}
void usage;
