// Diagnostic only (never in timed runs): counts FileSystemSyncAccessHandle calls and bytes written by
// wrapping the prototype in this worker, so the per-transaction I/O of each engine can be compared.
export function installIoCounter() {
  const proto = FileSystemSyncAccessHandle.prototype;
  const counts = { read: 0, write: 0, flush: 0, getSize: 0, truncate: 0, bytesWritten: 0, bytesRead: 0 };
  for (const name of ['read', 'write', 'flush', 'getSize', 'truncate']) {
    const real = proto[name];
    proto[name] = function (...args) {
      counts[name]++;
      const result = real.apply(this, args);
      if (name === 'write') counts.bytesWritten += args[0].byteLength;
      if (name === 'read') counts.bytesRead += result;
      return result;
    };
  }
  return {
    reset() {
      for (const k of Object.keys(counts)) counts[k] = 0;
    },
    perTx(n) {
      return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Math.round((v / n) * 100) / 100]));
    },
  };
}
