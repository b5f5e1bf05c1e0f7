// The contract between the service worker and the pages it controls, in one place: the message types they
// exchange and the Background Sync tag. Both sides import it, so a rename cannot leave one side behind.

/** Page → waiting service worker: the user agreed to the update (workbox-window's messageSkipWaiting()). */
export const SKIP_WAITING = 'SKIP_WAITING';

/**
 * Service worker → page, on a `sync` event: "flush the outbox now". The page answers on the MessagePort it
 * receives with a FlushAnswer: { handled: boolean, pending?: number, error?: string }. `handled` is false
 * when that page has no database open (another tab holds it).
 */
export const FLUSH_OUTBOX = 'outpost:flush-outbox';

/** The Background Sync tag a page registers while its outbox holds operations the server has not acknowledged. */
export const OUTBOX_SYNC_TAG = 'outpost-outbox';
