// Background Sync, page side. While the outbox holds operations the server has not acknowledged, the page
// registers the OUTBOX_SYNC_TAG; when the browser fires `sync` for it, the service worker (sync-wakeup.js)
// asks the open pages to flush and this module answers with db.sync.now(). Where the Background Sync API is
// missing (Firefox, Safari), the page flushes on `online` events and on start instead.
import { FLUSH_OUTBOX, OUTBOX_SYNC_TAG } from '../messages.js';

/**
 * @param {import('../../js/index').Database} db  a database opened with { sync }
 * @returns {() => void} disconnects (stops answering, stops registering)
 */
export function connectBackgroundSync(db, { tag = OUTBOX_SYNC_TAG } = {}) {
  const cleanups = [];
  const listen = (target, type, fn) => {
    target.addEventListener(type, fn);
    cleanups.push(() => target.removeEventListener(type, fn));
  };

  if ('serviceWorker' in navigator) {
    listen(navigator.serviceWorker, 'message', (event) => {
      if (event.data?.type === FLUSH_OUTBOX && event.ports[0]) answerFlush(db, event.ports[0]);
    });
    navigator.serviceWorker.startMessages();
  }

  if (typeof SyncManager !== 'undefined' && 'serviceWorker' in navigator) {
    // One registration per stretch of non-empty outbox: the browser coalesces a tag anyway, this only spares
    // an IPC per write.
    let registered = false;
    const onStatus = (status) => {
      if (status.pending === 0) registered = false;
      else if (!registered) {
        registered = true;
        registerTag(tag).catch(() => {
          registered = false; // denied or no active worker yet: try again on the next status
        });
      }
    };
    cleanups.push(db.on('status', onStatus));
    if (db.sync.status) onStatus(db.sync.status);
  } else {
    const flush = () => db.sync.now().catch(() => {});
    listen(window, 'online', flush);
    flush();
  }
  return () => cleanups.splice(0).forEach((fn) => fn());
}

async function registerTag(tag) {
  const registration = await navigator.serviceWorker.ready;
  await registration.sync.register(tag);
}

async function answerFlush(db, port) {
  try {
    const status = await db.sync.now();
    port.postMessage({ handled: true, pending: status.pending });
  } catch (error) {
    port.postMessage({ handled: true, pending: db.sync.status?.pending, error: String(error?.message ?? error) });
  }
}
