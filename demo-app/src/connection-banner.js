// The connection banner: online / degraded / offline, from the sync engine's status when sync is on (it
// knows whether the server answers), from navigator.onLine otherwise.
import { $ } from './dom.js';

const TEXT = {
  online: 'Online',
  degraded: 'Degraded connection: changes are kept on this device and sent when the server answers',
  transitioning: 'Reconnecting…',
  offline: 'Offline: everything still works, changes are sent when the connection is back',
};

/** @param {import('../../js/index').SyncStatus | null} status */
export function showConnection(status) {
  const banner = $('#connection');
  let state = status?.connection ?? (navigator.onLine ? 'online' : 'offline');
  let text = TEXT[state] ?? state;
  if (!status && state === 'online') text = 'Online · local only (no sync server)';
  if (status?.paused) text += ' · sync paused';
  banner.dataset.state = state;
  banner.textContent = text;
}
