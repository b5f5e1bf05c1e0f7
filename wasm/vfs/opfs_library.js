// The JS half of OpfsBackend (opfs_backend.cc), linked with --js-library. Each function is one synchronous
// FileSystemSyncAccessHandle call on a handle the worker acquired beforehand (js/opfs-pool.js). Exceptions
// never cross into C++: they become return codes (-1 I/O error, -2 quota), and the exception is kept on the
// pool as lastError for the error message.
mergeInto(LibraryManager.library, {
  outpost_opfs_read: function (pool, slot, ptr, n, offset) {
    var p = Module['outpostPools'][pool];
    try {
      return p.handles[slot].read(HEAPU8.subarray(ptr, ptr + n), { at: offset });
    } catch (e) {
      p.lastError = e;
      return -1;
    }
  },
  outpost_opfs_write: function (pool, slot, ptr, n, offset) {
    var p = Module['outpostPools'][pool];
    try {
      // Chromium reports quota exhaustion as an absurd count (0xFFFFFFF8), Firefox as a short one: the C++
      // side treats any count other than n as a failed write.
      return p.handles[slot].write(HEAPU8.subarray(ptr, ptr + n), { at: offset });
    } catch (e) {
      p.lastError = e;
      return e && e.name === 'QuotaExceededError' ? -2 : -1;
    }
  },
  outpost_opfs_truncate: function (pool, slot, size) {
    var p = Module['outpostPools'][pool];
    try {
      p.handles[slot].truncate(size);
      return 0;
    } catch (e) {
      p.lastError = e;
      return -1;
    }
  },
  outpost_opfs_size: function (pool, slot) {
    var p = Module['outpostPools'][pool];
    try {
      return p.handles[slot].getSize();
    } catch (e) {
      p.lastError = e;
      return -1;
    }
  },
  outpost_opfs_flush: function (pool, slot) {
    var p = Module['outpostPools'][pool];
    try {
      p.handles[slot].flush();
      return 0;
    } catch (e) {
      p.lastError = e;
      return -1;
    }
  },
  outpost_random: function (ptr, n) {
    crypto.getRandomValues(HEAPU8.subarray(ptr, ptr + n));
  },
  outpost_now_ms: function () {
    return Date.now();
  },
});
