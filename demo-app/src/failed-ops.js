// Operations the server refused (or that ran out of retries): the user retries or discards each. Discarding
// is the only way an unsent change is ever dropped.
import { $, el } from './dom.js';

export async function renderFailedOps(db, { onChange }) {
  const section = $('#failed-ops');
  const failed = await db.outbox.list({ state: 'failed', limit: 50 });
  section.hidden = failed.length === 0;
  const act = (fn) => async () => {
    await fn();
    await onChange();
  };
  section.querySelector('ul').replaceChildren(
    ...failed.map((op) =>
      el(
        'li',
        { dataset: { op: op.id } },
        el('span', {}, `${op.kind} ${op.table ?? ''} ${op.key ? Object.values(op.key).join(',').slice(0, 8) : ''}: `),
        el('span', { class: 'error' }, op.error ? `${op.error.code}: ${op.error.message}` : 'failed'),
        el('button', { type: 'button', onclick: act(() => db.outbox.retry(op.id)) }, 'Retry'),
        el('button', { type: 'button', class: 'danger', onclick: act(() => db.outbox.discard(op.id)) }, 'Discard'),
      ),
    ),
  );
}
