// The header's sync line: operations waiting for the server and "last synced N minutes ago".
import { $ } from './dom.js';

export function relativeTime(at, now = Date.now()) {
  const minutes = Math.floor((now - at) / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? '' : 's'} ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} hour${hours === 1 ? '' : 's'} ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

/** @param {import('../../js/index').SyncStatus | null} status */
export function showSyncSummary(status) {
  const line = $('#sync-summary');
  if (!status) {
    line.textContent = '';
    return;
  }
  const pending = `${status.pending} pending`;
  const failed = status.failed ? ` · ${status.failed} failed` : '';
  const last = status.lastSyncedAt ? `last synced ${relativeTime(status.lastSyncedAt)}` : 'never synced';
  line.textContent = `${pending}${failed} · ${last}`;
  line.dataset.pending = String(status.pending);
}
