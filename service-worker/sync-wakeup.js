// Background Sync, service-worker side. The engine lives in a page's dedicated worker (OPFS sync access
// handles exist nowhere else), so the service worker cannot send the outbox itself. When the browser fires
// `sync` for the outbox tag (connectivity is back, possibly long after the page registered it), the worker
// asks the open pages to flush and keeps the event alive until one answers or the timeout passes.
//
// Outcome → what the browser does next:
//  - a page flushed and nothing is pending: resolve; the tag is done.
//  - no open page, no page holding the database, operations still pending, or no answer: reject, so the
//    browser fires `sync` again later with backoff (Chromium: a few retries, minutes apart).
//  - last chance (event.lastChance): resolve whatever happened; the operations stay in the durable outbox
//    and go out the next time the app opens (the engine flushes on start).
import { FLUSH_OUTBOX, OUTBOX_SYNC_TAG } from './messages.js';

export function wakePagesOnSync({ tag = OUTBOX_SYNC_TAG, timeoutMs = 30_000 } = {}) {
  self.addEventListener('sync', (event) => {
    if (event.tag !== tag) return;
    event.waitUntil(
      flushThroughPages(timeoutMs).catch((error) => {
        if (!event.lastChance) throw error;
      }),
    );
  });
}

/**
 * Resolves as soon as one page reports a drained outbox (only one tab can hold the database); rejects when
 * every page answered otherwise or stayed silent for timeoutMs (a page that never opened the database does
 * not answer at all).
 */
async function flushThroughPages(timeoutMs) {
  const pages = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  if (pages.length === 0) throw new Error('No open page to flush the outbox; the browser will retry.');
  return new Promise((resolve, reject) => {
    let left = pages.length;
    let failure = 'No open page holds the database, or none answered in time.';
    for (const page of pages) {
      askToFlush(page, timeoutMs).then((answer) => {
        if (answer.handled && !answer.error && !(answer.pending > 0)) resolve();
        else if (answer.handled) failure = answer.error ?? `${answer.pending} operation(s) still pending.`;
        if (--left === 0) reject(new Error(failure));
      });
    }
  });
}

/** Posts FLUSH_OUTBOX to one page; resolves with its answer, or { handled: false } after timeoutMs. */
function askToFlush(page, timeoutMs) {
  const channel = new MessageChannel();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      channel.port1.close();
      resolve({ handled: false, timedOut: true });
    }, timeoutMs);
    channel.port1.onmessage = (event) => {
      clearTimeout(timer);
      channel.port1.close();
      resolve(event.data ?? { handled: false });
    };
    page.postMessage({ type: FLUSH_OUTBOX }, [channel.port2]);
  });
}
