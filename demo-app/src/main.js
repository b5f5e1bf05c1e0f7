// The demo: a field-inspection log that keeps all its data in Outpost (SQLite over OPFS in a worker).
// The full installable, syncing PWA is built on top of this by the service-worker and demo issue.
import { open, OutpostError, requestPersistentStorage, storageEstimate } from '../js/index.js';

const $ = (selector) => document.querySelector(selector);
const status = (text, warn = false) => {
  $('#status').textContent = text;
  $('#status').classList.toggle('warn', warn);
};

let db;
try {
  db = await open('field-log');
} catch (e) {
  if (!(e instanceof OutpostError) || e.code !== 'OPFS_UNAVAILABLE') throw e;
  db = await open('field-log', { storage: 'memory' });
  status('This browser cannot store data on the device here: records last until the tab closes.', true);
}
await db.exec(`CREATE TABLE IF NOT EXISTS records(
  id TEXT PRIMARY KEY, title TEXT NOT NULL, notes TEXT, status TEXT NOT NULL, quantity INTEGER NOT NULL,
  updated INTEGER NOT NULL)`);

async function render() {
  const rows = await db.query('SELECT * FROM records ORDER BY updated DESC');
  const list = $('#records');
  list.replaceChildren(
    ...rows.map((r) => {
      const li = document.createElement('li');
      const title = document.createElement('strong');
      title.textContent = `${r.title} (${r.quantity})`;
      const meta = document.createElement('span');
      meta.className = 'meta';
      meta.textContent = `${r.status} · ${new Date(r.updated).toLocaleString()}${r.notes ? ' · ' + r.notes : ''}`;
      const del = document.createElement('button');
      del.textContent = 'Delete';
      del.onclick = async () => {
        await db.exec('DELETE FROM records WHERE id = ?', [r.id]);
        await render();
      };
      li.append(title, del, meta);
      return li;
    }),
  );
  if (db.storage === 'opfs') status(`${rows.length} record${rows.length === 1 ? '' : 's'}, saved on this device`);
  await showStorage();
}

async function showStorage(persisted) {
  const { usage, quota } = await storageEstimate();
  if (usage === undefined) return;
  const share = quota ? usage / quota : 0;
  let text = `Storage: ${(usage / 1e6).toFixed(1)} MB of ${(quota / 1e6).toFixed(0)} MB`;
  if (share > 0.8) text += ' — nearly full: delete old records or download a copy';
  if (persisted === false) text += ' · The browser may clear this data under storage pressure; install the app to keep it.';
  $('#storage').textContent = text;
  $('#storage').classList.toggle('warn', share > 0.8 || persisted === false);
}

$('#new-record').onsubmit = async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    await db.exec('INSERT INTO records VALUES (:id, :title, :notes, :status, :quantity, :updated)', {
      id: crypto.randomUUID(),
      title: form.get('title'),
      notes: form.get('notes'),
      status: form.get('status'),
      quantity: Number(form.get('quantity')),
      updated: Date.now(),
    });
    event.target.reset();
    await render();
  } catch (e) {
    status(e instanceof OutpostError ? `Not saved: ${e.message}` : String(e), true);
  }
};

$('#persist').onclick = async () => {
  const { persisted } = await requestPersistentStorage();
  $('#persist').hidden = persisted;
  await showStorage(persisted);
};

$('#export').onclick = async () => {
  const bytes = await db.export();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/vnd.sqlite3' }));
  a.download = 'field-log.sqlite3';
  a.click();
  URL.revokeObjectURL(a.href);
};

await render();
