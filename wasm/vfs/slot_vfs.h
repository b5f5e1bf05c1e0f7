// SlotVfs: an SQLite VFS over a fixed pool of storage slots (see slot_backend.h). The design follows the
// opfs-sahpool VFS: every SQLite file (database, WAL, rollback journal) lives in one slot whose first 4 KiB
// are a header naming the file; data starts at kHeaderSize.
//
// Slot header (little-endian):
//   [0, 512)   file path, UTF-8, NUL-terminated; empty = free slot
//   [512, 516) SQLITE_OPEN_* flags the file was created with
//   [516, 520) generation: when two slots claim one path (a crash during ReplaceFile), the higher one wins
//   [520, 528) FNV-1a 64 digest of [0, 520); a slot whose digest does not match is free
//
// Invariants:
//  - The VFS owns its slots exclusively (the backend's handles are locks), so file sizes are cached: a commit
//    costs only writes and, when SQLite syncs, one flush; never a size query.
//  - Every write result is checked: a short or failed write is SQLITE_FULL (quota) or SQLITE_IOERR_WRITE,
//    with the reason kept for xGetLastError / LastError(). Nothing already flushed is touched by a failure.
//  - WAL appends are coalesced: the frames of one commit reach the backend as one write, issued when the
//    commit frame (a WAL frame header with a non-zero "database size" field) has been appended, before SQLite
//    updates its WAL index, so a failed write still fails the commit cleanly. Any other access to the WAL
//    (read, sync, truncate, close, a non-contiguous write) first drains the pending bytes.
//  - A checkpoint's writes to the database file are coalesced the same way, between SQLite's
//    SQLITE_FCNTL_CKPT_START and SQLITE_FCNTL_CKPT_DONE: it copies pages in ascending order, so the pages new
//    since the last checkpoint (appended at the end of the file) reach the backend as one write instead of one
//    each. CKPT_DONE drains. SQLite ignores its result, so a failed drain is kept and returned by the
//    database file's next truncate or sync: a checkpoint that copied the whole WAL (always the case with one
//    exclusive connection) truncates the file next, so it fails, the WAL is not reset, the pages stay
//    readable from it, and the next checkpoint copies them again.
//  - Temporary files (DELETEONCLOSE, or a flag type that is not MAIN_DB/MAIN_JOURNAL/WAL/SUPER_JOURNAL) are
//    freed on close and on the next Init(), so a crash cannot leak slots.
#ifndef OUTPOST_VFS_SLOT_VFS_H_
#define OUTPOST_VFS_SLOT_VFS_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "outpost/status.h"
#include "slot_backend.h"
#include "sqlite3.h"

namespace outpost::vfs {

class SlotVfs {
 public:
  static constexpr int64_t kHeaderSize = 4096;
  static constexpr int kMaxPath = 512;               // including the terminating NUL
  static constexpr size_t kMaxPendingWal = 1 << 20;  // drain coalesced writes beyond this many bytes

  // `backend` must outlive this object.
  SlotVfs(std::string name, SlotBackend* backend);
  ~SlotVfs();
  SlotVfs(const SlotVfs&) = delete;
  SlotVfs& operator=(const SlotVfs&) = delete;

  // Reads every slot header, frees invalid, temporary and superseded slots, and registers the VFS with
  // SQLite under name(). Must succeed before any database is opened through it.
  Status Init();

  // Atomically replaces the contents of the (closed) file `path` with `bytes` and deletes its -wal and
  // -journal: either the old or the new file survives a crash at any point. Used by import().
  Status ReplaceFile(const std::string& path, const std::vector<uint8_t>& bytes);

  const std::string& name() const { return name_; }
  int Capacity() const { return static_cast<int>(slots_.size()); }
  int FilesInUse() const;
  std::vector<std::string> FileNames() const;
  // The last error the VFS saw, in words (also reported through xGetLastError).
  const std::string& LastError() const { return last_error_; }

 private:
  struct Slot {
    std::string path;  // empty = free
    uint32_t flags = 0;
    uint32_t generation = 0;
    int64_t size = 0;  // cached data size (excluding the header)
    int open_count = 0;
  };
  struct File;  // the sqlite3_file subclass

  int FindSlot(const std::string& path) const;
  int FreeSlot() const;
  bool WriteHeader(int slot, const std::string& path, uint32_t flags, uint32_t generation);
  void Release(int slot);  // clears the header and the data, leaves the slot free
  int WriteFailure(int64_t result, int64_t wanted, int slot);
  int WriteThrough(File* f, const uint8_t* src, int64_t amount, int64_t offset);
  int Drain(File* f);  // writes a file's pending (coalesced) bytes
  void SetError(std::string message) { last_error_ = std::move(message); }

  // sqlite3_vfs and sqlite3_io_methods entry points.
  static int xOpen(sqlite3_vfs*, sqlite3_filename, sqlite3_file*, int flags, int* out_flags);
  static int xDelete(sqlite3_vfs*, const char* path, int sync_dir);
  static int xAccess(sqlite3_vfs*, const char* path, int flags, int* out);
  static int xFullPathname(sqlite3_vfs*, const char* path, int n, char* out);
  static int xRandomness(sqlite3_vfs*, int n, char* out);
  static int xSleep(sqlite3_vfs*, int micros);
  static int xCurrentTime(sqlite3_vfs*, double* out);
  static int xCurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out);
  static int xGetLastError(sqlite3_vfs*, int n, char* out);
  static int xClose(sqlite3_file*);
  static int xRead(sqlite3_file*, void*, int amount, sqlite3_int64 offset);
  static int xWrite(sqlite3_file*, const void*, int amount, sqlite3_int64 offset);
  static int xTruncate(sqlite3_file*, sqlite3_int64 size);
  static int xSync(sqlite3_file*, int flags);
  static int xFileSize(sqlite3_file*, sqlite3_int64* out);
  static int xLock(sqlite3_file*, int level);
  static int xUnlock(sqlite3_file*, int level);
  static int xCheckReservedLock(sqlite3_file*, int* out);
  static int xFileControl(sqlite3_file*, int op, void* arg);
  static int xSectorSize(sqlite3_file*);
  static int xDeviceCharacteristics(sqlite3_file*);

  static const sqlite3_io_methods kIoMethods;

  std::string name_;
  SlotBackend* backend_;
  sqlite3_vfs vfs_{};
  bool registered_ = false;
  std::vector<Slot> slots_;
  std::string last_error_;
  uint32_t temp_counter_ = 0;
};

// FNV-1a 64 over the header bytes the digest covers; exposed for tests that forge or corrupt headers.
uint64_t HeaderDigest(const uint8_t* header);

}  // namespace outpost::vfs

#endif  // OUTPOST_VFS_SLOT_VFS_H_
