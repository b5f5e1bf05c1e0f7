// The storage seam under our SQLite VFS: a fixed pool of byte-addressable files ("slots"). In the browser
// each slot is a pre-opened OPFS FileSystemSyncAccessHandle (opfs_backend.cc); in native tests it is memory
// (memory_backend.h). Everything above this interface (path mapping, headers, error mapping, size caching)
// is the same code in both, so GoogleTest covers it natively.
#ifndef OUTPOST_VFS_SLOT_BACKEND_H_
#define OUTPOST_VFS_SLOT_BACKEND_H_

#include <cstdint>

namespace outpost::vfs {

// Result of a failed write, as reported by a backend.
enum WriteError : int64_t {
  kWriteQuota = -2,  // the storage quota is exhausted (QuotaExceededError)
  kWriteIo = -1,     // any other failure (handle closed, I/O error)
};

class SlotBackend {
 public:
  virtual ~SlotBackend() = default;

  virtual int SlotCount() const = 0;
  // Reads up to n bytes at offset into dst. Returns the byte count (short at end of file) or -1 on error.
  virtual int64_t Read(int slot, uint8_t* dst, int64_t n, int64_t offset) = 0;
  // Writes n bytes. Returns the byte count the storage reported, or a WriteError. Anything but n is a
  // failure: browsers report quota exhaustion as short or absurd counts as well as exceptions.
  virtual int64_t Write(int slot, const uint8_t* src, int64_t n, int64_t offset) = 0;
  virtual bool Truncate(int slot, int64_t size) = 0;
  virtual int64_t Size(int slot) = 0;  // -1 on error
  virtual bool Flush(int slot) = 0;

  // What SQLite needs from the host besides files.
  virtual void Randomness(uint8_t* dst, int n) = 0;
  virtual double NowMs() = 0;  // Unix epoch milliseconds
};

}  // namespace outpost::vfs

#endif  // OUTPOST_VFS_SLOT_BACKEND_H_
