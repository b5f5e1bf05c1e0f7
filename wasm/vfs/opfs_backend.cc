// OpfsBackend: thin forwarding to opfs_library.js. Offsets and counts travel as doubles (exact below 2^53).
#include "opfs_backend.h"

#include <cstdint>

#include "sqlite3.h"

extern "C" {
double outpost_opfs_read(int pool, int slot, uint8_t* dst, double n, double offset);
double outpost_opfs_write(int pool, int slot, const uint8_t* src, double n, double offset);
int outpost_opfs_truncate(int pool, int slot, double size);
double outpost_opfs_size(int pool, int slot);
int outpost_opfs_flush(int pool, int slot);
void outpost_random(uint8_t* dst, int n);
double outpost_now_ms();
}

namespace outpost::vfs {

int64_t OpfsBackend::Read(int slot, uint8_t* dst, int64_t n, int64_t offset) {
  return static_cast<int64_t>(outpost_opfs_read(pool_, slot, dst, static_cast<double>(n), static_cast<double>(offset)));
}
int64_t OpfsBackend::Write(int slot, const uint8_t* src, int64_t n, int64_t offset) {
  return static_cast<int64_t>(
      outpost_opfs_write(pool_, slot, src, static_cast<double>(n), static_cast<double>(offset)));
}
bool OpfsBackend::Truncate(int slot, int64_t size) {
  return outpost_opfs_truncate(pool_, slot, static_cast<double>(size)) == 0;
}
int64_t OpfsBackend::Size(int slot) { return static_cast<int64_t>(outpost_opfs_size(pool_, slot)); }
bool OpfsBackend::Flush(int slot) { return outpost_opfs_flush(pool_, slot) == 0; }
void OpfsBackend::Randomness(uint8_t* dst, int n) { outpost_random(dst, n); }
double OpfsBackend::NowMs() { return outpost_now_ms(); }

}  // namespace outpost::vfs

// The browser build compiles SQLite with SQLITE_OS_OTHER=1 (no unix layer, no Emscripten file system).
// sqlite3_os_init registers one default VFS, "outpost-host", that opens no files: it gives in-memory
// databases (and SQLite's memdb VFS, which requires a default to exist) randomness, time and sleep. Files
// live only in the SlotVfs instances that bindings.cc registers per database.
namespace {

int HostOpen(sqlite3_vfs*, sqlite3_filename, sqlite3_file* f, int, int*) {
  f->pMethods = nullptr;
  return SQLITE_CANTOPEN;
}
int HostDelete(sqlite3_vfs*, const char*, int) { return SQLITE_IOERR_DELETE_NOENT; }
int HostAccess(sqlite3_vfs*, const char*, int, int* out) {
  *out = 0;
  return SQLITE_OK;
}
int HostFullPathname(sqlite3_vfs*, const char* in, int n, char* out) {
  sqlite3_snprintf(n, out, "%s", in);
  return SQLITE_OK;
}
int HostRandomness(sqlite3_vfs*, int n, char* out) {
  outpost_random(reinterpret_cast<uint8_t*>(out), n);
  return n;
}
int HostSleep(sqlite3_vfs*, int micros) { return micros; }
int HostCurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  *out = static_cast<sqlite3_int64>(outpost_now_ms()) + 210866760000000ll;
  return SQLITE_OK;
}
int HostCurrentTime(sqlite3_vfs* vfs, double* out) {
  sqlite3_int64 ms = 0;
  HostCurrentTimeInt64(vfs, &ms);
  *out = static_cast<double>(ms) / 86400000.0;
  return SQLITE_OK;
}
int HostGetLastError(sqlite3_vfs*, int, char*) { return 0; }

sqlite3_vfs host_vfs = {
    2,
    0,
    512,
    nullptr,
    "outpost-host",
    nullptr,
    HostOpen,
    HostDelete,
    HostAccess,
    HostFullPathname,
    nullptr,
    nullptr,
    nullptr,
    nullptr,  // no dynamic loading
    HostRandomness,
    HostSleep,
    HostCurrentTime,
    HostGetLastError,
    HostCurrentTimeInt64,
    nullptr,
    nullptr,
    nullptr,
};

}  // namespace

extern "C" int sqlite3_os_init(void) { return sqlite3_vfs_register(&host_vfs, 1); }
extern "C" int sqlite3_os_end(void) { return SQLITE_OK; }
