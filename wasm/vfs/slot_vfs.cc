// SlotVfs implementation: path → slot mapping, slot headers, and the SQLite VFS methods over SlotBackend.
#include "slot_vfs.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace outpost::vfs {
namespace {

constexpr int kFlagsOffset = 512;
constexpr int kGenerationOffset = 516;
constexpr int kDigestOffset = 520;
constexpr int kDigestCovers = 520;
constexpr uint32_t kPersistentTypes =
    SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_SUPER_JOURNAL | SQLITE_OPEN_WAL;

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
bool IsPersistent(uint32_t flags) {
  return (flags & kPersistentTypes) != 0 && (flags & SQLITE_OPEN_DELETEONCLOSE) == 0;
}
std::string Normalize(const char* path) {
  std::string p = path ? path : "";
  if (p.empty() || p[0] != '/') p.insert(p.begin(), '/');
  return p;
}

}  // namespace

uint64_t HeaderDigest(const uint8_t* header) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int i = 0; i < kDigestCovers; ++i) {
    h ^= header[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

struct SlotVfs::File {
  sqlite3_file base;
  SlotVfs* vfs;
  int slot;
  int flags;
  int lock;
  // WAL and main database files: writes not yet handed to the backend (see the header's invariants).
  std::vector<uint8_t>* pending;
  int64_t pending_offset;
  bool coalesce;           // WAL: always; main database: during a checkpoint
  int checkpoint_rc;       // main database: the failed drain of CKPT_DONE, for the next truncate or sync
  bool commit_frame_next;  // the last write was a commit frame's header: its page completes the commit
};

const sqlite3_io_methods SlotVfs::kIoMethods = {
    1,  // iVersion: no shared memory; WAL needs locking_mode=EXCLUSIVE, which Database sets first.
    &SlotVfs::xClose,
    &SlotVfs::xRead,
    &SlotVfs::xWrite,
    &SlotVfs::xTruncate,
    &SlotVfs::xSync,
    &SlotVfs::xFileSize,
    &SlotVfs::xLock,
    &SlotVfs::xUnlock,
    &SlotVfs::xCheckReservedLock,
    &SlotVfs::xFileControl,
    &SlotVfs::xSectorSize,
    &SlotVfs::xDeviceCharacteristics,
    nullptr,  // xShmMap
    nullptr,  // xShmLock
    nullptr,  // xShmBarrier
    nullptr,  // xShmUnmap
    nullptr,  // xFetch
    nullptr,  // xUnfetch
};

SlotVfs::SlotVfs(std::string name, SlotBackend* backend) : name_(std::move(name)), backend_(backend) {
  vfs_.iVersion = 2;
  vfs_.szOsFile = sizeof(File);
  vfs_.mxPathname = kMaxPath;
  vfs_.zName = name_.c_str();
  vfs_.pAppData = this;
  vfs_.xOpen = &SlotVfs::xOpen;
  vfs_.xDelete = &SlotVfs::xDelete;
  vfs_.xAccess = &SlotVfs::xAccess;
  vfs_.xFullPathname = &SlotVfs::xFullPathname;
  vfs_.xRandomness = &SlotVfs::xRandomness;
  vfs_.xSleep = &SlotVfs::xSleep;
  vfs_.xCurrentTime = &SlotVfs::xCurrentTime;
  vfs_.xGetLastError = &SlotVfs::xGetLastError;
  vfs_.xCurrentTimeInt64 = &SlotVfs::xCurrentTimeInt64;
}

SlotVfs::~SlotVfs() {
  if (registered_) sqlite3_vfs_unregister(&vfs_);
}

Status SlotVfs::Init() {
  slots_.assign(backend_->SlotCount(), Slot{});
  std::vector<uint8_t> header(kHeaderSize);
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
    int64_t size = backend_->Size(i);
    if (size < 0)
      return Status::Error("OPFS_UNAVAILABLE", "Cannot read the size of storage slot " + std::to_string(i) +
                                                   "; reload the page, and if it persists clear the site's storage.");
    bool valid = false;
    if (size >= kHeaderSize && backend_->Read(i, header.data(), kHeaderSize, 0) == kHeaderSize) {
      uint64_t digest = 0;
      for (int b = 0; b < 8; ++b) digest |= static_cast<uint64_t>(header[kDigestOffset + b]) << (8 * b);
      uint32_t flags = GetU32(&header[kFlagsOffset]);
      const char* path = reinterpret_cast<const char*>(header.data());
      size_t len = strnlen(path, kMaxPath);
      if (digest == HeaderDigest(header.data()) && len > 0 && len < kMaxPath && IsPersistent(flags)) {
        slots_[i].path.assign(path, len);
        slots_[i].flags = flags;
        slots_[i].generation = GetU32(&header[kGenerationOffset]);
        slots_[i].size = size - kHeaderSize;
        valid = true;
      }
    }
    if (!valid && size > 0) Release(i);  // garbage, a temp file, or a half-written slot: reclaim it
  }
  // Two slots naming one path: only ReplaceFile makes that, and the higher generation is the committed one.
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
    for (int j = i + 1; j < static_cast<int>(slots_.size()); ++j) {
      if (slots_[i].path.empty() || slots_[i].path != slots_[j].path) continue;
      Release(slots_[i].generation >= slots_[j].generation ? j : i);
    }
  }
  if (!registered_) {
    int rc = sqlite3_vfs_register(&vfs_, 0);
    if (rc != SQLITE_OK) return Status::FromSqlite(rc, "registering VFS " + name_);
    registered_ = true;
  }
  return Status::OK();
}

int SlotVfs::FindSlot(const std::string& path) const {
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i)
    if (slots_[i].path == path) return i;
  return -1;
}

int SlotVfs::FreeSlot() const {
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i)
    if (slots_[i].path.empty() && slots_[i].open_count == 0) return i;
  return -1;
}

int SlotVfs::FilesInUse() const {
  return static_cast<int>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.path.empty(); }));
}

std::vector<std::string> SlotVfs::FileNames() const {
  std::vector<std::string> names;
  for (const Slot& s : slots_)
    if (!s.path.empty()) names.push_back(s.path);
  return names;
}

bool SlotVfs::WriteHeader(int slot, const std::string& path, uint32_t flags, uint32_t generation) {
  uint8_t header[kHeaderSize] = {};
  std::memcpy(header, path.data(), std::min<size_t>(path.size(), kMaxPath - 1));
  PutU32(&header[kFlagsOffset], flags);
  PutU32(&header[kGenerationOffset], generation);
  uint64_t digest = HeaderDigest(header);
  for (int b = 0; b < 8; ++b) header[kDigestOffset + b] = static_cast<uint8_t>(digest >> (8 * b));
  // Only the first sector carries information; writing 4 KiB keeps the write sector-aligned.
  int64_t wrote = backend_->Write(slot, header, kHeaderSize, 0);
  if (wrote != kHeaderSize) {
    WriteFailure(wrote, kHeaderSize, slot);
    return false;
  }
  return true;
}

void SlotVfs::Release(int slot) {
  // A zeroed header is an invalid digest, so the slot reads as free even if the truncate is lost.
  uint8_t zero[kHeaderSize] = {};
  backend_->Write(slot, zero, kHeaderSize, 0);
  backend_->Truncate(slot, kHeaderSize);
  slots_[slot] = Slot{};
}

int SlotVfs::WriteFailure(int64_t result, int64_t wanted, int slot) {
  const std::string& path = slots_[slot].path;
  if (result == kWriteIo) {
    SetError("write to " + path + " failed (storage handle unusable)");
    return SQLITE_IOERR_WRITE;
  }
  SetError("write to " + path + " stored " + std::to_string(result < 0 ? 0 : result) + " of " + std::to_string(wanted) +
           " bytes: storage quota exhausted");
  return SQLITE_FULL;
}

Status SlotVfs::ReplaceFile(const std::string& raw_path, const std::vector<uint8_t>& bytes) {
  const std::string path = Normalize(raw_path.c_str());
  int old = FindSlot(path);
  if (old >= 0 && slots_[old].open_count > 0)
    return Status::Error("INVALID_STATE", "Close the database before replacing " + path + ".");
  for (const char* suffix : {"-wal", "-journal"}) {
    int s = FindSlot(path + suffix);
    if (s >= 0 && slots_[s].open_count > 0)
      return Status::Error("INVALID_STATE", "Close the database before replacing " + path + ".");
  }
  int fresh = FreeSlot();
  if (fresh < 0)
    return Status::Error(
        "SQLITE_FULL",
        "The storage pool has no free slot for the new file; close other databases or open with a larger pool.");
  // 1. The new contents under a temporary, non-persistent header: a crash here leaves a slot Init() frees.
  auto failed = [&](const char* what) {
    Release(fresh);
    return Status::Error("SQLITE_FULL", std::string("Writing the imported database failed (") + what +
                                            "): " + last_error_ + ". The existing database is unchanged.");
  };
  if (!WriteHeader(fresh, "/.import", SQLITE_OPEN_TEMP_DB, 0)) return failed("header");
  if (!bytes.empty()) {
    int64_t wrote = backend_->Write(fresh, bytes.data(), static_cast<int64_t>(bytes.size()), kHeaderSize);
    if (wrote != static_cast<int64_t>(bytes.size())) {
      WriteFailure(wrote, static_cast<int64_t>(bytes.size()), fresh);
      return failed("data");
    }
  }
  if (!backend_->Truncate(fresh, kHeaderSize + static_cast<int64_t>(bytes.size())) || !backend_->Flush(fresh))
    return failed("flush");
  // 2. Any WAL or journal belongs to the old file: drop them first (old file stays consistent without them
  //    only because the caller checkpointed and closed it).
  for (const char* suffix : {"-wal", "-journal"}) {
    int s = FindSlot(path + suffix);
    if (s >= 0) {
      Release(s);
      backend_->Flush(s);
    }
  }
  // 3. The commit point: one header write naming the path with a higher generation.
  uint32_t generation = old >= 0 ? slots_[old].generation + 1 : 1;
  if (!WriteHeader(fresh, path, SQLITE_OPEN_MAIN_DB, generation) || !backend_->Flush(fresh)) return failed("commit");
  slots_[fresh].path = path;
  slots_[fresh].flags = SQLITE_OPEN_MAIN_DB;
  slots_[fresh].generation = generation;
  slots_[fresh].size = static_cast<int64_t>(bytes.size());
  if (old >= 0) {
    Release(old);
    backend_->Flush(old);
  }
  return Status::OK();
}

// --- sqlite3_vfs methods -------------------------------------------------------------------------------

int SlotVfs::xOpen(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* base, int flags, int* out_flags) {
  auto* self = static_cast<SlotVfs*>(vfs->pAppData);
  auto* file = reinterpret_cast<File*>(base);
  file->base.pMethods = nullptr;  // SQLite calls xClose only when pMethods is set
  std::string path;
  if (name) {
    path = Normalize(name);
  } else {
    path = "/.temp-" + std::to_string(++self->temp_counter_);
    flags |= SQLITE_OPEN_DELETEONCLOSE;
  }
  if (path.size() >= kMaxPath) {
    self->SetError("path too long: " + path);
    return SQLITE_CANTOPEN;
  }
  int slot = self->FindSlot(path);
  if (slot < 0) {
    if (!(flags & SQLITE_OPEN_CREATE)) {
      self->SetError("no such file: " + path);
      return SQLITE_CANTOPEN;
    }
    slot = self->FreeSlot();
    if (slot < 0) {
      self->SetError("storage pool is full (" + std::to_string(self->slots_.size()) + " slots) opening " + path);
      return SQLITE_CANTOPEN;
    }
    // The header reaches the disk with the file's first flush (same handle), before any commit depends on it.
    if (!self->WriteHeader(slot, path, static_cast<uint32_t>(flags), 1)) return SQLITE_CANTOPEN;
    if (!self->backend_->Truncate(slot, kHeaderSize)) {
      self->SetError("cannot truncate new file " + path);
      return SQLITE_CANTOPEN;
    }
    Slot& s = self->slots_[slot];
    s.path = path;
    s.flags = static_cast<uint32_t>(flags);
    s.generation = 1;
    s.size = 0;
  }
  self->slots_[slot].open_count++;
  file->vfs = self;
  file->slot = slot;
  file->flags = flags;
  file->lock = SQLITE_LOCK_NONE;
  const bool wal = flags & SQLITE_OPEN_WAL;
  file->pending = wal || (flags & SQLITE_OPEN_MAIN_DB) ? new std::vector<uint8_t>() : nullptr;
  file->pending_offset = 0;
  file->coalesce = wal;
  file->checkpoint_rc = SQLITE_OK;
  file->commit_frame_next = false;
  file->base.pMethods = &kIoMethods;
  if (out_flags) *out_flags = flags;
  return SQLITE_OK;
}

int SlotVfs::xDelete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  auto* self = static_cast<SlotVfs*>(vfs->pAppData);
  int slot = self->FindSlot(Normalize(name));
  if (slot < 0) return SQLITE_IOERR_DELETE_NOENT;
  self->Release(slot);
  if (sync_dir) self->backend_->Flush(slot);
  return SQLITE_OK;
}

int SlotVfs::xAccess(sqlite3_vfs* vfs, const char* name, int, int* out) {
  auto* self = static_cast<SlotVfs*>(vfs->pAppData);
  int slot = self->FindSlot(Normalize(name));
  // Like the unix VFS, an empty file does not "exist" (SQLite relies on this for WAL files).
  *out = slot >= 0 && (self->slots_[slot].size > 0 || self->slots_[slot].open_count > 0);
  return SQLITE_OK;
}

int SlotVfs::xFullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  std::string p = Normalize(name);
  if (static_cast<int>(p.size()) >= n) return SQLITE_CANTOPEN;
  std::memcpy(out, p.c_str(), p.size() + 1);
  return SQLITE_OK;
}

int SlotVfs::xRandomness(sqlite3_vfs* vfs, int n, char* out) {
  static_cast<SlotVfs*>(vfs->pAppData)->backend_->Randomness(reinterpret_cast<uint8_t*>(out), n);
  return n;
}

int SlotVfs::xSleep(sqlite3_vfs*, int micros) { return micros; }  // never blocks: nobody else holds our locks

int SlotVfs::xCurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  // Julian day in milliseconds, as SQLite expects.
  *out = static_cast<sqlite3_int64>(static_cast<SlotVfs*>(vfs->pAppData)->backend_->NowMs()) + 210866760000000ll;
  return SQLITE_OK;
}

int SlotVfs::xCurrentTime(sqlite3_vfs* vfs, double* out) {
  sqlite3_int64 ms = 0;
  xCurrentTimeInt64(vfs, &ms);
  *out = static_cast<double>(ms) / 86400000.0;
  return SQLITE_OK;
}

int SlotVfs::xGetLastError(sqlite3_vfs* vfs, int n, char* out) {
  const std::string& e = static_cast<SlotVfs*>(vfs->pAppData)->last_error_;
  if (n > 0) {
    size_t len = std::min<size_t>(e.size(), static_cast<size_t>(n - 1));
    std::memcpy(out, e.data(), len);
    out[len] = 0;
  }
  return 0;
}

// --- sqlite3_io_methods --------------------------------------------------------------------------------

int SlotVfs::xClose(sqlite3_file* base) {
  auto* f = reinterpret_cast<File*>(base);
  int rc = f->vfs->Drain(f);
  delete f->pending;
  f->pending = nullptr;
  Slot& s = f->vfs->slots_[f->slot];
  s.open_count--;
  if ((f->flags & SQLITE_OPEN_DELETEONCLOSE) && s.open_count == 0) f->vfs->Release(f->slot);
  return rc;
}

int SlotVfs::xRead(sqlite3_file* base, void* dst, int amount, sqlite3_int64 offset) {
  auto* f = reinterpret_cast<File*>(base);
  Slot& s = f->vfs->slots_[f->slot];
  if (f->pending && !f->pending->empty() && offset + amount > f->pending_offset) {
    int rc = f->vfs->Drain(f);
    if (rc != SQLITE_OK) return rc;
  }
  auto* out = static_cast<uint8_t*>(dst);
  int64_t got = 0;
  if (offset < s.size) {
    got = f->vfs->backend_->Read(f->slot, out, std::min<int64_t>(amount, s.size - offset), kHeaderSize + offset);
    if (got < 0) {
      f->vfs->SetError("read from " + s.path + " failed");
      return SQLITE_IOERR_READ;
    }
  }
  if (got < amount) {
    std::memset(out + got, 0, amount - got);  // SQLite requires the unread tail zeroed
    return SQLITE_IOERR_SHORT_READ;
  }
  return SQLITE_OK;
}

int SlotVfs::WriteThrough(File* f, const uint8_t* src, int64_t amount, int64_t offset) {
  int64_t wrote = backend_->Write(f->slot, src, amount, kHeaderSize + offset);
  Slot& s = slots_[f->slot];
  if (wrote != amount) {
    // Part of the write may have landed: learn the real size again rather than guess.
    int64_t real = backend_->Size(f->slot);
    if (real >= kHeaderSize) s.size = real - kHeaderSize;
    return WriteFailure(wrote, amount, f->slot);
  }
  s.size = std::max<int64_t>(s.size, offset + amount);
  return SQLITE_OK;
}

int SlotVfs::Drain(File* f) {
  if (!f->pending || f->pending->empty()) return SQLITE_OK;
  int rc = WriteThrough(f, f->pending->data(), static_cast<int64_t>(f->pending->size()), f->pending_offset);
  f->pending->clear();
  f->commit_frame_next = false;
  return rc;
}

int SlotVfs::xWrite(sqlite3_file* base, const void* src, int amount, sqlite3_int64 offset) {
  auto* f = reinterpret_cast<File*>(base);
  SlotVfs* self = f->vfs;
  const auto* bytes = static_cast<const uint8_t*>(src);
  if (!f->coalesce) return self->WriteThrough(f, bytes, amount, offset);

  std::vector<uint8_t>& pending = *f->pending;
  if (!pending.empty() && offset != f->pending_offset + static_cast<int64_t>(pending.size())) {
    int rc = self->Drain(f);
    if (rc != SQLITE_OK) return rc;
  }
  if (pending.empty()) f->pending_offset = offset;
  pending.insert(pending.end(), bytes, bytes + amount);
  Slot& s = self->slots_[f->slot];
  s.size = std::max<int64_t>(s.size, offset + amount);

  // A WAL frame header is 24 bytes after the 32-byte file header; bytes 4..7 hold the database size in pages
  // for a commit frame and zero otherwise. The page that follows it completes the commit.
  bool completes_commit = f->commit_frame_next;
  f->commit_frame_next =
      (f->flags & SQLITE_OPEN_WAL) && amount == 24 && offset >= 32 && (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
  if (completes_commit || pending.size() >= kMaxPendingWal) return self->Drain(f);
  return SQLITE_OK;
}

int SlotVfs::xTruncate(sqlite3_file* base, sqlite3_int64 size) {
  auto* f = reinterpret_cast<File*>(base);
  if (int rc = std::exchange(f->checkpoint_rc, SQLITE_OK); rc != SQLITE_OK) return rc;
  int rc = f->vfs->Drain(f);
  if (rc != SQLITE_OK) return rc;
  if (!f->vfs->backend_->Truncate(f->slot, kHeaderSize + size)) {
    f->vfs->SetError("truncate of " + f->vfs->slots_[f->slot].path + " failed");
    return SQLITE_IOERR_TRUNCATE;
  }
  f->vfs->slots_[f->slot].size = size;
  return SQLITE_OK;
}

int SlotVfs::xSync(sqlite3_file* base, int) {
  auto* f = reinterpret_cast<File*>(base);
  if (int rc = std::exchange(f->checkpoint_rc, SQLITE_OK); rc != SQLITE_OK) return rc;
  int rc = f->vfs->Drain(f);
  if (rc != SQLITE_OK) return rc;
  if (!f->vfs->backend_->Flush(f->slot)) {
    f->vfs->SetError("flush of " + f->vfs->slots_[f->slot].path + " failed");
    return SQLITE_IOERR_FSYNC;
  }
  return SQLITE_OK;
}

int SlotVfs::xFileSize(sqlite3_file* base, sqlite3_int64* out) {
  auto* f = reinterpret_cast<File*>(base);
  *out = f->vfs->slots_[f->slot].size;
  return SQLITE_OK;
}

int SlotVfs::xLock(sqlite3_file* base, int level) {
  reinterpret_cast<File*>(base)->lock = level;  // the slot's handle already is an exclusive lock
  return SQLITE_OK;
}

int SlotVfs::xUnlock(sqlite3_file* base, int level) {
  reinterpret_cast<File*>(base)->lock = level;
  return SQLITE_OK;
}

int SlotVfs::xCheckReservedLock(sqlite3_file* base, int* out) {
  *out = reinterpret_cast<File*>(base)->lock >= SQLITE_LOCK_RESERVED;
  return SQLITE_OK;
}

int SlotVfs::xFileControl(sqlite3_file* base, int op, void*) {
  auto* f = reinterpret_cast<File*>(base);
  if (!f->pending || (f->flags & SQLITE_OPEN_WAL)) return SQLITE_NOTFOUND;
  if (op == SQLITE_FCNTL_CKPT_START) {
    f->coalesce = true;
    f->checkpoint_rc = SQLITE_OK;
    return SQLITE_OK;
  }
  if (op == SQLITE_FCNTL_CKPT_DONE) {
    f->coalesce = false;
    f->checkpoint_rc = f->vfs->Drain(f);
    return SQLITE_OK;
  }
  return SQLITE_NOTFOUND;
}

int SlotVfs::xSectorSize(sqlite3_file*) { return 4096; }

int SlotVfs::xDeviceCharacteristics(sqlite3_file*) {
  return SQLITE_IOCAP_UNDELETABLE_WHEN_OPEN | SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

}  // namespace outpost::vfs
