// The demo: a field-inspection log that keeps its data in Outpost (SQLite over OPFS in a worker) and syncs
// it with outpost-server when the server gave this device a token. Wires the views to the database and the
// service worker; each view is its own module.
import { connectBackgroundSync } from '../../service-worker/window/background-sync.js';
import { registerServiceWorker } from '../../service-worker/window/register-service-worker.js';
import { showConnection } from './connection-banner.js';
import { renderConflicts } from './conflicts.js';
import { requestLink, savedLink } from './device-link.js';
import { $ } from './dom.js';
import { renderFailedOps } from './failed-ops.js';
import { openFieldLog } from './field-log.js';
import { bindRecordForm } from './record-form.js';
import { renderRecords } from './record-list.js';
import { Records } from './records.js';
import { StoragePanel } from './storage-panel.js';
import { showSyncSummary } from './sync-summary.js';
import { offerUpdate } from './update-banner.js';

const say = (text, warn = false) => {
  $('#status').textContent = text;
  $('#status').classList.toggle('warn', warn);
};
const describe = (error) => error?.message ?? String(error);

const storage = new StoragePanel();
let session = null; // { db, records, syncing, memory, stop }

async function refresh() {
  if (!session) return;
  const { db, records, syncing, memory } = session;
  const rows = await records.list();
  renderRecords(rows, {
    onEdit: (record) => form.edit(record),
    onDelete: (record) =>
      records
        .remove(record.id)
        .then(refresh)
        .catch((error) => say(`Not deleted: ${describe(error)}`, true)),
  });
  const where = memory ? 'kept in memory only: this browser cannot store data here' : 'saved on this device';
  say(`${rows.length} record${rows.length === 1 ? '' : 's'}, ${where}`, memory);
  showConnection(syncing ? db.sync.status : null);
  showSyncSummary(syncing ? db.sync.status : null);
  if (syncing) await Promise.all([renderFailedOps(db, { onChange: refresh }), renderConflicts(db, { onChange: refresh })]);
  document.body.dataset.ready = 'true';
}

/** A refresh triggered by an event: nobody awaits it, so its failure is shown rather than thrown. */
const refreshLater = () => refresh().catch((error) => say(`Could not refresh the list: ${describe(error)}`, true));

async function start(link) {
  const opened = await openFieldLog(link);
  const { db, syncing } = opened;
  const stops = [];
  if (syncing) {
    let pending = db.sync.status.pending;
    stops.push(
      db.on('status', (status) => {
        showConnection(status);
        showSyncSummary(status);
        if (status.pending !== pending) {
          pending = status.pending;
          refreshLater(); // badges follow the outbox
        }
      }),
      db.on('change', refreshLater),
      db.on('synced', refreshLater),
      db.on('op-failed', refreshLater),
      db.on('conflict', refreshLater),
      db.on('stale', ({ offlineMs, pending }) =>
        say(`No contact with the server for ${Math.round(offlineMs / 86_400_000)} days; sending ${pending} waiting change(s) now.`, true),
      ),
      db.on('auth-required', async () => {
        const renewed = await requestLink();
        if (renewed) await db.sync.setToken(renewed.token);
        else say('The server no longer accepts this device; changes stay here until it does.', true);
      }),
      connectBackgroundSync(db),
    );
  }
  document.body.dataset.mode = syncing ? 'sync' : 'local';
  session = { ...opened, records: new Records(db, { syncing }), stop: () => stops.forEach((fn) => fn()) };
  window.fieldLog = session; // for the console and the e2e tests
  await refresh();
}

/** Local-only so far and online: ask the server for a token; with one, reopen the database with sync. */
async function linkWhenPossible() {
  if (session?.syncing || !navigator.onLine) return;
  const link = await requestLink();
  if (!link || session?.syncing) return;
  const old = session;
  session = null;
  old.stop();
  await old.db.close();
  await start(link);
}

const form = bindRecordForm(
  {
    create: async (fields) => {
      await session.records.create(fields);
      await storage.afterSave();
    },
    update: (id, fields) => session.records.update(id, fields),
  },
  { onSaved: refresh, onError: (error) => say(`Not saved: ${describe(error)}`, true) },
);

$('#export').onclick = async () => {
  const bytes = await session.db.export();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/vnd.sqlite3' }));
  a.download = 'field-log.sqlite3';
  a.click();
  URL.revokeObjectURL(a.href);
};

for (const type of ['online', 'offline']) {
  window.addEventListener(type, () => {
    if (session) showConnection(session.syncing ? session.db.sync.status : null);
    if (type === 'online') linkWhenPossible();
  });
}
setInterval(() => session?.syncing && showSyncSummary(session.db.sync.status), 30_000);

try {
  // First online start: get the token before opening, so the very first record is already tracked. (Rows
  // written while local-only stay on this device: the outbox records changes from the moment sync is on.)
  await start(savedLink() ?? (navigator.onLine ? await requestLink({ timeoutMs: 3000 }) : null));
  await storage.start();
} catch (error) {
  say(`The local database did not open: ${describe(error)}. Close other tabs of this app and reload.`, true);
  throw error;
}
registerServiceWorker('sw.js', {
  onUpdateAvailable: offerUpdate,
  beforeReload: () => session?.db.close(),
}).catch((error) => console.warn('Service worker not registered:', error));
