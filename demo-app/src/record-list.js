// The list of records, newest first, each with its sync badge (with sync on) and its edit/delete buttons.
import { $, el } from './dom.js';

// The per-record state (outpost_sync_state, docs/sync.md) in the inspector's words, and its explanation.
const BADGE = {
  'local-only': ['on this device only', 'The server has not received this record yet.'],
  syncing: ['sending', 'The server has this record; newer changes are on their way.'],
  synced: ['synced', 'The server has this record as you see it.'],
  failed: ['refused', 'The server refused a change of this record: see the list above.'],
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
          r.sync ? el('span', { class: 'badge', dataset: { sync: r.sync }, title: BADGE[r.sync]?.[1] ?? r.sync }, BADGE[r.sync]?.[0] ?? r.sync) : null,
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
