// The side-by-side view of one conflict: the row as this device has it and as the server has it, the
// differing fields highlighted; the user keeps one side, and the choice is written as a normal operation.
import { $, el } from './dom.js';

const show = (value) => (value === null || value === undefined ? '—' : String(value));

export async function openConflictView(db, conflict, { onResolved }) {
  const dialog = $('#conflict-dialog');
  const [row] = await db.query(`SELECT * FROM ${conflict.table} WHERE id = ?`, [conflict.key.id]);
  const columns = [...new Set([...Object.keys(row ?? {}), ...Object.keys(conflict.fields)])].filter((c) => c !== 'id');
  const side = (which) =>
    columns.map((column) => {
      const field = conflict.fields[column];
      const value = field ? field[which] : row?.[column];
      return el('dd', { class: field && field.local !== field.remote ? 'differs' : '' }, show(value));
    });
  const resolve = (choice) => async () => {
    await db.conflicts.resolve(conflict.id, choice);
    dialog.close();
    await onResolved();
  };
  dialog.replaceChildren(
    el('h2', {}, 'Two versions of this record'),
    el(
      'div',
      { class: 'side-by-side' },
      el('section', {}, el('h3', {}, 'On this device'), el('dl', {}, ...columns.flatMap((c, i) => [el('dt', {}, c), side('local')[i]]))),
      el('section', {}, el('h3', {}, 'On the server'), el('dl', {}, ...columns.flatMap((c, i) => [el('dt', {}, c), side('remote')[i]]))),
    ),
    el(
      'div',
      { class: 'form-actions' },
      el('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Decide later'),
      el('button', { type: 'button', onclick: resolve({ choose: 'remote' }) }, 'Keep the server’s'),
      el('button', { type: 'button', onclick: resolve({ choose: 'local' }) }, 'Keep mine'),
    ),
  );
  dialog.showModal();
}
