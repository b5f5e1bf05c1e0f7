// Storage usage, quota and persistence. Browsers may evict an origin's data (OPFS included) under storage
// pressure unless it is persistent, and only the window can ask (navigator.storage.persist() is not
// exposed to workers). The demo asks when the data starts to matter: after the first record is saved, when
// the app is installed, or when the user presses "Keep data on this device"; never on load.
import { requestPersistentStorage, storageEstimate } from '../../js/index.js';
import { $ } from './dom.js';

const WARN_SHARE = 0.8;
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

export class StoragePanel {
  constructor() {
    this.persisted = null; // true, false (asked and refused) or null (not asked yet)
    $('#persist').onclick = () => this.askPersistence();
    window.addEventListener('appinstalled', () => this.askPersistence());
  }

  async start() {
    if (navigator.storage?.persisted && (await navigator.storage.persisted())) this.persisted = true;
    $('#persist').hidden = this.persisted === true || !navigator.storage?.persist;
    await this.refresh();
  }

  /** The sensible moment: the first record saved on this device. */
  async afterSave() {
    if (this.persisted === null) await this.askPersistence();
    else await this.refresh();
  }

  async askPersistence() {
    const { persisted } = await requestPersistentStorage();
    this.persisted = persisted;
    $('#persist').hidden = persisted;
    await this.refresh();
  }

  async refresh() {
    const { usage, quota } = await storageEstimate();
    const node = $('#storage');
    const parts = [];
    let warn = false;
    if (usage !== undefined && quota) {
      const share = usage / quota;
      parts.push(`Storage: ${mb(usage)} of ${mb(quota)} (${(share * 100).toFixed(share < 0.01 ? 2 : 0)}%)`);
      if (share > WARN_SHARE) {
        warn = true;
        parts.push('Nearly full: sync, then delete old records or download a copy, or new changes may fail to save.');
      }
    }
    if (this.persisted === true) parts.push('Kept on this device: the browser will not clear it to free space.');
    if (this.persisted === false) {
      warn = true;
      parts.push(
        'The browser did not make this storage persistent: under storage pressure it may delete this data, ' +
          'including changes not yet sent to the server. Install the app, or sync often.',
      );
    }
    node.textContent = parts.join(' · ');
    node.dataset.persisted = String(this.persisted);
    node.classList.toggle('warn', warn);
  }
}
