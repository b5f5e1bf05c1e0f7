// The list of records, newest first, each with its sync badge (with sync on) and its edit/delete buttons.
import { $, el } from './dom.js';

const BADGE_TEXT = {
  'local-only': 'not yet on the server',
  syncing: 'sending changes',
  synced: 'synced',
  failed: 'refused by the server',
};

export function renderRecords(rows, { onEdit, onDelete }) {
  $('#records').replaceChildren(
    ...rows.map((r) =>
      el(
        'li',
        { dataset: { id: r.id } },
        el('div', { class: 'title' }, el('strong', {}, r.title ?? ''), el('span', { class: 'quantity', title: 'Counted quantity' }, `× ${r.quantity ?? 0}`)),
        el(
          'div',
          { class: 'meta' },
          el('span', { class: `status status-${String(r.status ?? '').replace(/\s+/g, '-')}` }, r.status ?? ''),
          r.updated ? ` · ${new Date(r.updated).toLocaleString()}` : '',
          r.sync ? el('span', { class: 'badge', dataset: { sync: r.sync }, title: BADGE_TEXT[r.sync] ?? r.sync }, r.sync) : null,
        ),
        r.notes ? el('p', { class: 'notes' }, r.notes) : null,
        el(
          'div',
          { class: 'actions' },
          el('button', { type: 'button', class: 'secondary', onclick: () => onEdit(r) }, 'Edit'),
          el('button', { type: 'button', class: 'danger', onclick: () => onDelete(r) }, 'Delete'),
        ),
      ),
    ),
  );
}
