// Helpers shared by the native tests: a database over a fresh in-memory slot pool.
#ifndef OUTPOST_TESTS_TEST_UTIL_H_
#define OUTPOST_TESTS_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "memory_backend.h"
#include "outpost/database.h"
#include "slot_vfs.h"

namespace outpost::testing {

// One storage "device" (a MemoryBackend) that survives reopening, the way OPFS survives a reload.
struct Device {
  explicit Device(int slots = 4) : backend(slots, /*crash_images=*/true) {}
  vfs::MemoryBackend backend;
};

// A VFS instance over a device: what one worker start sees.
struct Session {
  explicit Session(Device& device) : vfs("test-vfs-" + std::to_string(counter++), &device.backend) {
    Status s = vfs.Init();
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  std::unique_ptr<Database> Open(Durability durability = Durability::kFull, const std::string& path = "/app.db") {
    OpenOptions options;
    options.vfs = vfs.name();
    options.durability = durability;
    std::unique_ptr<Database> db;
    Status s = Database::Open(path, options, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return db;
  }
  vfs::SlotVfs vfs;
  static inline std::atomic<int> counter{0};
};

// The next start of the app after a crash that left `image` on the device.
struct Restarted {
  explicit Restarted(const std::vector<std::vector<uint8_t>>& image, Durability durability = Durability::kFull)
      : session((device.backend.Restore(image), device)), db(session.Open(durability)) {}
  Device device;
  Session session;
  std::unique_ptr<Database> db;
};

inline void ExecOk(Database& db, const std::string& sql, const Params& params = {}) {
  ExecResult r;
  Status s = db.Exec(sql, params, &r);
  ASSERT_TRUE(s.ok()) << sql << ": " << s.ToString();
}

inline int64_t Count(Database& db, const std::string& table) {
  QueryResult r;
  Status s = db.Query("SELECT count(*) FROM " + table, {}, &r);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return s.ok() ? std::get<int64_t>(r.rows[0][0]) : -1;
}

inline std::string IntegrityCheck(Database& db) {
  QueryResult r;
  Status s = db.Query("PRAGMA integrity_check", {}, &r);
  if (!s.ok()) return s.ToString();
  return std::get<std::string>(r.rows[0][0]);
}

}  // namespace outpost::testing

#endif  // OUTPOST_TESTS_TEST_UTIL_H_
