// SlotVfs over the in-memory backend: slot mapping and headers, I/O per commit, durability levels, crash
// images, write failures, and atomic file replacement.
#include "slot_vfs.h"

#include <cstring>

#include "test_util.h"

namespace outpost::testing {
namespace {

constexpr char kSchema[] =
    "CREATE TABLE notes(id TEXT PRIMARY KEY, title, body, updated);"
    "CREATE TABLE outbox(seq INTEGER PRIMARY KEY, op_id, kind, payload, status);";

// The workload of measurements.md: one row plus one outbox-like row per transaction.
void Commit(Database& db, int i) {
  ExecOk(db, "BEGIN");
  ExecOk(db, "INSERT INTO notes VALUES (?, 'title', 'body', ?)",
         {{std::string("n") + std::to_string(i), int64_t{i}}, {}});
  ExecOk(db, "INSERT INTO outbox(op_id, kind, payload, status) VALUES (?, 'put', 'x', 'pending')",
         {{std::string("op") + std::to_string(i)}, {}});
  ExecOk(db, "COMMIT");
}

// Creates the schema and makes `commits` commits.
void Seed(Database& db, int commits) {
  ExecOk(db, kSchema);
  for (int i = 0; i < commits; ++i) Commit(db, i);
}

TEST(SlotVfs, DatabaseAndWalEachTakeOneSlot) {
  Device device;
  Session session(device);
  auto db = session.Open();
  ExecOk(*db, kSchema);
  Commit(*db, 1);
  auto names = session.vfs.FileNames();
  EXPECT_EQ(names.size(), 2u);
  EXPECT_NE(std::find(names.begin(), names.end(), "/app.db"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "/app.db-wal"), names.end());
  QueryResult mode;
  ASSERT_TRUE(db->Query("PRAGMA journal_mode", {}, &mode).ok());
  EXPECT_EQ(std::get<std::string>(mode.rows[0][0]), "wal");
}

// The minimum I/O per commit: the commit's WAL frames in one write (reaching the backend before the commit
// returns, so a killed process keeps it), one flush at full durability and none at relaxed, and no size
// query, truncate or read (exclusive mode keeps the page cache across commits).
class IoPerCommit : public ::testing::TestWithParam<Durability> {};

TEST_P(IoPerCommit, IsOneWriteAndAtFullDurabilityOneFlush) {
  Device device;
  Session session(device);
  auto db = session.Open(GetParam());
  Seed(*db, 1);
  device.backend.ResetCounters();
  for (int i = 1; i <= 10; ++i) Commit(*db, i);
  const auto& io = device.backend.counters();
  EXPECT_EQ(io.writes, 10);
  EXPECT_EQ(io.flushes, GetParam() == Durability::kFull ? 10 : 0);
  EXPECT_EQ(io.sizes, 0);
  EXPECT_EQ(io.truncates, 0);
  EXPECT_EQ(io.reads, 0);
}

INSTANTIATE_TEST_SUITE_P(BothLevels, IoPerCommit, ::testing::Values(Durability::kFull, Durability::kRelaxed));

// A new database holds nothing to lose until its first commit: creating it (page 1, the switch to WAL) costs
// one flush instead of a durable journal transaction's several (first-visit cold start), and a power loss
// right after the open leaves a valid empty WAL database.
TEST_P(IoPerCommit, CreatingADatabaseFlushesOnce) {
  Device device;
  Session session(device);
  device.backend.ResetCounters();
  auto db = session.Open(GetParam());
  EXPECT_EQ(device.backend.counters().flushes, 1);
  Restarted next(device.backend.PowerLossImage(), GetParam());
  QueryResult mode;
  ASSERT_TRUE(next.db->Query("PRAGMA journal_mode", {}, &mode).ok());
  EXPECT_EQ(std::get<std::string>(mode.rows[0][0]), "wal");
  EXPECT_EQ(IntegrityCheck(*next.db), "ok");
  ExecOk(*next.db, kSchema);
  Commit(*next.db, 1);
  EXPECT_EQ(Count(*next.db, "notes"), 1);
}

// Checkpoints copy pages to the database file in ascending order; the pages added since the last one are
// contiguous at the end of the file, so they reach the backend as one write instead of one each.
TEST_P(IoPerCommit, ACheckpointWritesContiguousPagesAtOnce) {
  Device device;
  Session session(device);
  auto db = session.Open(GetParam());
  Seed(*db, 1);
  ExecOk(*db, "PRAGMA wal_checkpoint");
  ExecOk(*db,
         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)"
         " INSERT INTO notes SELECT 'bulk' || i, 'title', randomblob(600), i FROM n");
  device.backend.ResetCounters();
  QueryResult r;
  ASSERT_TRUE(db->Query("PRAGMA wal_checkpoint", {}, &r).ok());
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(r.rows[0][0]), 0);   // not busy
  EXPECT_GE(std::get<int64_t>(r.rows[0][2]), 50);  // pages copied
  EXPECT_LE(device.backend.counters().writes, 4);
  EXPECT_EQ(IntegrityCheck(*db), "ok");
  db.reset();
  Session next(device);
  EXPECT_EQ(Count(*next.Open(GetParam()), "notes"), 301);
}

// Reopening an existing database does not take the shortcut: its setup flushes nothing at all.
TEST(SlotVfs, ReopeningFlushesNothing) {
  Device device;
  {
    Session session(device);
    Seed(*session.Open(), 3);
  }
  device.backend.ResetCounters();
  Session again(device);
  auto db = again.Open();
  EXPECT_EQ(device.backend.counters().flushes, 0);
  EXPECT_EQ(Count(*db, "notes"), 3);
}

TEST(SlotVfs, DataSurvivesReopen) {
  Device device;
  {
    Session session(device);
    auto db = session.Open();
    Seed(*db, 50);
  }
  Session again(device);
  auto db = again.Open();
  EXPECT_EQ(Count(*db, "notes"), 50);
  EXPECT_EQ(IntegrityCheck(*db), "ok");
}

TEST(SlotVfs, KilledProcessKeepsEveryCommit) {
  Device device;
  Session session(device);
  auto db = session.Open(Durability::kRelaxed);
  Seed(*db, 30);
  Restarted next(device.backend.KillImage(), Durability::kRelaxed);  // the connection was never closed
  auto& reopened = next.db;
  EXPECT_EQ(Count(*reopened, "notes"), 30);
  EXPECT_EQ(IntegrityCheck(*reopened), "ok");
}

TEST(SlotVfs, PowerLossKeepsEveryCommitAtFullDurability) {
  Device device;
  Session session(device);
  auto db = session.Open(Durability::kFull);
  Seed(*db, 30);
  Restarted next(device.backend.PowerLossImage());
  auto& reopened = next.db;
  EXPECT_EQ(Count(*reopened, "notes"), 30);
  EXPECT_EQ(IntegrityCheck(*reopened), "ok");
}

TEST(SlotVfs, PowerLossAtRelaxedDurabilityMayLoseCommitsButNeverCorrupts) {
  Device device;
  Session session(device);
  auto db = session.Open(Durability::kRelaxed);
  ExecOk(*db, kSchema);
  ExecOk(*db, "PRAGMA wal_checkpoint(TRUNCATE)");  // schema durable in the database file
  for (int i = 0; i < 30; ++i) Commit(*db, i);
  Restarted next(device.backend.PowerLossImage(), Durability::kRelaxed);
  auto& reopened = next.db;
  int64_t n = Count(*reopened, "notes");
  EXPECT_GE(n, 0);
  EXPECT_LE(n, 30);
  EXPECT_EQ(IntegrityCheck(*reopened), "ok");
}

TEST(SlotVfs, TransactionKilledHalfwayRollsBack) {
  Device device;
  Session session(device);
  auto db = session.Open();
  Seed(*db, 5);
  ExecOk(*db, "PRAGMA cache_size=8");  // force the open transaction to spill pages into the WAL
  ExecOk(*db, "BEGIN");
  for (int i = 100; i < 400; ++i)
    ExecOk(*db, "INSERT INTO notes VALUES (?, 't', randomblob(1000), 0)",
           {{std::string("big") + std::to_string(i)}, {}});
  auto image = device.backend.KillImage();
  Restarted next(image);
  auto& reopened = next.db;
  EXPECT_EQ(Count(*reopened, "notes"), 5);
  EXPECT_EQ(IntegrityCheck(*reopened), "ok");
}

TEST(SlotVfs, SpilledWalPagesReadBackCorrectlyInsideTheTransaction) {
  Device device;
  Session session(device);
  auto db = session.Open();
  ExecOk(*db, kSchema);
  ExecOk(*db, "PRAGMA cache_size=8");  // pages spill to the WAL (possibly still pending) and are read back
  ExecOk(*db, "BEGIN");
  for (int i = 0; i < 500; ++i)
    ExecOk(*db, "INSERT INTO notes VALUES (?, 't', randomblob(700), ?)", {{"k" + std::to_string(i), int64_t{i}}, {}});
  QueryResult r;
  ASSERT_TRUE(db->Query("SELECT count(*), sum(updated), sum(length(body)) FROM notes", {}, &r).ok());
  EXPECT_EQ(std::get<int64_t>(r.rows[0][0]), 500);
  EXPECT_EQ(std::get<int64_t>(r.rows[0][1]), 499 * 500 / 2);
  EXPECT_EQ(std::get<int64_t>(r.rows[0][2]), 500 * 700);
  ExecOk(*db, "COMMIT");
  EXPECT_EQ(IntegrityCheck(*db), "ok");
  Restarted next(device.backend.PowerLossImage());
  auto& reopened = next.db;
  EXPECT_EQ(Count(*reopened, "notes"), 500);
  EXPECT_EQ(IntegrityCheck(*reopened), "ok");
}

class WriteFailure : public ::testing::TestWithParam<std::tuple<int64_t, Durability, const char*>> {};

TEST_P(WriteFailure, IsSqliteFullAndTheDatabaseReopensIntact) {
  const auto [error, durability, value] = GetParam();
  Device device;
  {
    Session session(device);
    auto db = session.Open(durability);
    Seed(*db, 10);
    device.backend.FailWritesAfter(0, error);
    ExecResult r;
    Status s = db->Exec(std::string("INSERT INTO notes VALUES ('x', 't', ") + value + ", 0)", {}, &r);
    EXPECT_EQ(s.code(), "SQLITE_FULL") << s.ToString();
    EXPECT_NE(s.message().find("quota"), std::string::npos) << s.message();
    EXPECT_NE(session.vfs.LastError().find("quota"), std::string::npos) << session.vfs.LastError();
    EXPECT_FALSE(db->InTransaction());
    device.backend.ClearFault();
    EXPECT_EQ(Count(*db, "notes"), 10);
    EXPECT_EQ(IntegrityCheck(*db), "ok");
    Commit(*db, 10);  // the same connection goes on after the failure
  }
  Session next(device);
  auto db = next.Open(durability);
  EXPECT_EQ(Count(*db, "notes"), 11);
  EXPECT_EQ(IntegrityCheck(*db), "ok");
  Commit(*db, 11);
  EXPECT_EQ(Count(*db, "notes"), 12);
}

// A checkpoint whose coalesced write fails (SQLite ignores the result of CKPT_DONE, where it happens) fails
// as a whole: the WAL keeps every commit, nothing is lost on this connection or after a reopen, and the next
// checkpoint succeeds.
TEST_P(IoPerCommit, ACheckpointWhoseWriteFailsKeepsEveryCommit) {
  Device device;
  {
    Session session(device);
    auto db = session.Open(GetParam());
    Seed(*db, 20);
    device.backend.FailWritesAfter(0, vfs::kWriteQuota);
    QueryResult r;
    Status s = db->Query("PRAGMA wal_checkpoint", {}, &r);
    EXPECT_EQ(s.code(), "SQLITE_FULL") << s.ToString();
    device.backend.ClearFault();
    EXPECT_EQ(Count(*db, "notes"), 20);
    EXPECT_EQ(IntegrityCheck(*db), "ok");
    Commit(*db, 20);
    ASSERT_TRUE(db->Query("PRAGMA wal_checkpoint", {}, &r).ok());
    EXPECT_EQ(std::get<int64_t>(r.rows[0][0]), 0);
    // Killed right after the failure and the retry: what reached storage holds every commit.
    Restarted crashed(device.backend.KillImage(), GetParam());
    EXPECT_EQ(Count(*crashed.db, "notes"), 21);
    EXPECT_EQ(IntegrityCheck(*crashed.db), "ok");
  }
  Session next(device);
  auto db = next.Open(GetParam());
  EXPECT_EQ(Count(*db, "notes"), 21);
  EXPECT_EQ(IntegrityCheck(*db), "ok");
}

// The failed checkpoint is killed before any retry: the database file may hold part of it, the WAL holds
// all of it, and the restart recovers every commit.
TEST_P(IoPerCommit, AKillAfterAFailedCheckpointLosesNothing) {
  Device device;
  Session session(device);
  auto db = session.Open(GetParam());
  Seed(*db, 20);
  device.backend.FailWritesAfter(0, 100);  // a short write: part of the pages land
  QueryResult r;
  EXPECT_FALSE(db->Query("PRAGMA wal_checkpoint", {}, &r).ok());
  device.backend.ClearFault();
  Restarted crashed(device.backend.KillImage(), GetParam());
  EXPECT_EQ(Count(*crashed.db, "notes"), 20);
  EXPECT_EQ(IntegrityCheck(*crashed.db), "ok");
}

// Quota exceptions and short writes; full and relaxed durability; a small row (the failure hits the
// coalesced commit write) and a large one (it hits a write before the commit frame).
INSTANTIATE_TEST_SUITE_P(AllKinds, WriteFailure,
                         ::testing::Combine(::testing::Values(int64_t{vfs::kWriteQuota}, int64_t{100}),
                                            ::testing::Values(Durability::kFull, Durability::kRelaxed),
                                            ::testing::Values("'small'", "randomblob(3000000)")));

TEST(SlotVfs, BrokenHandleWriteIsIoError) {
  Device device;
  Session session(device);
  auto db = session.Open();
  ExecOk(*db, kSchema);
  device.backend.FailWritesAfter(0, vfs::kWriteIo);
  ExecResult r;
  Status s = db->Exec("INSERT INTO notes VALUES ('x', 't', 'b', 0)", {}, &r);
  EXPECT_EQ(s.code(), "SQLITE_IOERR") << s.ToString();
}

TEST(SlotVfs, FullPoolIsCantOpenWithAReason) {
  Device device(1);
  Session session(device);
  OpenOptions options;
  options.vfs = session.vfs.name();
  std::unique_ptr<Database> db;
  Status s = Database::Open("/app.db", options, &db);  // switching to WAL needs a second slot
  EXPECT_EQ(s.code(), "SQLITE_CANTOPEN") << s.ToString();
  EXPECT_EQ(db, nullptr);
  EXPECT_NE(session.vfs.LastError().find("pool is full"), std::string::npos);
}

TEST(SlotVfs, InitFreesCorruptAndTemporarySlots) {
  Device device;
  {
    Session session(device);
    auto db = session.Open();
    ExecOk(*db, kSchema);
    Commit(*db, 1);
  }
  // Slot 2: a header with a broken digest; slot 3: a valid header for a temporary file.
  std::vector<uint8_t> junk(vfs::SlotVfs::kHeaderSize + 100, 0x5a);
  device.backend.file(2) = junk;
  std::vector<uint8_t> temp(vfs::SlotVfs::kHeaderSize, 0);
  std::memcpy(temp.data(), "/tmp", 4);
  temp[512] = SQLITE_OPEN_TEMP_DB & 0xff;
  temp[513] = (SQLITE_OPEN_TEMP_DB >> 8) & 0xff;
  uint64_t d = vfs::HeaderDigest(temp.data());
  for (int b = 0; b < 8; ++b) temp[520 + b] = static_cast<uint8_t>(d >> (8 * b));
  device.backend.file(3) = temp;

  Session next(device);
  EXPECT_EQ(next.vfs.FileNames(), std::vector<std::string>{"/app.db"});
  EXPECT_EQ(device.backend.file(2).size(), static_cast<size_t>(vfs::SlotVfs::kHeaderSize));
  auto db = next.Open();
  EXPECT_EQ(Count(*db, "notes"), 1);
}

std::vector<uint8_t> ExportOf(int rows) {
  Device other;
  Session session(other);
  auto db = session.Open();
  ExecOk(*db, kSchema);
  for (int i = 0; i < rows; ++i) Commit(*db, i);
  std::vector<uint8_t> bytes;
  EXPECT_TRUE(db->Export(&bytes).ok());
  return bytes;
}

TEST(SlotVfs, ReplaceFileSwapsTheDatabase) {
  auto bytes = ExportOf(7);
  Device device;
  {
    Session session(device);
    auto db = session.Open();
    ExecOk(*db, kSchema);
    Commit(*db, 1);
    ASSERT_TRUE(db->Close().ok());
    Status s = session.vfs.ReplaceFile("/app.db", bytes);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(session.vfs.FileNames(), std::vector<std::string>{"/app.db"});
  }
  Session next(device);
  auto db = next.Open();
  EXPECT_EQ(Count(*db, "notes"), 7);
  EXPECT_EQ(IntegrityCheck(*db), "ok");
}

TEST(SlotVfs, ReplaceFileRefusesAnOpenFile) {
  Device device;
  Session session(device);
  auto db = session.Open();
  ExecOk(*db, kSchema);
  EXPECT_EQ(session.vfs.ReplaceFile("/app.db", ExportOf(1)).code(), "INVALID_STATE");
}

TEST(SlotVfs, ReplaceFileThatFailsLeavesTheOldDatabase) {
  auto bytes = ExportOf(7);
  Device device;
  Session session(device);
  {
    auto db = session.Open();
    ExecOk(*db, kSchema);
    Commit(*db, 1);
  }
  device.backend.FailWritesAfter(1, vfs::kWriteQuota);  // the temporary header lands, the data does not
  Status s = session.vfs.ReplaceFile("/app.db", bytes);
  EXPECT_EQ(s.code(), "SQLITE_FULL");
  device.backend.ClearFault();
  Session next(device);
  auto db = next.Open();
  EXPECT_EQ(Count(*db, "notes"), 1);
}

TEST(SlotVfs, CrashBeforeReplaceCommitsKeepsTheOldFileAfterItTheNew) {
  auto bytes = ExportOf(7);
  for (int64_t writes_allowed : {1, 2, 6, 7}) {
    Device device;
    {
      Session session(device);
      auto db = session.Open();
      ExecOk(*db, kSchema);
      Commit(*db, 1);
    }
    std::vector<std::vector<uint8_t>> image;
    {
      Session session(device);
      device.backend.ResetCounters();
      device.backend.FailWritesAfter(writes_allowed, vfs::kWriteIo);
      (void)session.vfs.ReplaceFile("/app.db", bytes);
      image = device.backend.PowerLossImage();
      device.backend.ClearFault();
    }
    Device restarted;
    restarted.backend.Restore(image);
    Session next(restarted);
    auto db = next.Open();
    int64_t n = Count(*db, "notes");
    EXPECT_TRUE(n == 1 || n == 7) << "after " << writes_allowed << " writes: " << n;
    EXPECT_EQ(IntegrityCheck(*db), "ok");
  }
}

TEST(SlotVfs, HigherGenerationWinsWhenTwoSlotsClaimOnePath) {
  auto bytes = ExportOf(3);
  Device device;
  {
    Session session(device);
    auto db = session.Open();
    ExecOk(*db, kSchema);
    ASSERT_TRUE(db->Close().ok());
    ASSERT_TRUE(session.vfs.ReplaceFile("/app.db", bytes).ok());
  }
  // Forge the state between "new header committed" and "old slot released": an older copy still claims
  // the path with generation 1.
  int current = -1;
  for (int i = 0; i < 4; ++i)
    if (device.backend.file(i).size() > 0 && device.backend.file(i)[1] == 'a') current = i;
  ASSERT_GE(current, 0);
  int stale = (current + 1) % 4;
  std::vector<uint8_t> old = ExportOf(1);
  std::vector<uint8_t> slot(vfs::SlotVfs::kHeaderSize, 0);
  std::memcpy(slot.data(), "/app.db", 7);
  slot[512] = SQLITE_OPEN_MAIN_DB & 0xff;
  slot[516] = 1;
  uint64_t d = vfs::HeaderDigest(slot.data());
  for (int b = 0; b < 8; ++b) slot[520 + b] = static_cast<uint8_t>(d >> (8 * b));
  slot.insert(slot.end(), old.begin(), old.end());
  device.backend.file(stale) = slot;

  Session next(device);
  EXPECT_EQ(next.vfs.FileNames(), std::vector<std::string>{"/app.db"});
  auto db = next.Open();
  EXPECT_EQ(Count(*db, "notes"), 3);
}

}  // namespace
}  // namespace outpost::testing
