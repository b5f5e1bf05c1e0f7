// Conformance tests for the server's Store backends: every case runs against SQLite and PostgreSQL, so both
// keep the contract of server/store.h alike. PostgreSQL needs OUTPOST_PG_CONNINFO (keyword form; see
// scripts/pg-test-cluster.sh); without it those instances skip loudly, or fail when OUTPOST_REQUIRE_PG=1.
// Each test gets a fresh SQLite file or a fresh PostgreSQL database.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "outpost/op_id.h"
#include "store.h"
#include "store_core.h"

namespace outpost::server {
namespace {

using protocol::Change;
using protocol::Key;
using protocol::Operation;
using protocol::OpStatus;
using protocol::PullRequest;
using protocol::PullResponse;
using protocol::PushRequest;
using protocol::PushResponse;

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    const ::outpost::Status _s = (expr);                    \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

constexpr int64_t kNow = 1'700'000'000'000;

const char* const kSchemaJson = R"({"tables": {
  "records": {"key": ["id"], "columns": ["title", "notes", "status", "quantity", "project"],
              "scopeColumn": "project", "policy": "lww",
              "columnPolicies": {"quantity": "counter", "notes": "manual"}},
  "archive": {"key": ["id"], "columns": ["title"], "scope": "shared", "policy": "delete-wins"},
  "items":   {"key": ["list", "pos"], "columns": ["text"], "scope": "shared"},
  "tasks":   {"key": ["team", "id"], "columns": ["text"], "scopeColumn": "team"}
}})";

const Principal kAlice{"alice", "dev-a", {"team-a", "shared"}};
const Principal kBob{"bob", "dev-b", {"team-b"}};
const Principal kAdmin{"admin", "dev-x", {"*"}};

// Operation ids: canonical UUIDv7 from one generator, unique across threads.
std::string NewId() {
  static std::mutex mu;
  static OpIdGenerator gen;
  static uint64_t n = 0;
  std::lock_guard<std::mutex> lock(mu);
  uint8_t random[OpIdGenerator::kRandomBytes] = {};
  ++n;
  for (int i = 0; i < 8; ++i) random[i] = static_cast<uint8_t>(n >> (8 * i));
  std::string id;
  EXPECT_TRUE(gen.Next(kNow, random, &id).ok());
  return id;
}

// An HLC `offset_ms` after one minute before kNow (well within the drift bound).
HlcTimestamp T(int64_t offset_ms, uint64_t node = 1) { return {kNow - 60'000 + offset_ms, 0, node}; }

Key K(const std::string& id) { return {{"id", Value(id)}}; }
Value S(const char* s) { return Value(std::string(s)); }
Value I(int64_t i) { return Value(i); }

Operation Upsert(const std::string& table, Key key, const std::map<std::string, Value>& columns, HlcTimestamp hlc,
                 std::optional<int64_t> base = std::nullopt) {
  Operation op;
  op.id = NewId();
  op.kind = "upsert";
  op.hlc = hlc;
  op.table = table;
  op.key = std::move(key);
  for (const auto& [name, value] : columns) op.columns[name] = {value, hlc};
  op.base_version = base;
  return op;
}

Operation Delete(const std::string& table, Key key, HlcTimestamp hlc) {
  Operation op;
  op.id = NewId();
  op.kind = "delete";
  op.hlc = hlc;
  op.table = table;
  op.key = std::move(key);
  return op;
}

PushRequest Batch(std::vector<Operation> ops) {
  PushRequest r;
  r.client_id = "device-1";
  r.ops = std::move(ops);
  return r;
}

const Change* FindChange(const std::vector<Change>& changes, const std::string& table, const Key& key) {
  for (const Change& c : changes) {
    if (c.table == table && c.key == key) return &c;
  }
  return nullptr;
}

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_OK(Schema::FromJson(kSchemaJson, &schema_));
    static std::atomic<int> counter{0};
    const std::string unique = std::to_string(getpid()) + "_" + std::to_string(counter++);
    if (GetParam() == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() / ("outpost_store_" + unique);
      std::filesystem::remove_all(dir_);
      std::filesystem::create_directories(dir_);
      target_ = (dir_ / "store.db").string();
    } else {
      const char* base = std::getenv("OUTPOST_PG_CONNINFO");
      const char* require = std::getenv("OUTPOST_REQUIRE_PG");
      if (base == nullptr || *base == '\0') {
        if (require != nullptr && std::string(require) == "1") {
          FAIL() << "OUTPOST_REQUIRE_PG=1 but OUTPOST_PG_CONNINFO is not set; run the tests through "
                    "`bash scripts/pg-test-cluster.sh run <test binary>`.";
        }
        GTEST_SKIP() << "\n\n*** PostgreSQL store tests SKIPPED: OUTPOST_PG_CONNINFO is not set. Run them with\n"
                        "***   bash scripts/pg-test-cluster.sh run build/<dir>/tests/server_store_tests\n\n";
      }
      base_conninfo_ = base;
      ASSERT_EQ(base_conninfo_.find("://"), std::string::npos)
          << "OUTPOST_PG_CONNINFO must be in keyword form (host=... port=... user=...)";
      db_name_ = "outpost_test_" + unique;
      try {
        pqxx::connection admin(base_conninfo_);
        pqxx::nontransaction tx(admin);
        tx.exec("CREATE DATABASE " + admin.quote_name(db_name_));
      } catch (const std::exception& e) {
        FAIL() << "cannot create the test database: " << e.what();
      }
      target_ = base_conninfo_ + " dbname=" + db_name_;  // libpq: the last dbname wins
    }
    ASSERT_OK(Open(&store_));
  }

  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    if (!db_name_.empty()) {
      try {
        pqxx::connection admin(base_conninfo_);
        pqxx::nontransaction tx(admin);
        tx.exec("DROP DATABASE IF EXISTS " + admin.quote_name(db_name_) + " WITH (FORCE)");
      } catch (const std::exception& e) {
        ADD_FAILURE() << "cannot drop the test database: " << e.what();
      }
    }
  }

  // Another instance on the same data, as a second server process would have.
  Status Open(std::unique_ptr<Store>* out, const StoreOptions& options = StoreOptions()) {
    return GetParam() == "sqlite" ? OpenSqliteStore(target_, schema_, options, out)
                                  : OpenPostgresStore(target_, schema_, options, out);
  }

  // Runs SQL outside the store (to inject failures).
  void RawExec(const std::string& sql) {
    if (GetParam() == "sqlite") {
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open(target_.c_str(), &db), SQLITE_OK);
      char* err = nullptr;
      const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
      EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
      sqlite3_free(err);
      sqlite3_close(db);
    } else {
      pqxx::connection c(target_);
      pqxx::work tx(c);
      tx.exec(sql);
      tx.commit();
    }
  }

  PushResponse Push(const Principal& who, const PushRequest& request, Store* store = nullptr) {
    PushResponse response;
    const Status s = (store ? store : store_.get())->Push(who, request, kNow, &response);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(response.results.size(), request.ops.size());
    return response;
  }

  PullResponse Pull(const Principal& who, const std::string& cursor, size_t page_size = 1000,
                    std::vector<std::string> scopes = {}) {
    PullRequest request;
    request.client_id = "device-1";
    request.cursor = cursor;
    request.scopes = std::move(scopes);
    PullResponse response;
    const Status s = store_->Pull(who, request, page_size, kNow, &response);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return response;
  }

  // Every change from `cursor` on, page by page; *cursor ends at the last page's cursor.
  std::vector<Change> PullAll(const Principal& who, std::string* cursor, size_t page_size = 1000) {
    std::vector<Change> all;
    for (int pages = 0; pages < 100000; ++pages) {
      PullResponse r = Pull(who, *cursor, page_size);
      EXPECT_FALSE(r.resync_required);
      all.insert(all.end(), r.changes.begin(), r.changes.end());
      *cursor = r.cursor;
      if (!r.has_more) break;
    }
    return all;
  }

  std::map<std::string, int64_t> Counts() {
    std::map<std::string, int64_t> counts;
    const Status s = store_->Counts(&counts);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return counts;
  }

  Schema schema_;
  std::unique_ptr<Store> store_;
  std::filesystem::path dir_;
  std::string base_conninfo_;
  std::string db_name_;
  std::string target_;
};

TEST_P(StoreTest, PushThenPullRoundTrip) {
  EXPECT_EQ(store_->name(), GetParam() == "sqlite" ? "sqlite" : "postgresql");
  PushResponse r =
      Push(kAlice, Batch({Upsert("records", K("r1"), {{"title", S("Pump 4")}, {"project", S("team-a")}}, T(1)),
                          Upsert("archive", K("a1"), {{"title", S("Old")}}, T(2)),
                          Upsert("items", {{"list", S("l1")}, {"pos", I(3)}}, {{"text", S("x")}}, T(3))}));
  ASSERT_EQ(r.results.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.results[i].status(), OpStatus::kApplied) << i << " " << r.results[i].outcome.message;
    EXPECT_EQ(r.results[i].outcome.version, static_cast<int64_t>(i + 1));
  }
  PullResponse p = Pull(kAlice, "");
  ASSERT_EQ(p.changes.size(), 3u);
  EXPECT_FALSE(p.has_more);
  EXPECT_EQ(p.cursor, "v1.3");
  const Change& c = p.changes[0];
  EXPECT_EQ(c.table, "records");
  EXPECT_EQ(c.key, K("r1"));
  EXPECT_EQ(c.version, 1);
  EXPECT_FALSE(c.deleted);
  EXPECT_EQ(c.columns.at("title").value, S("Pump 4"));
  EXPECT_EQ(c.columns.at("title").hlc, T(1));
  EXPECT_EQ(c.columns.at("project").value, S("team-a"));
  EXPECT_EQ(p.changes[2].key, (Key{{"list", S("l1")}, {"pos", I(3)}}));

  // Nothing new: no changes, the cursor stays.
  PullResponse again = Pull(kAlice, p.cursor);
  EXPECT_TRUE(again.changes.empty());
  EXPECT_EQ(again.cursor, "v1.3");

  // An update moves the row to a new version; the pull after the cursor sees only it.
  Push(kAlice, Batch({Upsert("records", K("r1"), {{"status", S("done")}}, T(4))}));
  PullResponse next = Pull(kAlice, p.cursor);
  ASSERT_EQ(next.changes.size(), 1u);
  EXPECT_EQ(next.changes[0].version, 4);
  EXPECT_EQ(next.changes[0].columns.at("status").value, S("done"));
  EXPECT_EQ(next.changes[0].columns.at("title").value, S("Pump 4"));
  EXPECT_EQ(next.cursor, "v1.4");

  auto counts = Counts();
  EXPECT_EQ(counts["changes"], 3);
  EXPECT_EQ(counts["ops"], 4);
  EXPECT_EQ(counts["tombstones"], 0);
  EXPECT_EQ(counts["version"], 4);
}

TEST_P(StoreTest, ReplayIsDuplicateWithOriginalOutcomeAndChangesNothing) {
  Operation custom;
  custom.id = NewId();
  custom.kind = "http.post";
  custom.hlc = T(5);
  custom.entity = "order/42";
  custom.target = "https://api.example.com/orders";
  custom.payload = R"({"qty":2,"sku":"A1"})";
  const PushRequest batch = Batch({Upsert("records", K("r1"), {{"title", S("a")}, {"project", S("team-a")}}, T(1)),
                                   Upsert("records", K("r1"), {{"notes", S("n")}}, T(2)),
                                   Delete("records", K("r1"), T(3)), Upsert("nope", K("x"), {}, T(4)), custom});
  PushResponse first = Push(kAlice, batch);
  EXPECT_EQ(first.results[0].status(), OpStatus::kApplied);
  EXPECT_EQ(first.results[2].status(), OpStatus::kApplied);
  EXPECT_EQ(first.results[3].status(), OpStatus::kRejected);
  EXPECT_EQ(first.results[4].status(), OpStatus::kApplied);
  EXPECT_EQ(first.results[4].outcome.version, 4);  // custom ops take a version too
  std::string cursor;
  const std::vector<Change> before = PullAll(kAlice, &cursor);
  ASSERT_EQ(before.size(), 1u);  // r1's tombstone; custom operations are never pulled
  EXPECT_TRUE(before[0].deleted);
  const auto counts_before = Counts();
  EXPECT_EQ(counts_before.at("custom_ops"), 1);

  PushResponse replay = Push(kAlice, batch);
  ASSERT_EQ(replay.results.size(), first.results.size());
  for (size_t i = 0; i < first.results.size(); ++i) {
    EXPECT_EQ(replay.results[i].duplicate, i != 3) << i;  // the rejected op is judged again, not replayed
    EXPECT_EQ(replay.results[i].id, first.results[i].id);
    EXPECT_EQ(replay.results[i].outcome, first.results[i].outcome) << i;
  }
  std::string cursor2;
  EXPECT_EQ(PullAll(kAlice, &cursor2), before);
  EXPECT_EQ(Counts(), counts_before);

  // A batch mixing a replayed id with a new one: only the new one applies.
  Operation fresh = Upsert("records", K("r2"), {{"title", S("b")}, {"project", S("team-a")}}, T(6));
  PushResponse mixed = Push(kAlice, Batch({batch.ops[0], fresh}));
  EXPECT_TRUE(mixed.results[0].duplicate);
  EXPECT_EQ(mixed.results[1].status(), OpStatus::kApplied);
  EXPECT_EQ(mixed.results[1].outcome.version, 5);

  // The same id twice in one batch (a client bug the decoder rejects): the second is a duplicate.
  Operation twice = Upsert("records", K("r3"), {{"title", S("c")}, {"project", S("team-a")}}, T(7));
  PushResponse doubled = Push(kAlice, Batch({twice, twice}));
  EXPECT_EQ(doubled.results[0].status(), OpStatus::kApplied);
  EXPECT_TRUE(doubled.results[1].duplicate);
  EXPECT_EQ(doubled.results[1].outcome, doubled.results[0].outcome);
}

TEST_P(StoreTest, PerOperationRejections) {
  Push(kAlice, Batch({Upsert("records", K("mine"), {{"title", S("a")}, {"project", S("team-a")}}, T(1))}));
  Operation drift_op = Upsert("records", K("d1"), {{"title", S("x")}, {"project", S("team-a")}}, T(0));
  drift_op.hlc = {kNow + StoreOptions().max_drift_ms + 1, 0, 1};
  Operation drift_column = Upsert("records", K("d2"), {{"project", S("team-a")}}, T(0));
  drift_column.columns["title"] = {S("x"), {kNow + StoreOptions().max_drift_ms + 1, 0, 1}};
  Operation within = Upsert("records", K("d3"), {{"project", S("team-a")}}, {kNow + StoreOptions().max_drift_ms, 0, 1});
  Operation bad_scope = Upsert("records", K("s1"), {{"project", Value(1.5)}}, T(1));
  Operation injected_table = Upsert("records; DROP TABLE outpost_rows", K("x"), {}, T(1));

  const PushRequest batch = Batch({
      Upsert("nope", K("x"), {{"title", S("a")}}, T(1)),                                       // 0
      Upsert("records", K("x"), {{"colour", S("red")}, {"project", S("team-a")}}, T(1)),       // 1
      Upsert("records", {{"uid", S("x")}}, {{"project", S("team-a")}}, T(1)),                  // 2
      Upsert("records", {{"id", S("x")}, {"extra", I(1)}}, {{"project", S("team-a")}}, T(1)),  // 3
      Upsert("records", K("x"), {{"id", S("y")}, {"project", S("team-a")}}, T(1)),             // 4
      Upsert("records", K("x"), {{"title", S("a")}, {"project", S("team-b")}}, T(1)),          // 5
      drift_op,                                                                                // 6
      drift_column,                                                                            // 7
      Upsert("records", K("noscope"), {{"title", S("a")}}, T(1)),                              // 8
      bad_scope,                                                                               // 9
      injected_table,                                                                          // 10
      within,                                                                                  // 11
  });
  PushResponse r = Push(kAlice, batch);
  const std::vector<std::string> codes = {
      "UNKNOWN_TABLE", "UNKNOWN_COLUMN", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "INVALID_ARGUMENT", "FORBIDDEN",
      "CLOCK_DRIFT",   "CLOCK_DRIFT",    "INVALID_ARGUMENT", "INVALID_ARGUMENT", "UNKNOWN_TABLE"};
  for (size_t i = 0; i < codes.size(); ++i) {
    EXPECT_EQ(r.results[i].status(), OpStatus::kRejected) << i;
    EXPECT_EQ(r.results[i].outcome.code, codes[i]) << i << ": " << r.results[i].outcome.message;
    EXPECT_FALSE(r.results[i].outcome.message.empty()) << i;
  }
  EXPECT_EQ(r.results[11].status(), OpStatus::kApplied) << r.results[11].outcome.message;

  // Bob may not touch Alice's row (its scope comes from the stored row), nor move his own into her scope.
  Push(kBob, Batch({Upsert("records", K("bobs"), {{"title", S("b")}, {"project", S("team-b")}}, T(2))}));
  PushResponse bob = Push(
      kBob, Batch({Upsert("records", K("mine"), {{"title", S("hijack")}}, T(3)), Delete("records", K("mine"), T(3)),
                   Upsert("records", K("bobs"), {{"project", S("team-a")}}, T(3)),
                   Upsert("archive", K("a1"), {{"title", S("no")}}, T(3))}));
  for (const auto& result : bob.results) {
    EXPECT_EQ(result.status(), OpStatus::kRejected);
    EXPECT_EQ(result.outcome.code, "FORBIDDEN");
  }
  // Rejections change no rows and are not logged: a resend is judged again (here, rejected again).
  auto counts = Counts();
  EXPECT_EQ(counts["changes"], 3);  // mine, d3, bobs
  PushResponse replay = Push(kAlice, Batch({batch.ops[0]}));
  EXPECT_FALSE(replay.results[0].duplicate);
  EXPECT_EQ(replay.results[0].status(), OpStatus::kRejected);
  EXPECT_EQ(replay.results[0].outcome.code, "UNKNOWN_TABLE");
  std::string cursor;
  std::vector<Change> all = PullAll(kAdmin, &cursor);
  const Change* mine = FindChange(all, "records", K("mine"));
  ASSERT_NE(mine, nullptr);
  EXPECT_EQ(mine->columns.at("title").value, S("a"));

  // Writes that would change nothing (older HLC) or conflict are refused before merging too: a conflict
  // answer would show Bob the row's columns.
  Push(kAlice, Batch({Upsert("archive", K("a2"), {{"title", S("secret")}}, T(10)),
                      Upsert("records", K("m"), {{"notes", S("secret")}, {"project", S("team-a")}}, T(10))}));
  Principal shared_reader{"carol", "dev-c", {"team-b"}};
  PushResponse sneaky = Push(shared_reader, Batch({Upsert("archive", K("a2"), {{"title", S("old")}}, T(1)),
                                                   Upsert("records", K("m"), {{"notes", S("mine")}}, T(20))}));
  for (const auto& result : sneaky.results) {
    EXPECT_EQ(result.status(), OpStatus::kRejected);
    EXPECT_EQ(result.outcome.code, "FORBIDDEN");
    EXPECT_TRUE(result.outcome.current.empty());
  }

  // Another user replaying someone's op id learns nothing about it.
  PushResponse stolen = Push(kBob, Batch({batch.ops[11]}));
  EXPECT_FALSE(stolen.results[0].duplicate);
  EXPECT_EQ(stolen.results[0].outcome.code, "FORBIDDEN");
}

TEST_P(StoreTest, MergePolicies) {
  const Key r = K("r");
  Push(kAlice, Batch({Upsert("records", r, {{"title", S("first")}, {"project", S("team-a")}}, T(10))}));
  // lww: a newer write wins, an older one arriving later does not.
  PushResponse lww = Push(kAlice, Batch({Upsert("records", r, {{"title", S("newest")}}, T(30)),
                                         Upsert("records", r, {{"title", S("older")}}, T(20))}));
  EXPECT_EQ(lww.results[0].status(), OpStatus::kApplied);
  EXPECT_EQ(lww.results[1].status(), OpStatus::kApplied);
  EXPECT_EQ(lww.results[1].outcome.version, lww.results[0].outcome.version);  // nothing changed

  // counter: deltas add up, once each.
  Operation plus5 = Upsert("records", r, {{"quantity", I(5)}}, T(40));
  PushResponse counter = Push(kAlice, Batch({plus5, Upsert("records", r, {{"quantity", I(3)}}, T(41)),
                                             Upsert("records", r, {{"quantity", I(-1)}}, T(42)),
                                             Upsert("records", r, {{"quantity", S("lots")}}, T(43))}));
  EXPECT_EQ(counter.results[3].status(), OpStatus::kRejected);
  EXPECT_EQ(counter.results[3].outcome.code, "INVALID_ARGUMENT");
  EXPECT_TRUE(Push(kAlice, Batch({plus5})).results[0].duplicate);

  // manual: a concurrent edit (its writer had not seen the current value) is a conflict with the row.
  PushResponse notes1 = Push(kAlice, Batch({Upsert("records", r, {{"notes", S("A")}}, T(50))}));
  const int64_t seen = notes1.results[0].outcome.version;
  PushResponse notes2 = Push(kAlice, Batch({Upsert("records", r, {{"notes", S("B")}}, T(51, 2), seen - 1),
                                            Upsert("records", r, {{"notes", S("C")}}, T(52, 2), seen)}));
  EXPECT_EQ(notes2.results[0].status(), OpStatus::kConflict);
  EXPECT_EQ(notes2.results[0].outcome.version, seen);
  EXPECT_FALSE(notes2.results[0].outcome.deleted);
  EXPECT_EQ(notes2.results[0].outcome.current.at("notes").value, S("A"));
  EXPECT_EQ(notes2.results[0].outcome.current.at("quantity").value, I(7));
  EXPECT_EQ(notes2.results[1].status(), OpStatus::kApplied);  // had seen "A": replaces it

  std::string cursor;
  std::vector<Change> all = PullAll(kAlice, &cursor);
  const Change* row = FindChange(all, "records", r);
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->columns.at("title").value, S("newest"));
  EXPECT_EQ(row->columns.at("quantity").value, I(7));
  EXPECT_EQ(row->columns.at("notes").value, S("C"));

  // lww delete: older writes stay dead, a newer one resurrects the row (its scope is kept).
  Push(kAlice, Batch({Delete("records", r, T(60))}));
  PushResponse dead = Push(kAlice, Batch({Upsert("records", r, {{"title", S("stale")}}, T(55))}));
  EXPECT_EQ(dead.results[0].status(), OpStatus::kApplied);
  std::vector<Change> tomb = PullAll(kAlice, &cursor);
  ASSERT_EQ(tomb.size(), 1u);
  EXPECT_TRUE(tomb[0].deleted);
  EXPECT_EQ(tomb[0].hlc, T(60));
  EXPECT_TRUE(tomb[0].columns.empty());
  Push(kAlice, Batch({Upsert("records", r, {{"title", S("back")}}, T(70))}));
  std::vector<Change> back = PullAll(kAlice, &cursor);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_FALSE(back[0].deleted);
  EXPECT_EQ(back[0].columns.at("title").value, S("back"));
  EXPECT_EQ(back[0].columns.count("notes"), 0u);

  // delete-wins: a tombstone is final, even against a newer edit.
  Push(kAlice, Batch({Upsert("archive", K("a"), {{"title", S("x")}}, T(10)), Delete("archive", K("a"), T(20))}));
  PushResponse final_tomb = Push(kAlice, Batch({Upsert("archive", K("a"), {{"title", S("again")}}, T(90))}));
  EXPECT_EQ(final_tomb.results[0].status(), OpStatus::kConflict);
  EXPECT_TRUE(final_tomb.results[0].outcome.deleted);
  EXPECT_TRUE(final_tomb.results[0].outcome.current.empty());
  std::vector<Change> archive = PullAll(kAlice, &cursor);
  ASSERT_EQ(archive.size(), 1u);
  EXPECT_TRUE(archive[0].deleted);
}

TEST_P(StoreTest, PaginatesOneHundredThousandChangesWithoutGapsOrRepeats) {
  constexpr int kTotal = 100000;
  constexpr int kBatch = 1000;
  for (int b = 0; b < kTotal / kBatch; ++b) {
    std::vector<Operation> ops;
    for (int i = 0; i < kBatch; ++i) {
      const int n = b * kBatch + i;
      ops.push_back(Upsert("records", K("k" + std::to_string(n)),
                           {{"title", S("row")}, {"quantity", I(n)}, {"project", S("team-a")}}, T(n % 1000)));
    }
    PushResponse r;
    ASSERT_OK(store_->Push(kAlice, Batch(std::move(ops)), kNow, &r));
    ASSERT_EQ(r.results.back().outcome.version, (b + 1) * kBatch);
  }
  std::string cursor;
  std::set<std::string> keys;
  int64_t last_version = 0;
  int pages = 0;
  for (bool more = true; more; ++pages) {
    PullResponse p = Pull(kAlice, cursor, 7777);
    ASSERT_FALSE(p.resync_required);
    ASSERT_LE(p.changes.size(), 7777u);
    for (const Change& c : p.changes) {
      ASSERT_GT(c.version, last_version);
      last_version = c.version;
      ASSERT_TRUE(keys.insert(std::get<std::string>(c.key.at("id"))).second);
    }
    more = p.has_more;
    if (more) {
      ASSERT_EQ(p.changes.size(), 7777u);
    }
    cursor = p.cursor;
  }
  EXPECT_EQ(pages, (kTotal + 7776) / 7777);
  EXPECT_EQ(keys.size(), static_cast<size_t>(kTotal));
  EXPECT_EQ(last_version, kTotal);
  EXPECT_EQ(cursor, "v1." + std::to_string(kTotal));
  // The client's limit is honoured below the server's page size.
  PullRequest small;
  small.cursor = "v1.500";
  small.limit = 10;
  PullResponse p;
  ASSERT_OK(store_->Pull(kAlice, small, 7777, kNow, &p));
  ASSERT_EQ(p.changes.size(), 10u);
  EXPECT_EQ(p.changes.front().version, 501);
  EXPECT_EQ(p.cursor, "v1.510");
  EXPECT_TRUE(p.has_more);
}

TEST_P(StoreTest, ResyncAfterTombstonePruning) {
  PushResponse r =
      Push(kAlice, Batch({Upsert("records", K("r1"), {{"title", S("a")}, {"project", S("team-a")}}, T(1)),
                          Upsert("records", K("r2"), {{"title", S("b")}, {"project", S("team-a")}}, T(2))}));
  const std::string before_delete = "v1." + std::to_string(r.results[1].outcome.version);
  Push(kAlice, Batch({Delete("records", K("r1"), T(3))}));
  std::string cursor;
  std::vector<Change> all = PullAll(kAlice, &cursor);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_TRUE(all[1].deleted);
  EXPECT_EQ(all[1].hlc, T(3));
  EXPECT_EQ(Counts()["tombstones"], 1);

  const int64_t retention = StoreOptions().tombstone_retention_ms;
  ASSERT_OK(store_->PruneTombstones(kNow + retention));  // exactly the retention: kept
  EXPECT_EQ(Counts()["tombstones"], 1);
  EXPECT_FALSE(Pull(kAlice, before_delete).resync_required);
  ASSERT_OK(store_->PruneTombstones(kNow + retention + 1));
  EXPECT_EQ(Counts()["tombstones"], 0);

  PullResponse stale = Pull(kAlice, before_delete);
  EXPECT_TRUE(stale.resync_required);
  EXPECT_TRUE(stale.changes.empty());
  EXPECT_TRUE(stale.cursor.empty());
  EXPECT_FALSE(Pull(kAlice, cursor).resync_required);  // saw the tombstone: fine
  std::string fresh;
  std::vector<Change> resynced = PullAll(kAlice, &fresh);
  ASSERT_EQ(resynced.size(), 1u);
  EXPECT_EQ(resynced[0].key, K("r2"));
  // A cursor from beyond the store's newest version (a store restored from a backup) also resyncs.
  EXPECT_TRUE(Pull(kAlice, "v1.999999").resync_required);

  for (const char* bad : {"v2.1", "v1.", "v1.01", "v1.-1", "abc", "v1.1x", "v1.99999999999999999"}) {
    PullRequest request;
    request.cursor = bad;
    PullResponse response;
    const Status s = store_->Pull(kAlice, request, 100, kNow, &response);
    EXPECT_EQ(s.code(), "INVALID_ARGUMENT") << bad;
  }
}

TEST_P(StoreTest, ScopesIsolateUsers) {
  Push(kAlice, Batch({Upsert("records", K("a1"), {{"title", S("a")}, {"project", S("team-a")}}, T(1)),
                      Upsert("archive", K("s1"), {{"title", S("shared")}}, T(1))}));
  Push(kBob, Batch({Upsert("records", K("b1"), {{"title", S("b")}, {"project", S("team-b")}}, T(1))}));
  std::string cursor;
  std::vector<Change> alice = PullAll(kAlice, &cursor);
  ASSERT_EQ(alice.size(), 2u);
  EXPECT_NE(FindChange(alice, "records", K("a1")), nullptr);
  EXPECT_NE(FindChange(alice, "archive", K("s1")), nullptr);
  cursor.clear();
  std::vector<Change> bob = PullAll(kBob, &cursor);
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_EQ(bob[0].key, K("b1"));
  cursor.clear();
  EXPECT_EQ(PullAll(kAdmin, &cursor).size(), 3u);

  PullResponse subscribed = Pull(kAlice, "", 100, {"shared"});
  ASSERT_EQ(subscribed.changes.size(), 1u);
  EXPECT_EQ(subscribed.changes[0].table, "archive");

  PullRequest request;
  request.scopes = {"team-b"};
  PullResponse response;
  EXPECT_EQ(store_->Pull(kAlice, request, 100, kNow, &response).code(), "FORBIDDEN");
  Principal nobody{"eve", "dev-e", {}};
  cursor.clear();
  EXPECT_TRUE(PullAll(nobody, &cursor).empty());
}

// Several pushers at once, each with its own Store (as separate server processes would have) or sharing
// one, and a puller paging concurrently: the puller must see every applied version exactly once.
void RunConcurrent(StoreTest* test, bool own_instances, const std::function<Status(std::unique_ptr<Store>*)>& open,
                   Store* shared) {
  constexpr int kThreads = 4;
  constexpr int kBatches = 25;
  constexpr int kOps = 20;
  std::mutex mu;
  std::map<std::string, int64_t> pushed;  // key → version from the push results
  std::atomic<int> done{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::unique_ptr<Store> own;
      Store* store = shared;
      if (own_instances) {
        if (!open(&own).ok()) {
          failed = true;
          done++;
          return;
        }
        store = own.get();
      }
      for (int b = 0; b < kBatches && !failed; ++b) {
        std::vector<Operation> ops;
        for (int i = 0; i < kOps; ++i) {
          ops.push_back(Upsert("records", K("t" + std::to_string(t) + "-" + std::to_string(b * kOps + i)),
                               {{"title", S("x")}, {"project", S("team-a")}}, T(b, t + 1)));
        }
        const PushRequest request = Batch(std::move(ops));
        PushResponse response;
        Status s;
        for (int attempt = 0; attempt < 50; ++attempt) {  // UNAVAILABLE is retried, as clients do
          s = store->Push(kAlice, request, kNow, &response);
          if (s.code() != "UNAVAILABLE") break;
        }
        if (!s.ok()) {
          ADD_FAILURE() << s.ToString();
          failed = true;
          break;
        }
        std::lock_guard<std::mutex> lock(mu);
        for (size_t i = 0; i < request.ops.size(); ++i) {
          pushed[std::get<std::string>(request.ops[i].key.at("id"))] = response.results[i].outcome.version;
        }
      }
      done++;
    });
  }
  std::map<std::string, int64_t> pulled;
  auto pull_loop = [&] {
    std::unique_ptr<Store> reader;
    ASSERT_OK(open(&reader));
    std::string cursor;
    int64_t last = 0;
    for (;;) {
      const bool finished = done == kThreads;  // read before pulling: the pull then sees everything
      PullRequest request;
      request.cursor = cursor;
      PullResponse page;
      ASSERT_OK(reader->Pull(kAlice, request, 37, kNow, &page));
      ASSERT_FALSE(page.resync_required);
      for (const Change& c : page.changes) {
        ASSERT_GT(c.version, last) << "versions out of order";
        last = c.version;
        ASSERT_TRUE(pulled.emplace(std::get<std::string>(c.key.at("id")), c.version).second) << "repeated row";
      }
      cursor = page.cursor;
      if (finished && !page.has_more) break;
    }
  };
  pull_loop();
  if (::testing::Test::HasFatalFailure()) failed = true;  // stop the pushers, then join them
  for (std::thread& t : threads) t.join();
  ASSERT_FALSE(failed);
  EXPECT_EQ(pushed.size(), static_cast<size_t>(kThreads * kBatches * kOps));
  EXPECT_EQ(pulled, pushed) << "a version the puller skipped committed after its cursor passed it";
  std::set<int64_t> versions;
  for (const auto& [key, version] : pushed) versions.insert(version);
  EXPECT_EQ(versions.size(), pushed.size());
  (void)test;
}

TEST_P(StoreTest, ConcurrentPushersOwnInstancesNeverSkipAVersion) {
  RunConcurrent(
      this, true, [this](std::unique_ptr<Store>* out) { return Open(out); }, nullptr);
}

TEST_P(StoreTest, ConcurrentPushersSharingOneInstance) {
  RunConcurrent(
      this, false, [this](std::unique_ptr<Store>* out) { return Open(out); }, store_.get());
}

// Two Store instances (as two server processes), two pushing threads on each, changing the same few rows
// (a counter and an LWW title) besides rows of their own, creating the shared rows at once, while a
// puller pages through with its cursor. Nothing may be lost or skipped: every push succeeds and applies
// every operation with its own version, the puller's copy ends equal to the store (counters hold every
// increment, titles the newest HLC), and each own row reaches the puller at the version its push got.
TEST_P(StoreTest, ConcurrentPushersOnSharedRowsConvergeAndThePullerSkipsNothing) {
  constexpr int kInstances = 2;
  constexpr int kThreadsPerInstance = 2;
  constexpr int kThreads = kInstances * kThreadsPerInstance;
  constexpr int kBatches = 30;
  constexpr int kHot = 3;   // shared rows; each batch changes one
  constexpr int kOwn = 10;  // rows only this batch writes
  std::vector<std::unique_ptr<Store>> instances(kInstances);
  for (auto& instance : instances) ASSERT_OK(Open(&instance));

  std::mutex mu;
  std::map<std::string, int64_t> own_versions;  // own row → version from its push result
  std::set<int64_t> versions;                   // every version a push result reported
  std::atomic<int> done{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store* store = instances[static_cast<size_t>(t / kThreadsPerInstance)].get();
      for (int b = 0; b < kBatches && !failed; ++b) {
        std::vector<Operation> ops;
        {
          // One of the shared rows per batch, so batches on different rows overlap. HLC offsets are unique
          // per (batch, thread): the newest write of each shared row is the last batch that changes it.
          const int h = (b + t) % kHot;
          ops.push_back(Upsert("records", K("hot-" + std::to_string(h)),
                               {{"title", Value("t" + std::to_string(t) + "b" + std::to_string(b))},
                                {"quantity", I(1)},
                                {"project", S("team-a")}},
                               T(b * kThreads + t, static_cast<uint64_t>(t + 1))));
        }
        for (int i = 0; i < kOwn; ++i) {
          ops.push_back(Upsert("records", K("own-" + std::to_string(t) + "-" + std::to_string(b * kOwn + i)),
                               {{"title", S("x")}, {"project", S("team-a")}}, T(b, static_cast<uint64_t>(t + 1))));
        }
        const PushRequest request = Batch(std::move(ops));
        PushResponse response;
        const Status s = store->Push(kAlice, request, kNow, &response);
        if (!s.ok() || response.results.size() != request.ops.size()) {
          ADD_FAILURE() << "push failed: " << s.ToString();
          failed = true;
          break;
        }
        std::lock_guard<std::mutex> lock(mu);
        for (size_t i = 0; i < request.ops.size(); ++i) {
          const auto& result = response.results[i];
          if (result.status() != OpStatus::kApplied || result.duplicate) {
            ADD_FAILURE() << "not applied: " << result.outcome.code << " " << result.outcome.message;
            failed = true;
          }
          EXPECT_TRUE(versions.insert(result.outcome.version).second) << "version handed out twice";
          const std::string& id = std::get<std::string>(request.ops[i].key.at("id"));
          if (id.rfind("own-", 0) == 0) own_versions[id] = result.outcome.version;
        }
      }
      done++;
    });
  }

  std::map<std::string, Change> replica;  // the puller's copy: key → latest change it received
  std::map<std::string, int64_t> own_pulled;
  {
    std::unique_ptr<Store> reader;
    ASSERT_OK(Open(&reader));
    std::string cursor;
    int64_t last = 0;
    for (int pages = 0; !failed; ++pages) {
      const bool finished = done == kThreads;  // read before pulling: the pull then sees everything
      PullRequest request;
      request.cursor = cursor;
      PullResponse page;
      const Status s = reader->Pull(kAlice, request, 41, kNow, &page);
      if (!s.ok() || page.resync_required) {
        ADD_FAILURE() << "pull failed: " << s.ToString();
        failed = true;
        break;
      }
      for (const Change& c : page.changes) {
        EXPECT_GT(c.version, last) << "versions out of order";
        last = c.version;
        const std::string& id = std::get<std::string>(c.key.at("id"));
        replica[id] = c;
        if (id.rfind("own-", 0) == 0) {
          EXPECT_TRUE(own_pulled.emplace(id, c.version).second) << "repeated " << id;
        }
      }
      cursor = page.cursor;
      if (finished && !page.has_more) break;
    }
  }
  for (std::thread& t : threads) t.join();
  ASSERT_FALSE(failed);

  constexpr int kOps = kThreads * kBatches * (1 + kOwn);
  EXPECT_EQ(versions.size(), static_cast<size_t>(kOps));
  // A retried batch may leave a gap (PostgreSQL burns the versions it had reserved), never a repeat.
  EXPECT_LE(*versions.rbegin(), Counts()["version"]);
  EXPECT_EQ(own_versions.size(), static_cast<size_t>(kThreads * kBatches * kOwn));
  EXPECT_EQ(own_pulled, own_versions) << "a version the puller skipped committed after its cursor passed it";
  for (int h = 0; h < kHot; ++h) {
    int64_t increments = 0;
    std::string newest;  // the title of the write with the highest HLC offset b * kThreads + t
    for (int b = 0; b < kBatches; ++b) {
      for (int t = 0; t < kThreads; ++t) {
        if ((b + t) % kHot != h) continue;
        ++increments;
        newest = "t" + std::to_string(t) + "b" + std::to_string(b);
      }
    }
    const std::string id = "hot-" + std::to_string(h);
    ASSERT_TRUE(replica.count(id)) << id;
    EXPECT_EQ(replica[id].columns.at("quantity").value, I(increments)) << id << ": a lost increment";
    EXPECT_EQ(replica[id].columns.at("title").value, Value(newest)) << id;
  }
  // The puller's copy is exactly what a fresh full pull returns now.
  std::string cursor;
  std::vector<Change> all = PullAll(kAlice, &cursor);
  ASSERT_EQ(all.size(), replica.size());
  for (const Change& c : all) EXPECT_EQ(replica.at(std::get<std::string>(c.key.at("id"))), c);
}

TEST_P(StoreTest, StoreErrorMidBatchLeavesNothingApplied) {
  Push(kAlice, Batch({Upsert("records", K("keep"), {{"title", S("v1")}, {"project", S("team-a")}}, T(1))}));
  const auto counts_before = Counts();
  std::string cursor;
  const std::vector<Change> before = PullAll(kAdmin, &cursor);
  if (GetParam() == "sqlite") {
    RawExec(
        "CREATE TRIGGER boom BEFORE INSERT ON outpost_rows WHEN NEW.key_json LIKE '%boom%' "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  } else {
    RawExec(
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.key_json LIKE '%boom%' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$; "
        "CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON outpost_rows FOR EACH ROW EXECUTE FUNCTION boom()");
  }
  const PushRequest batch = Batch({Upsert("records", K("keep"), {{"title", S("v2")}}, T(2)),
                                   Upsert("records", K("boom"), {{"title", S("x")}, {"project", S("team-a")}}, T(2)),
                                   Upsert("records", K("after"), {{"title", S("y")}, {"project", S("team-a")}}, T(2))});
  PushResponse response;
  const Status s = store_->Push(kAlice, batch, kNow, &response);
  EXPECT_EQ(s.code(), "INTERNAL") << s.ToString();
  EXPECT_TRUE(response.results.empty());
  auto counts_after = Counts();
  // PostgreSQL reserves versions in a transaction of their own: a failed batch burns them (a gap pulls
  // never notice), like a sequence. Nothing else may change.
  EXPECT_GE(counts_after["version"], counts_before.at("version"));
  counts_after["version"] = counts_before.at("version");
  EXPECT_EQ(counts_after, counts_before);
  std::string cursor2;
  EXPECT_EQ(PullAll(kAdmin, &cursor2), before);

  // Once the store works again the same batch applies in full: none of it was logged as seen.
  RawExec(GetParam() == "sqlite" ? "DROP TRIGGER boom" : "DROP TRIGGER boom ON outpost_rows");
  PushResponse retried = Push(kAlice, batch);
  for (const auto& result : retried.results) {
    EXPECT_FALSE(result.duplicate);
    EXPECT_EQ(result.status(), OpStatus::kApplied);
  }
  EXPECT_EQ(Counts()["changes"], 3);
}

TEST_P(StoreTest, InjectionShapedValuesAreStoredVerbatim) {
  const std::string nasty_id = "x'); DROP TABLE outpost_rows; --";
  const Value title = S("Robert'); DROP TABLE students;-- \" OR 1=1 $1 ?1 %s ${x} \\ \\\\ \\u0000");
  const Value with_nul = Value(std::string("a\0b'\"\\", 6));
  const Value unicode = S("\u00e9\u4e2d\U0001F600 \xe2\x80\xae");
  Blob blob;
  for (int i = 0; i < 256; ++i) blob.bytes.push_back(static_cast<uint8_t>(i));
  const std::map<std::string, Value> columns = {{"title", title},
                                                {"notes", with_nul},
                                                {"status", unicode},
                                                {"quantity", I(std::numeric_limits<int64_t>::min() + 1)},
                                                {"project", S("team-a")}};
  Operation op = Upsert("records", K(nasty_id), columns, T(1));
  Operation blob_op = Upsert("items", {{"list", Value(blob)}, {"pos", Value(-0.5)}},
                             {{"text", I(std::numeric_limits<int64_t>::max())}}, T(1));
  Operation custom;
  custom.id = NewId();
  custom.kind = "http.post";
  custom.hlc = T(1);
  custom.entity = "order'; DROP TABLE outpost_custom_ops; --";
  custom.target = "https://x.example/?q=' OR ''='";
  custom.payload = R"({"sql":"'; DELETE FROM outpost_oplog; --"})";
  PushResponse r = Push(kAlice, Batch({op, blob_op, custom}));
  for (const auto& result : r.results) EXPECT_EQ(result.status(), OpStatus::kApplied) << result.outcome.message;

  std::string cursor;
  std::vector<Change> all = PullAll(kAlice, &cursor);
  ASSERT_EQ(all.size(), 2u);
  const Change* row = FindChange(all, "records", K(nasty_id));
  ASSERT_NE(row, nullptr);
  for (const auto& [name, value] : columns) EXPECT_EQ(row->columns.at(name).value, value) << name;
  const Change* item = FindChange(all, "items", {{"list", Value(blob)}, {"pos", Value(-0.5)}});
  ASSERT_NE(item, nullptr);
  EXPECT_EQ(item->columns.at("text").value, I(std::numeric_limits<int64_t>::max()));
  auto counts = Counts();
  EXPECT_EQ(counts["changes"], 2);
  EXPECT_EQ(counts["ops"], 3);
  EXPECT_EQ(counts["custom_ops"], 1);
  // The row is addressable again by the same key: an update merges into it.
  PushResponse update = Push(kAlice, Batch({Upsert("records", K(nasty_id), {{"quantity", I(-1)}}, T(2))}));
  EXPECT_EQ(update.results[0].status(), OpStatus::kApplied);
  EXPECT_EQ(Counts()["changes"], 2);
}

TEST_P(StoreTest, ScopeFromAKeyColumn) {
  PushResponse r = Push(kAlice, Batch({Upsert("tasks", {{"team", S("team-a")}, {"id", I(1)}}, {{"text", S("a")}}, T(1)),
                                       Upsert("tasks", {{"team", S("team-b")}, {"id", I(1)}}, {{"text", S("b")}}, T(1)),
                                       Delete("tasks", {{"team", S("team-b")}, {"id", I(2)}}, T(1))}));
  EXPECT_EQ(r.results[0].status(), OpStatus::kApplied);
  EXPECT_EQ(r.results[1].outcome.code, "FORBIDDEN");
  EXPECT_EQ(r.results[2].outcome.code, "FORBIDDEN");
  PushResponse b =
      Push(kBob, Batch({Upsert("tasks", {{"team", S("team-b")}, {"id", I(1)}}, {{"text", S("b")}}, T(2))}));
  EXPECT_EQ(b.results[0].status(), OpStatus::kApplied);
  std::string cursor;
  std::vector<Change> alice = PullAll(kAlice, &cursor);
  ASSERT_EQ(alice.size(), 1u);
  EXPECT_EQ(alice[0].key.at("team"), S("team-a"));
  cursor.clear();
  std::vector<Change> bob = PullAll(kBob, &cursor);
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_EQ(bob[0].key.at("team"), S("team-b"));
}

TEST_P(StoreTest, CustomOperationsAreLoggedWithAVersionAndNeverPulled) {
  Operation post;
  post.id = NewId();
  post.kind = "http.post";
  post.hlc = T(1);
  post.entity = "order/42";
  post.target = "https://api.example.com/orders";
  post.payload = R"({"qty":2})";
  Operation nul = post;
  nul.id = NewId();
  nul.entity = std::string("order\0/43", 9);
  PushResponse r = Push(kAlice, Batch({Upsert("records", K("r"), {{"project", S("team-a")}}, T(1)), post, nul}));
  EXPECT_EQ(r.results[1].status(), OpStatus::kApplied);
  EXPECT_EQ(r.results[1].outcome.version, 2);
  EXPECT_EQ(r.results[2].outcome.code, "INVALID_ARGUMENT");
  EXPECT_EQ(Counts()["custom_ops"], 1);
  EXPECT_EQ(Counts()["version"], 2);
  std::string cursor;
  std::vector<Change> all = PullAll(kAdmin, &cursor);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].table, "records");
  EXPECT_EQ(cursor, "v1.1");  // the custom op's version is never a change
  EXPECT_EQ(Push(kAlice, Batch({post})).results[0].outcome, r.results[1].outcome);
}

TEST_P(StoreTest, ReopenedStoreKeepsRowsVersionsAndOpLog) {
  const PushRequest batch = Batch({Upsert("records", K("r1"), {{"title", S("a")}, {"project", S("team-a")}}, T(1)),
                                   Upsert("records", K("r2"), {{"title", S("b")}, {"project", S("team-a")}}, T(2))});
  PushResponse first = Push(kAlice, batch);
  std::string cursor;
  const std::vector<Change> before = PullAll(kAlice, &cursor);
  store_.reset();
  ASSERT_OK(Open(&store_));
  std::string cursor2;
  EXPECT_EQ(PullAll(kAlice, &cursor2), before);
  PushResponse replay = Push(kAlice, batch);
  EXPECT_TRUE(replay.results[0].duplicate);
  EXPECT_EQ(replay.results[1].outcome, first.results[1].outcome);
  PushResponse next = Push(kAlice, Batch({Upsert("records", K("r3"), {{"project", S("team-a")}}, T(3))}));
  EXPECT_EQ(next.results[0].outcome.version, 3);  // the version counter survived
}

TEST_P(StoreTest, PushWaitingTooLongForTheWriteLockIsUnavailableAndAppliesNothing) {
  StoreOptions impatient;
  impatient.busy_timeout_ms = 50;
  std::unique_ptr<Store> store;
  ASSERT_OK(Open(&store, impatient));
  const PushRequest batch = Batch({Upsert("records", K("r1"), {{"title", S("a")}, {"project", S("team-a")}}, T(1))});
  PushResponse response;
  Status s;
  if (GetParam() == "sqlite") {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(target_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);  // another writer
    s = store->Push(kAlice, batch, kNow, &response);
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  } else {
    pqxx::connection other(target_);
    pqxx::work holder(other);
    // The version counter's row lock, as a push in another process holds it from reserving to commit.
    holder.exec("UPDATE outpost_meta SET value = value WHERE name = 'version'");
    s = store->Push(kAlice, batch, kNow, &response);
    holder.abort();
  }
  EXPECT_EQ(s.code(), "UNAVAILABLE") << s.ToString();
  EXPECT_TRUE(response.results.empty());
  EXPECT_EQ(Counts()["ops"], 0);
  // Once the other writer is gone the same batch applies.
  ASSERT_OK(store->Push(kAlice, batch, kNow, &response));
  EXPECT_EQ(response.results[0].status(), OpStatus::kApplied);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "sqlite" ? std::string("Sqlite") : std::string("Postgres");
                         });

// Stored rows' columns and logged outcomes are written without a JSON tree: the bytes must be the tree's
// canonical dump, and they must read back exactly.
TEST(StoreCoreTest, DirectlyWrittenColumnsAndOutcomesAreCanonical) {
  auto canonical = [](const std::string& text) {
    return nlohmann::json::parse(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  std::map<std::string, merge::ColumnState> columns;
  const std::vector<Value> values = {Value{}, Value{int64_t{-5}}, Value{int64_t{1} << 60}, Value{0.1},
                                     Value{std::string("q\"\\\n\xc3\xa9")}, Value{std::string("a\0b", 3)},
                                     Value{Blob{{0, 255}}}, Value{std::string("plain")}};
  for (size_t i = 0; i < values.size(); ++i) {
    merge::ColumnState c;
    c.value = values[i];
    c.hlc = HlcTimestamp{1'700'000'000'000 + static_cast<int64_t>(i), static_cast<uint32_t>(i), 0xabcdef};
    c.version = static_cast<int64_t>(i * 7);
    columns["c" + std::to_string(i)] = c;
  }
  const std::string text = core::EncodeColumns(columns);
  EXPECT_EQ(canonical(text), text);
  std::map<std::string, merge::ColumnState> back;
  ASSERT_OK(core::DecodeColumns(text, &back));
  ASSERT_EQ(back.size(), columns.size());
  for (const auto& [name, c] : columns) {
    EXPECT_EQ(back[name].value, c.value) << name;
    EXPECT_EQ(back[name].version, c.version) << name;
    EXPECT_EQ(Hlc::Encode(back[name].hlc), Hlc::Encode(c.hlc)) << name;
  }
  EXPECT_EQ(core::EncodeColumns({}), "{}");

  protocol::OpOutcome applied;
  applied.status = OpStatus::kApplied;
  applied.version = 123456789;
  const std::string logged = core::EncodeOutcome(applied);
  EXPECT_EQ(logged, R"({"status":"applied","version":123456789})");
  protocol::OpOutcome decoded;
  ASSERT_OK(core::DecodeOutcome(logged, &decoded));
  EXPECT_EQ(decoded, applied);
}

}  // namespace
}  // namespace outpost::server
