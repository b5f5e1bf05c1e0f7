// The connection banner: online / degraded / offline, from the sync engine's status when sync is on (it
// knows whether the server answers), from navigator.onLine otherwise. When the browser itself says there is
// no network, that is final: the engine's "reconnecting" grace period does not apply.
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
  const state = !navigator.onLine ? 'offline' : (status?.connection ?? 'online');
  let text = TEXT[state] ?? state;
  if (!status && state === 'online') text = 'Online · local only (no sync server)';
  if (status?.paused) text += ' · sync paused';
  banner.dataset.state = state;
  banner.textContent = text;
}
