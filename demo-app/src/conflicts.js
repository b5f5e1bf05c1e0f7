// The list of conflicts waiting for the user; each opens the side-by-side view (conflict-view.js, loaded
// only when needed: most sessions never show it).
import { $, el } from './dom.js';

export async function renderConflicts(db, { onChange }) {
  const section = $('#conflicts');
  const conflicts = await db.conflicts.list();
  section.hidden = conflicts.length === 0;
  section.querySelector('ul').replaceChildren(
    ...conflicts.map((conflict) =>
      el(
        'li',
        { dataset: { conflict: conflict.id } },
        el('span', {}, `${conflict.table} ${Object.values(conflict.key).join(',')}: ${Object.keys(conflict.fields).join(', ')}`),
        el(
          'button',
          {
            type: 'button',
            onclick: async () => {
              const { openConflictView } = await import('./conflict-view.js');
              openConflictView(db, conflict, { onResolved: onChange });
            },
          },
          'Compare',
        ),
      ),
    ),
  );
}
