// Acquires the pool of FileSystemSyncAccessHandles behind one database, in the worker, before the engine
// opens it (the engine's VFS calls are synchronous and cannot wait for OPFS). Holding the handles is the
// database's lock: a second tab cannot create them, and gets DB_LOCKED after a bounded retry instead of a
// silent empty database.
import { ErrorCode, OutpostError } from './errors.js';

const ROOT = '.outpost';

export function opfsSupported() {
  return (
    typeof navigator !== 'undefined' &&
    typeof navigator.storage?.getDirectory === 'function' &&
    typeof FileSystemFileHandle !== 'undefined' &&
    typeof FileSystemFileHandle.prototype.createSyncAccessHandle === 'function'
  );
}

const unavailable = (why, cause) =>
  new OutpostError(
    ErrorCode.OPFS_UNAVAILABLE,
    `The Origin Private File System is not available here (${why}). Serve the app from https or localhost in a ` +
      `browser that supports OPFS, outside private browsing, or open with { storage: 'memory' } for a ` +
      `database that is not persisted.`,
    { cause },
  );

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @param {string} name       database name (already validated)
 * @param {number} slots      pool size
 * @param {number} timeoutMs  how long to wait for another holder to let go
 * @returns {Promise<{ handles: FileSystemSyncAccessHandle[], close(): void, lastError?: unknown }>}
 */
export async function acquirePool(name, slots, timeoutMs) {
  if (!opfsSupported()) throw unavailable('no FileSystemSyncAccessHandle in this context');
  let files;
  try {
    const root = await navigator.storage.getDirectory();
    const top = await root.getDirectoryHandle(ROOT, { create: true });
    const dir = await top.getDirectoryHandle(name, { create: true });
    files = await Promise.all(Array.from({ length: slots }, (_, i) => dir.getFileHandle(`slot-${i}`, { create: true })));
  } catch (e) {
    throw unavailable(`${e?.name ?? 'Error'}: ${e?.message ?? e}`, e);
  }

  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const results = await Promise.allSettled(files.map((file) => file.createSyncAccessHandle()));
    const handles = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    const failure = results.find((r) => r.status === 'rejected');
    if (!failure) {
      return {
        handles,
        close() {
          // close() does not imply flush() in any browser: flush first so relaxed-mode data reaches the disk.
          for (const h of handles) {
            try {
              h.flush();
              h.close();
            } catch {
              /* already closed */
            }
          }
        },
      };
    }
    for (const h of handles) h.close();
    const e = failure.reason;
    const busy = e?.name === 'NoModificationAllowedError' || e?.name === 'InvalidStateError';
    if (!busy) throw unavailable(`${e?.name ?? 'Error'}: ${e?.message ?? e}`, e);
    // Locks can outlive a reload or crash for a moment; another tab holds them for as long as it is open.
    if (Date.now() >= deadline) {
      throw new OutpostError(
        ErrorCode.DB_LOCKED,
        `The database "${name}" is open in another tab or worker. Close the other tab (or call close() there) ` +
          `and try again; sharing one database between tabs is not supported yet.`,
        { cause: e },
      );
    }
    await sleep(Math.min(50 * 2 ** attempt, 500, Math.max(0, deadline - Date.now())));
  }
}
