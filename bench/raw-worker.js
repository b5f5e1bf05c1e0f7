// Case e: the storage floor. One FileSystemSyncAccessHandle, one 4 KiB write per "transaction" at the end of
// the file (as a WAL append would be), with or without flush() after each.
import { summarize } from './workload.js';

self.onmessage = async ({ data: { n, flush, fileName } }) => {
  try {
    const root = await navigator.storage.getDirectory();
    const file = await root.getFileHandle(fileName, { create: true });
    const handle = await file.createSyncAccessHandle();
    handle.truncate(0);
    const page = new Uint8Array(4096);
    for (let i = 0; i < page.length; i++) page[i] = i & 0xff;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      page[0] = i & 0xff;
      const written = handle.write(page, { at: i * 4096 });
      if (written !== 4096) throw new Error(`short write: ${written}`);
      if (flush) handle.flush();
    }
    const ms = performance.now() - t0;
    const size = handle.getSize();
    handle.close();
    await root.removeEntry(fileName);
    self.postMessage(summarize(n, ms, { bytes: size }));
  } catch (e) {
    self.postMessage({ error: `${e?.name ?? 'Error'}: ${e?.message ?? e}` });
  }
};
