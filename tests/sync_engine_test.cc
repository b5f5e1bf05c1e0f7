// SyncEngine: capture, custom operations, the lifecycle of an operation (every outcome of a push), order,
// priority and compaction, bounds, pulls (merge, rebase, tombstones, resync), conflicts, connectivity and
// events, each with a simulated clock and the fake server of sync_fake_server.h.
#include "outpost/sync_engine.h"

#include <cstdio>
#include <ctime>

#include "outpost/op_id.h"
#include "sync_engine_impl.h"  // the shadow codec
#include "sync_test_util.h"

namespace outpost::testing {
namespace {

constexpr const char* kSchema =
    "CREATE TABLE items(id TEXT PRIMARY KEY, title TEXT, qty INTEGER);"
    "CREATE TABLE docs(id TEXT PRIMARY KEY, body TEXT, tag TEXT);"
    "CREATE TABLE plain(id TEXT PRIMARY KEY, title TEXT, qty INTEGER);";

SyncConfig Config() {
  SyncConfig c;
  Status s = SyncConfig::FromJson(R"({
    "url": "https://sync.example", "token": "t",
    "tables": {"items": {"primaryKey": "id", "columns": {"qty": "counter"}},
               "docs": {"primaryKey": ["id"], "columns": {"body": "manual"}}},
    "batchSize": 100, "retry": {"baseMs": 1000, "factor": 2, "capMs": 60000},
    "pullIntervalMs": 60000, "doneRetentionMs": 3600000})",
                                  &c);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return c;
}

FakeServer Server(const SyncConfig& c) {
  FakeServer server;
  for (const auto& [name, t] : c.tables) server.policies[name] = t.policy;
  return server;
}

// Follows waits and serves pulls and heartbeats until `c` sends a push (bounded), and returns that push
// (or the last action if none came).
Action FollowUntilPush(SyncClient& c, FakeServer& server) {
  Action a = c.Next();
  for (int i = 0; i < 50 && a.kind != Action::kPush && a.kind != Action::kIdle; ++i) {
    if (a.kind == Action::kWait) c.now = a.wake_at_ms;
    else EXPECT_TRUE(c.Serve(a, server).ok());
    a = c.Next();
  }
  return a;
}

class SyncEngineTest : public ::testing::Test {
 protected:
  SyncEngineTest() : config(Config()), server(Server(config)), client(config, kSchema) {}

  // Serves actions until the engine sends a push, and returns it (after failing the test if none comes).
  Action NextPush() {
    for (int i = 0; i < 20; ++i) {
      Action a = Take();
      if (a.kind == Action::kPush) return a;
      if (a.kind == Action::kPull || a.kind == Action::kHeartbeat) {
        EXPECT_TRUE(client.Serve(a, server).ok());
        continue;
      }
      ADD_FAILURE() << "no push; action " << a.kind;
      return a;
    }
    ADD_FAILURE() << "no push";
    return {};
  }
  protocol::PushRequest Decoded(const Action& a) {
    protocol::PushRequest req;
    Status s = protocol::Decode(a.body, protocol::Limits{}, &req);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return req;
  }
  // Serves pulls and heartbeats until the engine wants something else (kept for Take()).
  void SettleReads() {
    for (int i = 0; i < 20; ++i) {
      Action a = Take();
      if (a.kind != Action::kPull && a.kind != Action::kHeartbeat) {
        stashed = a;
        return;
      }
      ASSERT_TRUE(client.Serve(a, server).ok());
    }
  }
  // The action SettleReads stopped at, else the engine's next one.
  Action Take() {
    if (stashed && stashed->kind != Action::kWait && stashed->kind != Action::kIdle) {
      Action a = *stashed;
      stashed.reset();
      return a;
    }
    stashed.reset();
    return client.Next();
  }
  std::optional<Action> stashed;

  SyncConfig config;
  FakeServer server;
  SyncClient client;
};

// ---- Capture ------------------------------------------------------------------------------------------

TEST_F(SyncEngineTest, InsertUpdateDeleteAreCapturedInTheSameTransaction) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'Pump', 5)");
  auto ops = client.List();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].op.kind, "upsert");
  EXPECT_EQ(ops[0].op.table, "items");
  EXPECT_EQ(std::get<std::string>(ops[0].op.key.at("id")), "a");
  EXPECT_EQ(std::get<std::string>(ops[0].op.columns.at("title").value), "Pump");
  EXPECT_EQ(std::get<int64_t>(ops[0].op.columns.at("qty").value), 5);
  EXPECT_EQ(ops[0].state, OpState::kPending);
  EXPECT_TRUE(ParseOpId(ops[0].op.id).ok());

  // A rolled-back transaction leaves no operation.
  client.ExecOk("BEGIN");
  client.ExecOk("UPDATE items SET title = 'X' WHERE id = 'a'");
  client.ExecOk("ROLLBACK");
  EXPECT_EQ(client.List().size(), 1u);
  // Untracked tables record nothing.
  client.ExecOk("INSERT INTO plain VALUES ('p', 't', 1)");
  EXPECT_EQ(client.List().size(), 1u);
}

// Claims read keys and columns back from their stored text through a fast path for plain values; every
// other value (reals, big integers, blobs, escaped and non-ASCII text) must come back exactly as well.
TEST(SyncEngineValues, StoredKeysAndColumnsReadBackExactly) {
  SyncConfig cfg;
  ASSERT_TRUE(SyncConfig::FromJson(R"({"url": "https://sync.example", "token": "t",
    "tables": {"vals": {"primaryKey": ["k", "n"]}}})", &cfg).ok());
  SyncClient c(cfg, "CREATE TABLE vals(k, n, a, b, PRIMARY KEY(k, n));");  // no affinity: values stay as given
  FakeServer srv = Server(cfg);
  const std::vector<Value> values = {
      Value{std::monostate{}}, Value{int64_t{0}}, Value{int64_t{-42}}, Value{int64_t{9007199254740991}},
      Value{int64_t{-9007199254740991}}, Value{int64_t{1} << 60}, Value{1.5}, Value{-0.25},
      Value{std::string("")}, Value{std::string("plain text 12")}, Value{std::string("q\"uo\\te\n\tnl")},
      Value{std::string("h\xc3\xa9llo \xe2\x82\xac")}, Value{std::string("01")}, Value{std::string("null")},
      Value{Blob{{0x00, 0xff, 0x22}}}, Value{std::string("a\0b", 3)}};
  const std::vector<Value> keys = {Value{std::string("k1")}, Value{std::string("k \"2\"")},
                                   Value{int64_t{-7}}, Value{std::string("k\xc3\xa9")}, Value{Blob{{1, 2}}},
                                   Value{2.5}, Value{int64_t{1} << 62}};
  auto key = [&](size_t i) { return protocol::Key{{"k", keys[i % keys.size()]}, {"n", Value{int64_t(i)}}}; };
  for (size_t i = 0; i < values.size(); ++i)
    c.ExecOk("INSERT INTO vals(k, n, a, b) VALUES (?, ?, ?, ?)",
             P({keys[i % keys.size()], Value{int64_t(i)}, values[i], values[(i + 1) % values.size()]}));
  auto ops = c.List();
  ASSERT_EQ(ops.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(ops[i].op.key, key(i)) << i;
    EXPECT_EQ(ops[i].op.columns.at("a").value, values[i]) << i;
    EXPECT_EQ(ops[i].op.columns.at("b").value, values[(i + 1) % values.size()]) << i;
  }
  c.SyncAll(srv);
  EXPECT_EQ(c.engine->GetStatus().pending, 0);
  for (size_t i = 0; i < values.size(); ++i) {
    const auto* row = srv.Find("vals", key(i));
    ASSERT_NE(row, nullptr) << i;
    EXPECT_EQ(row->state.columns.at("a").value, values[i]) << i;
  }
}

TEST_F(SyncEngineTest, UpdateCapturesOnlyChangedColumnsAndCounterDeltas) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'Pump', 5)");
  SettleReads();
  Action push = NextPush();  // the insert is in flight: later edits are new operations
  client.ExecOk("UPDATE items SET qty = qty + 3, title = title WHERE id = 'a'");
  client.ExecOk("UPDATE items SET title = title WHERE id = 'a'");  // no change: nothing recorded
  auto ops = client.List(OpState::kPending);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].op.columns.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(ops[0].op.columns.at("qty").value), 3);  // NEW - OLD
  ASSERT_TRUE(client.Serve(push, server).ok());
}

TEST_F(SyncEngineTest, ConsecutiveUnsentUpsertsAreCompactedKeepingTheFirstId) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  const std::string first = client.List()[0].op.id;
  client.ExecOk("UPDATE items SET title = 'B', qty = qty + 2 WHERE id = 'a'");
  client.ExecOk("UPDATE items SET title = 'C', qty = qty + 4 WHERE id = 'a'");
  auto ops = client.List();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].op.id, first);
  EXPECT_EQ(std::get<std::string>(ops[0].op.columns.at("title").value), "C");
  EXPECT_EQ(std::get<int64_t>(ops[0].op.columns.at("qty").value), 7);  // 1 + 2 + 4: deltas add up
  EXPECT_EQ(ops[0].op.hlc, ops[0].op.columns.at("title").hlc);  // the op's time: its latest edit

  // Never across a delete: the delete and a later insert stay separate operations.
  client.ExecOk("DELETE FROM items WHERE id = 'a'");
  client.ExecOk("INSERT INTO items VALUES ('a', 'D', 1)");
  ops = client.List();
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_EQ(ops[1].op.kind, "delete");
  EXPECT_EQ(ops[2].op.kind, "upsert");

  client.SyncAll(server);
  const auto* row = server.Find("items", {{"id", std::string("a")}});
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(std::get<std::string>(row->state.columns.at("title").value), "D");
  EXPECT_EQ(std::get<int64_t>(row->state.columns.at("qty").value), 1);
}

// Compaction rewrites the pending op's columns in SQL (json_set): every value type survives it exactly, the
// byte count stays that of the stored text, and columns not in the later edit keep their first value.
TEST(SyncCompaction, KeepsEveryValueTypeAndTheByteCount) {
  SyncConfig config;
  ASSERT_TRUE(SyncConfig::FromJson(R"({"url": "https://sync.example", "token": "t",
      "tables": {"vals": {"primaryKey": "id"}}})",
                                   &config)
                  .ok());
  SyncClient client(config, "CREATE TABLE vals(id TEXT PRIMARY KEY, a, b, c, d);");
  client.ExecOk("INSERT INTO vals VALUES ('k', 'first', 1, NULL, 'kept')");
  const std::vector<Value> values = {
      Value(std::monostate{}), Value(int64_t{42}), Value(int64_t{9007199254740993}), Value(-0.5), Value(1e300),
      Value(std::string("quote \" backslash \\ and ünïcode ✓")), Value(Blob{{0, 1, 255}}),
      Value(std::string(""))};
  for (const Value& a : values) {
    for (const Value& b : values) {
      client.ExecOk("UPDATE vals SET a = ?, b = ?, c = ? WHERE id = 'k'", Params{{a, b, a}, {}});
      auto ops = client.List();
      ASSERT_EQ(ops.size(), 1u);
      const auto& cols = ops[0].op.columns;
      EXPECT_EQ(cols.at("a").value, a);
      EXPECT_EQ(cols.at("b").value, b);
      EXPECT_EQ(cols.at("c").value, a);
      EXPECT_EQ(std::get<std::string>(cols.at("d").value), "kept");
      OutboxStats stats;
      ASSERT_TRUE(client.engine->Stats(&stats).ok());
      EXPECT_EQ(stats.bytes, client.Int("SELECT sum(bytes) FROM _outpost_outbox"));
      EXPECT_EQ(client.Int("SELECT count(*) FROM _outpost_outbox WHERE json_valid(columns)"), 1);
    }
  }
}

TEST_F(SyncEngineTest, NoCompactionIntoAnOperationAServerMayHaveSeen) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  SettleReads();
  Action push = NextPush();
  ASSERT_TRUE(client.Serve(push, server, Fault::kLostAnswer).ok());  // applied, answer lost: back to pending
  client.ExecOk("UPDATE items SET qty = qty + 10 WHERE id = 'a'");
  ASSERT_EQ(client.List().size(), 2u);  // a resend of the first op must not carry the +10
  client.now += 120'000;
  client.SyncAll(server);
  EXPECT_EQ(std::get<int64_t>(server.Find("items", {{"id", std::string("a")}})->state.columns.at("qty").value), 11);
  EXPECT_EQ(client.Int("SELECT qty FROM items WHERE id = 'a'"), 11);
}

TEST_F(SyncEngineTest, KeyChangeIsADeleteAndAnInsert) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  client.SyncAll(server);
  client.ExecOk("UPDATE items SET id = 'b' WHERE id = 'a'");
  auto ops = client.List(OpState::kPending);
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].op.kind, "delete");
  EXPECT_EQ(std::get<std::string>(ops[0].op.key.at("id")), "a");
  EXPECT_EQ(ops[1].op.kind, "upsert");
  EXPECT_EQ(ops[1].op.columns.size(), 2u);

  // A table of key columns only.
  SyncConfig c = Config();
  c.tables["tags"] = TrackedTable{{"doc", "tag"}, {}};
  SyncClient keys(c, std::string(kSchema) + "CREATE TABLE tags(doc TEXT, tag TEXT, PRIMARY KEY(doc, tag));");
  keys.ExecOk("INSERT INTO tags VALUES ('d', 'red')");
  server.policies["tags"] = merge::TablePolicy{};
  keys.SyncAll(server);
  keys.ExecOk("UPDATE tags SET tag = 'blue' WHERE doc = 'd'");
  ops = keys.List(OpState::kPending);
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[1].op.kind, "upsert");
  EXPECT_EQ(std::get<std::string>(ops[1].op.key.at("tag")), "blue");
  EXPECT_TRUE(ops[1].op.columns.empty());
}

TEST_F(SyncEngineTest, PulledChangesAreNotCaptured) {
  protocol::Operation remote;
  remote.id = "01900000-0000-7000-8000-000000000001";
  remote.kind = "upsert";
  remote.table = "items";
  remote.key = {{"id", std::string("r")}};
  remote.hlc = {1'700'000'000'000, 0, 99};
  remote.columns["title"] = {std::string("Remote"), remote.hlc};
  server.RemoteWrite(remote);
  client.SyncAll(server);
  EXPECT_EQ(client.Text("SELECT title FROM items WHERE id = 'r'"), "Remote");
  EXPECT_TRUE(client.List().empty());
  auto changes = client.Events("change");
  ASSERT_FALSE(changes.empty());
  EXPECT_EQ(changes.back().json, R"({"tables":["items"]})");
}

TEST_F(SyncEngineTest, TrackedTableCreatedAfterOpenIsCaptured) {
  SyncConfig c = Config();
  c.tables["later"] = TrackedTable{{"id"}, {}};
  SyncClient late(c, "CREATE TABLE IF NOT EXISTS items(id TEXT PRIMARY KEY, title TEXT, qty INTEGER);"
                     "CREATE TABLE IF NOT EXISTS docs(id TEXT PRIMARY KEY, body TEXT, tag TEXT)");
  late.ExecOk("CREATE TABLE later(id TEXT PRIMARY KEY, v TEXT)");
  late.ExecOk("INSERT INTO later VALUES ('x', 'y')");  // SetTime before the statement installs the triggers
  auto ops = late.List();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].op.table, "later");
}

TEST_F(SyncEngineTest, NullPrimaryKeyIsRefused) {
  SyncConfig c = Config();
  SyncClient other(c, "CREATE TABLE items(id TEXT, title TEXT, qty INTEGER);"
                      "CREATE TABLE docs(id TEXT PRIMARY KEY, body TEXT, tag TEXT)");
  Status s = other.Exec("INSERT INTO items VALUES (NULL, 'x', 1)");
  EXPECT_EQ(s.code(), "INVALID_ARGUMENT") << s.ToString();
  EXPECT_EQ(other.Int("SELECT count(*) FROM items"), 0);
}

// ---- Custom operations, ids and clocks ----------------------------------------------------------------

TEST_F(SyncEngineTest, EnqueueJoinsTheCallersTransactionOrRunsAlone) {
  CustomOperation op{"http.post", "order/42", "https://api.example/orders", R"({"sku":"A1","qty":2})",
                     protocol::Priority::kCritical};
  std::string id;
  client.ExecOk("BEGIN");
  ASSERT_TRUE(client.engine->Enqueue(op, client.now, &id).ok());
  client.ExecOk("ROLLBACK");
  EXPECT_TRUE(client.List().empty());

  client.ExecOk("BEGIN");
  ASSERT_TRUE(client.engine->Enqueue(op, client.now, &id).ok());
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  client.ExecOk("COMMIT");
  std::string alone;
  ASSERT_TRUE(client.engine->Enqueue(CustomOperation{"mail.send", "", "", "", protocol::Priority::kLow},
                                     client.now, &alone).ok());
  auto ops = client.List();
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_EQ(ops[0].op.id, id);
  EXPECT_EQ(ops[0].op.entity, "order/42");
  EXPECT_EQ(ops[0].op.payload, R"({"qty":2,"sku":"A1"})");
  EXPECT_EQ(ops[2].op.entity, "mail.send");  // default entity: the kind
  EXPECT_LT(ops[0].op.id, ops[1].op.id);
  EXPECT_LT(ops[1].op.id, ops[2].op.id);

  client.SyncAll(server);
  ASSERT_EQ(server.custom_log.size(), 2u);
  EXPECT_EQ(server.custom_log[0].id, id);

  Status bad = client.engine->Enqueue(CustomOperation{"upsert", "", "", "", protocol::Priority::kNormal}, client.now, &id);
  EXPECT_EQ(bad.code(), "INVALID_ARGUMENT");
  bad = client.engine->Enqueue(CustomOperation{"http.post", "", "", "{not json", protocol::Priority::kNormal},
                               client.now, &id);
  EXPECT_EQ(bad.code(), "INVALID_ARGUMENT");
}

TEST_F(SyncEngineTest, IdsAndClockContinueAcrossRestartsEvenIfTimeGoesBack) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  auto before = client.List()[0];
  client.Crash();
  client.now -= 3'600'000;  // the clock was set back an hour
  client.ExecOk("INSERT INTO items VALUES ('b', 'B', 1)");
  auto ops = client.List();
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_GT(ops[1].op.id, before.op.id);
  EXPECT_GT(ops[1].op.hlc, before.op.hlc);
  // The clock's state is far ahead of the wall clock: reported once.
  EXPECT_FALSE(client.Events("clock-drift").empty());
}

TEST_F(SyncEngineTest, ReceivedTimestampsAdvanceTheClock) {
  protocol::Operation remote;
  remote.id = "01900000-0000-7000-8000-000000000002";
  remote.kind = "upsert";
  remote.table = "items";
  remote.key = {{"id", std::string("r")}};
  remote.hlc = {client.now + 60'000, 7, 99};  // another device a minute ahead (within the drift bound)
  remote.columns["title"] = {std::string("Remote"), remote.hlc};
  server.RemoteWrite(remote);
  client.SyncAll(server);
  client.ExecOk("UPDATE items SET title = 'Mine' WHERE id = 'r'");
  auto ops = client.List(OpState::kPending);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_GT(ops[0].op.columns.at("title").hlc, remote.hlc);  // so our later edit wins everywhere
  client.SyncAll(server);
  EXPECT_EQ(std::get<std::string>(server.Find("items", remote.key)->state.columns.at("title").value), "Mine");
}

// ---- Lifecycle ------------------------------------------------------------------------------------------

TEST_F(SyncEngineTest, AppliedAndDuplicateMeanDone) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  SettleReads();
  Action push = NextPush();
  EXPECT_EQ(client.List(OpState::kInflight).size(), 1u);
  EXPECT_TRUE(client.engine->GetStatus().uploading);
  ASSERT_TRUE(client.Serve(push, server).ok());
  auto done = client.List(OpState::kDone);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].attempts, 1);
  EXPECT_EQ(client.engine->GetStatus().pending, 0);

  // A resend of an applied op (answer lost) comes back `duplicate`: done, applied once.
  client.ExecOk("INSERT INTO items VALUES ('b', 'B', 2)");
  SettleReads();
  push = NextPush();
  ASSERT_TRUE(client.Serve(push, server, Fault::kLostAnswer).ok());
  EXPECT_EQ(client.List(OpState::kPending).size(), 1u);
  client.now += 120'000;
  client.SyncAll(server);
  EXPECT_EQ(client.List(OpState::kDone).size(), 2u);
  EXPECT_EQ(server.applied_ids.size(), 2u);
  EXPECT_EQ(std::get<int64_t>(server.Find("items", {{"id", std::string("b")}})->state.columns.at("qty").value), 2);
}

TEST_F(SyncEngineTest, TemporaryFailuresRetryWithJitteredBackoffAndRetryAfter) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  SettleReads();
  Action push = NextPush();
  for (Fault f : {Fault::kNetworkError, Fault::kTimeout, Fault::kServerError}) {
    const int64_t at = client.now;
    ASSERT_TRUE(client.Serve(push, server, f).ok());
    auto ops = client.List(OpState::kPending);
    ASSERT_EQ(ops.size(), 1u);
    const int attempt = ops[0].attempts;
    const int64_t ceiling = std::min<int64_t>(60'000, 1000LL << (attempt - 1));
    EXPECT_GE(ops[0].next_attempt_ms, at);
    EXPECT_LE(ops[0].next_attempt_ms, at + 20 + ceiling) << "attempt " << attempt;
    // Not sent again before its time (nor before the device's own backoff, which may end later).
    Action early = client.Next();
    EXPECT_NE(early.kind, Action::kPush);
    client.engine->OnOnlineHint(true, client.now);
    push = FollowUntilPush(client, server);
    ASSERT_EQ(push.kind, Action::kPush);
    EXPECT_GE(client.now, ops[0].next_attempt_ms);
  }
  const int64_t at = client.now;
  ASSERT_TRUE(client.Serve(push, server, Fault::kRateLimited).ok());
  auto ops = client.List(OpState::kPending);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_GE(ops[0].next_attempt_ms, at + 30'000);  // Retry-After is a floor
  EXPECT_EQ(ops[0].attempts, 4);
  EXPECT_TRUE(server.applied_ids.empty());
  // The whole device holds its pushes back until then: a new write is not pushed either (pulls go on).
  client.ExecOk("INSERT INTO items VALUES ('z', 'Z', 1)");
  Action next = FollowUntilPush(client, server);
  ASSERT_EQ(next.kind, Action::kPush);
  EXPECT_GE(client.now, at + 30'000);
  // An explicit sync now (db.sync.now()) overrides it.
  ASSERT_TRUE(client.Serve(next, server, Fault::kRateLimited).ok());
  client.engine->SyncNow(client.now);
  EXPECT_EQ(client.Next().kind, Action::kPush);
}

// Items k0, k1, ... in one transaction.
void InsertItems(SyncClient& c, int n) {
  c.ExecOk("BEGIN");
  for (int i = 0; i < n; ++i) c.ExecOk("INSERT INTO items VALUES ('k" + std::to_string(i) + "', 'T', 1)");
  c.ExecOk("COMMIT");
}

// Drives `c` for `ms` of simulated time: pushes are answered by `answer` (a fault per request), everything
// else normally. Returns how many pushes were sent.
template <typename Answer>
int DrivePushes(SyncClient& c, FakeServer& server, int64_t ms, Answer answer) {
  const int64_t end = c.now + ms;
  int pushes = 0;
  for (int steps = 0; c.now < end && steps < 100'000; ++steps) {
    Action a = c.Next();
    if (a.kind == Action::kIdle) break;
    if (a.kind == Action::kWait) {
      c.now = std::min(a.wake_at_ms, end);
      continue;
    }
    if (a.kind == Action::kPush) ++pushes;
    EXPECT_TRUE(c.Serve(a, server, a.kind == Action::kPush ? answer(a) : Fault::kNone).ok());
  }
  return pushes;
}

// A struggling server (500 for two minutes) and 200 pending operations in batches of 20: the device retries
// once per backoff period, not whenever some operation's own delay runs out (which made a request every few
// ms). Afterwards every operation goes through once.
TEST_F(SyncEngineTest, AnOutageIsRetriedPerDeviceNotPerOperation) {
  SyncConfig c = Config();
  c.batch_size = 20;
  SyncClient busy(c, kSchema);
  InsertItems(busy, 200);
  const int pushes = DrivePushes(busy, server, 120'000, [](const Action&) { return Fault::kServerError; });
  // Backoff 1 s, x2, full jitter: about 7-9 requests in two minutes (it was 1,294 with per-operation delays).
  EXPECT_GE(pushes, 3);
  EXPECT_LE(pushes, 15);
  EXPECT_TRUE(server.applied_ids.empty());
  busy.now += 120'000;
  DrivePushes(busy, server, 600'000, [](const Action&) { return Fault::kNone; });
  EXPECT_EQ(busy.List(OpState::kDone).size(), 200u);
  EXPECT_EQ(server.applied_ids.size(), 200u);
}

// A batch whose answer was lost goes again as one batch (one backoff for all its operations), not as one
// request per operation.
TEST_F(SyncEngineTest, ABatchRetriedAfterALostAnswerStaysOneBatch) {
  client.ExecOk("BEGIN");
  for (const char* id : {"a", "b", "c"}) client.ExecOk(std::string("INSERT INTO items VALUES ('") + id + "', 'T', 1)");
  client.ExecOk("COMMIT");
  SettleReads();
  Action push = NextPush();
  ASSERT_EQ(Decoded(push).ops.size(), 3u);
  ASSERT_TRUE(client.Serve(push, server, Fault::kLostAnswer).ok());
  auto pending = client.List(OpState::kPending);
  ASSERT_EQ(pending.size(), 3u);
  EXPECT_EQ(pending[0].next_attempt_ms, pending[1].next_attempt_ms);
  EXPECT_EQ(pending[0].next_attempt_ms, pending[2].next_attempt_ms);
  // Nothing is pushed before the backoff ends, then the three go together and are answered `duplicate`.
  Action again = FollowUntilPush(client, server);
  ASSERT_EQ(again.kind, Action::kPush);
  EXPECT_GE(client.now, pending[0].next_attempt_ms);
  EXPECT_EQ(Decoded(again).ops.size(), 3u);
  ASSERT_TRUE(client.Serve(again, server).ok());
  EXPECT_EQ(client.List(OpState::kDone).size(), 3u);
  EXPECT_EQ(server.applied_ids.size(), 3u);
}

// One operation the server cannot handle (it answers 500 to any batch holding it) does not hold back the
// others: batches are halved until it is alone, and the rest is applied.
TEST_F(SyncEngineTest, AnOperationTheServerFailsOnIsIsolatedByHalvingBatches) {
  SyncConfig c = Config();
  c.batch_size = 16;
  SyncClient busy(c, kSchema);
  InsertItems(busy, 40);
  auto poison = [this](const Action& a) {
    for (const auto& op : Decoded(a).ops)
      if (std::get<std::string>(op.key.at("id")) == "k0") return Fault::kServerError;
    return Fault::kNone;
  };
  const int pushes = DrivePushes(busy, server, 3'600'000, poison);
  EXPECT_GT(pushes, 3) << busy.now;
  auto pending = busy.List(OpState::kPending);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(std::get<std::string>(pending[0].op.key.at("id")), "k0");
  EXPECT_EQ(server.applied_ids.size(), 39u);
}

// A pull the server refuses (a 4xx) is retried with backoff, as before, but no longer silently: the app
// hears `pull-failed` once per streak of refusals; a pull that gets through ends the streak. An offline
// spell (network errors, 5xx) is normal and raises nothing.
TEST_F(SyncEngineTest, ARefusedPullIsReportedOncePerStreakAndRetried) {
  auto drive = [&](int64_t ms, Fault pulls) {
    const int64_t end = client.now + ms;
    int sent = 0;
    for (int steps = 0; client.now < end && steps < 1000; ++steps) {
      Action a = client.Next();
      if (a.kind == Action::kIdle) break;
      if (a.kind == Action::kWait) {
        client.now = std::min(a.wake_at_ms, end);
        continue;
      }
      sent += a.kind == Action::kPull;
      ASSERT_TRUE(client.Serve(a, server, a.kind == Action::kPull ? pulls : Fault::kNone).ok());
    }
    EXPECT_GT(sent, 0);
  };
  drive(60'000, Fault::kServerError);
  EXPECT_TRUE(client.Events("pull-failed").empty());
  drive(120'000, Fault::kUnprocessable);
  auto failed = client.Events("pull-failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].json.find(R"("status":422)"), std::string::npos) << failed[0].json;
  EXPECT_NE(failed[0].json.find(R"("code":"CONSTRAINT")"), std::string::npos) << failed[0].json;
  client.engine->SyncNow(client.now);
  drive(1'000, Fault::kNone);
  drive(120'000, Fault::kUnprocessable);
  EXPECT_EQ(client.Events("pull-failed").size(), 2u);
}

TEST_F(SyncEngineTest, MaxAttemptsEndInRetriesExhausted) {
  SyncConfig c = Config();
  c.retry.max_attempts = 2;
  SyncClient limited(c, kSchema);
  limited.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  for (int i = 0; i < 10 && limited.List(OpState::kFailed).empty(); ++i) {
    Action a = limited.Next();
    if (a.kind == Action::kWait) {
      limited.now = a.wake_at_ms;
    } else if (a.kind == Action::kPush) {
      ASSERT_TRUE(limited.Serve(a, server, Fault::kServerError).ok());
    } else if (a.kind != Action::kIdle) {
      ASSERT_TRUE(limited.Serve(a, server).ok());
    }
  }
  auto failed = limited.List(OpState::kFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].error_code, "RETRIES_EXHAUSTED");
  EXPECT_EQ(failed[0].attempts, 2);
  auto events = limited.Events("op-failed");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].json.find("RETRIES_EXHAUSTED"), std::string::npos);
}

TEST_F(SyncEngineTest, A422FailsPermanentlyWithTheServersReason) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  SettleReads();
  Action push = NextPush();
  ASSERT_TRUE(client.Serve(push, server, Fault::kUnprocessable).ok());
  auto failed = client.List(OpState::kFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].error_code, "CONSTRAINT");
  EXPECT_EQ(failed[0].error_message, "quantity must be positive");
  SyncStatus st = client.engine->GetStatus();
  EXPECT_EQ(st.failed, 1);
  EXPECT_EQ(st.pending, 0);
  auto events = client.Events("op-failed");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].json, R"({"code":"CONSTRAINT","id":")" + failed[0].op.id +
                                R"(","key":{"id":"a"},"message":"quantity must be positive","table":"items"})");
  EXPECT_EQ(client.Text("SELECT outpost_sync_state('items', 'a')"), "failed");

  // Retry puts it back; Discard drops it for good.
  ASSERT_TRUE(client.engine->Retry(failed[0].op.id, client.now).ok());
  EXPECT_EQ(client.List(OpState::kPending).size(), 1u);
  EXPECT_EQ(client.engine->Retry(failed[0].op.id, client.now).code(), "NOT_FOUND");
  ASSERT_TRUE(client.engine->Discard(failed[0].op.id, client.now).ok());
  EXPECT_TRUE(client.List().empty());
}

// GetStatus() keeps its counts between engine calls and adjusts them after an answer: after every step they
// must equal a fresh count of the outbox.
TEST_F(SyncEngineTest, StatusCountsMatchTheOutboxAfterEveryStep) {
  auto expect_fresh = [&](const char* when) {
    SyncStatus st = client.engine->GetStatus();
    EXPECT_EQ(st.pending, client.Int("SELECT count(*) FROM _outpost_outbox WHERE state IN (0, 1)")) << when;
    EXPECT_EQ(st.failed, client.Int("SELECT count(*) FROM _outpost_outbox WHERE state = 3")) << when;
  };
  expect_fresh("empty");
  for (int i = 0; i < 6; ++i)
    client.ExecOk("INSERT INTO items VALUES (?, 'x', 1)", P({Value{std::string("i") + std::to_string(i)}}));
  client.ExecOk("INSERT INTO docs VALUES ('d1', 'mine', 't')");
  server.reject[client.List()[1].op.id] = {"FORBIDDEN", "Not yours."};
  expect_fresh("captured");
  client.ExecOk("BEGIN");
  client.ExecOk("INSERT INTO items VALUES ('rolled', 'back', 1)");
  expect_fresh("inside a transaction");
  client.ExecOk("ROLLBACK");
  expect_fresh("rolled back");
  EXPECT_FALSE(client.Exec("INSERT INTO items VALUES ('j1', 'y', 1), ('i0', 'dup', 1)").ok());  // statement undone
  expect_fresh("failed statement");
  SettleReads();
  Action push = NextPush();
  expect_fresh("claimed");
  client.ExecOk("UPDATE items SET title = 'later' WHERE id = 'i2'");  // a new op behind an inflight one
  expect_fresh("captured while in flight");
  ASSERT_TRUE(client.Serve(push, server).ok());
  expect_fresh("answered (applied and rejected)");
  push = NextPush();
  ASSERT_TRUE(client.Serve(push, server, Fault::kServerError).ok());
  expect_fresh("requeued");
  client.now += 120'000;
  client.SyncAll(server);
  expect_fresh("drained");
  EXPECT_EQ(client.engine->GetStatus().failed, 1);
  ASSERT_TRUE(client.engine->Retry(client.List(OpState::kFailed)[0].op.id, client.now).ok());
  expect_fresh("retried");
  ASSERT_TRUE(client.engine->Discard(client.List(OpState::kPending)[0].op.id, client.now).ok());
  expect_fresh("discarded");
}

TEST_F(SyncEngineTest, RejectedOpFailsAndBlocksLaterOpsOnItsEntityOnly) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  client.ExecOk("INSERT INTO items VALUES ('b', 'B', 1)");
  server.reject[client.List()[0].op.id] = {"FORBIDDEN", "Not your item."};
  client.SyncAll(server);
  auto failed = client.List(OpState::kFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].error_code, "FORBIDDEN");
  EXPECT_EQ(failed[0].error_message, "Not your item.");
  // A later edit of 'a' waits behind the failed op; 'b' goes.
  client.ExecOk("UPDATE items SET title = 'A2' WHERE id = 'a'");
  client.ExecOk("UPDATE items SET title = 'B2' WHERE id = 'b'");
  client.now += 1000;
  client.SyncAll(server);
  EXPECT_EQ(client.List(OpState::kPending).size(), 1u);
  EXPECT_EQ(std::get<std::string>(server.Find("items", {{"id", std::string("b")}})->state.columns.at("title").value),
            "B2");
  EXPECT_EQ(server.Find("items", {{"id", std::string("a")}}), nullptr);
  EXPECT_EQ(client.engine->GetStatus().failed, 1);
  // The blocked op does not make the engine spin: the next wake-up is the periodic pull or a heartbeat.
  Action a = client.Next();
  ASSERT_EQ(a.kind, Action::kWait);
  EXPECT_GT(a.wake_at_ms, client.now + 1000);
}

TEST_F(SyncEngineTest, RetriedOpThatWasSentIsNotCompactedInto) {
  SyncConfig c = Config();
  c.retry.max_attempts = 1;
  SyncClient limited(c, kSchema);
  limited.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  for (int i = 0; i < 10 && limited.List(OpState::kFailed).empty(); ++i) {
    Action a = limited.Next();
    if (a.kind == Action::kPush) {
      ASSERT_TRUE(limited.Serve(a, server, Fault::kLostAnswer).ok());  // applied, answer lost: exhausted
    } else if (a.kind == Action::kWait) {
      limited.now = a.wake_at_ms;
    } else if (a.kind != Action::kIdle) {
      ASSERT_TRUE(limited.Serve(a, server).ok());
    }
  }
  auto failed = limited.List(OpState::kFailed);
  ASSERT_EQ(failed.size(), 1u);
  ASSERT_TRUE(limited.engine->Retry(failed[0].op.id, limited.now).ok());
  limited.ExecOk("UPDATE items SET qty = qty + 5 WHERE id = 'a'");
  EXPECT_EQ(limited.List(OpState::kPending).size(), 2u);  // the server may hold the first: no folding in
  limited.SyncAll(server);
  EXPECT_EQ(std::get<int64_t>(server.Find("items", {{"id", std::string("a")}})->state.columns.at("qty").value), 6);
}

TEST_F(SyncEngineTest, MisconfiguredTableRefusesWritesInsteadOfSkippingCapture) {
  SyncConfig c = Config();
  c.tables["later"] = TrackedTable{{"id"}, {}};
  SyncClient late(c, kSchema);
  late.ExecOk("CREATE TABLE later(key TEXT PRIMARY KEY, v TEXT)");  // no column "id"
  Status s = late.Exec("INSERT INTO later VALUES ('x', 'y')");
  EXPECT_EQ(s.code(), "INVALID_ARGUMENT") << s.ToString();
  EXPECT_NE(s.message().find("sync.tables.later.primaryKey"), std::string::npos) << s.message();
  EXPECT_EQ(late.Int("SELECT count(*) FROM later"), 0);
  late.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");  // other tables are unaffected
  EXPECT_EQ(late.List().size(), 1u);
}

// The engine's own tables cannot be tracked: capture writes them.
TEST_F(SyncEngineTest, TheEnginesOwnTablesCannotBeTracked) {
  SyncClient other(Config(), kSchema);
  other.engine.reset();
  SyncConfig c = Config();
  c.tables["_outpost_outbox"] = TrackedTable{{"seq"}, {}};
  std::unique_ptr<SyncEngine> engine;
  std::array<uint8_t, 32> seed{};
  Status s = SyncEngine::Open(other.db.get(), c, other.now, seed, &engine);
  EXPECT_EQ(s.code(), "INVALID_ARGUMENT") << s.ToString();
  EXPECT_NE(s.message().find("_outpost_"), std::string::npos) << s.message();
}

// A column the protocol cannot name would give operations nobody can send or read back: the table refuses
// writes with a reason instead.
TEST_F(SyncEngineTest, TableWithAColumnNameThatIsNoIdentifierRefusesWrites) {
  SyncConfig c = Config();
  c.tables["odd"] = TrackedTable{{"id"}, {}};
  SyncClient odd(c, kSchema);
  odd.ExecOk("CREATE TABLE odd(id TEXT PRIMARY KEY, \"we\"\"ird name\" TEXT)");
  Status s = odd.Exec("INSERT INTO odd VALUES ('x', 'y')");
  EXPECT_EQ(s.code(), "INVALID_ARGUMENT") << s.ToString();
  EXPECT_NE(s.message().find("we\\\"ird name"), std::string::npos) << s.message();
  EXPECT_EQ(odd.Int("SELECT count(*) FROM odd"), 0);
  odd.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");  // other tables are unaffected
  ASSERT_EQ(odd.List().size(), 1u);
}

TEST_F(SyncEngineTest, UnauthorizedKeepsEverythingPendingUntilANewToken) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  SettleReads();
  Action push = NextPush();
  ASSERT_TRUE(client.Serve(push, server, Fault::kUnauthorized).ok());
  auto pending = client.List(OpState::kPending);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].attempts, 0);
  ASSERT_EQ(client.Events("auth-required").size(), 1u);
  EXPECT_EQ(client.Events("auth-required")[0].json, R"({"message":"token expired","status":401})");
  for (int i = 0; i < 5; ++i) {
    Action a = client.Next();
    EXPECT_NE(a.kind, Action::kPush);
    EXPECT_NE(a.kind, Action::kPull);
    if (a.kind == Action::kHeartbeat) {
      ASSERT_TRUE(client.Serve(a, server).ok());
    }
    client.now += 10'000;
  }
  client.engine->SetToken(true);
  client.SyncAll(server);
  EXPECT_EQ(client.List(OpState::kDone).size(), 1u);
}

TEST_F(SyncEngineTest, InflightOpsReturnToPendingAtOpenAndAfterTheTimeout) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  SettleReads();
  Action push = NextPush();
  ASSERT_EQ(client.List(OpState::kInflight).size(), 1u);
  server.Push(push.body);  // the server applied it, then the worker died
  client.Crash();
  auto ops = client.List();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].state, OpState::kPending);
  client.SyncAll(server);
  EXPECT_EQ(client.List(OpState::kDone).size(), 1u);
  EXPECT_EQ(server.applied_ids.size(), 1u);

  // No answer at all within inflight_timeout: back to pending, and a late answer is ignored.
  client.ExecOk("INSERT INTO items VALUES ('b', 'B', 1)");
  SettleReads();
  push = NextPush();
  client.now += config.inflight_timeout_ms;
  Action after = client.Next();
  EXPECT_NE(after.kind, Action::kPush);  // requeued with backoff
  EXPECT_EQ(client.List(OpState::kPending).size(), 1u);
  ASSERT_TRUE(client.engine->OnResult(push.request_id, client.Perform(push, server, Fault::kNone), client.now).ok());
  EXPECT_EQ(client.List(OpState::kPending).size(), 1u);
  client.now += 120'000;
  client.SyncAll(server);
  EXPECT_EQ(client.List(OpState::kDone).size(), 2u);
}

TEST_F(SyncEngineTest, DoneOpsArePrunedAfterTheRetention) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  client.SyncAll(server);
  ASSERT_EQ(client.List(OpState::kDone).size(), 1u);
  client.now += config.done_retention_ms + 61'000;
  client.Next();
  EXPECT_TRUE(client.List().empty());
  // The id generator still continues after the pruned id.
  const std::string pruned = server.applied_ids[0];
  client.Crash();
  client.ExecOk("INSERT INTO items VALUES ('b', 'B', 1)");
  EXPECT_GT(client.List()[0].op.id, pruned);
}

// ---- Order, priority, batches ------------------------------------------------------------------------

TEST_F(SyncEngineTest, PerEntityOrderAndPriorityThenAge) {
  std::string id;
  auto enqueue = [&](const char* entity, protocol::Priority p) {
    ASSERT_TRUE(client.engine->Enqueue(CustomOperation{"task.run", entity, "", "", p}, client.now, &id).ok());
    client.now += 1;
  };
  enqueue("e1", protocol::Priority::kLow);
  enqueue("e1", protocol::Priority::kCritical);  // behind the low one on its entity
  enqueue("e2", protocol::Priority::kNormal);
  enqueue("e3", protocol::Priority::kHigh);
  enqueue("e4", protocol::Priority::kNormal);
  SettleReads();
  Action push = NextPush();
  auto req = Decoded(push);
  ASSERT_TRUE(client.Serve(push, server).ok());
  ASSERT_EQ(req.ops.size(), 4u);  // one op per entity per batch
  EXPECT_EQ(req.ops[0].entity, "e3");
  EXPECT_EQ(req.ops[1].entity, "e2");
  EXPECT_EQ(req.ops[2].entity, "e4");
  EXPECT_EQ(req.ops[3].entity, "e1");
  EXPECT_EQ(req.ops[3].priority, protocol::Priority::kLow);
  client.SyncAll(server);
  ASSERT_EQ(server.custom_log.size(), 5u);
  EXPECT_EQ(server.custom_log[4].entity, "e1");
  EXPECT_EQ(server.custom_log[4].priority, protocol::Priority::kCritical);
}

// Captured ops are "fresh" (normal priority, never claimed): they have no index entry of their own, and
// claims find them by walking the outbox in seq order (kFreshOps, sync_engine_impl.h).
TEST_F(SyncEngineTest, CapturedOpsWriteNoWaitingIndexEntry) {
  for (int i = 0; i < 20; ++i) client.ExecOk("INSERT INTO items VALUES (?, 'x', 1)", P({"k" + std::to_string(i)}));
  const std::string waiting =
      "SELECT count(*) FROM _outpost_outbox INDEXED BY _outpost_outbox_waiting WHERE state = 0 AND (priority <> 2 OR"
      " sent = 1)";
  EXPECT_EQ(client.Int(waiting), 0);
  EXPECT_EQ(client.List(OpState::kPending).size(), 20u);
  client.SyncAll(server);
  EXPECT_EQ(server.applied_ids.size(), 20u);
  EXPECT_EQ(client.Int(waiting), 0);
}

// A fresh op behind another of its entity is parked (sent = 1, into the index) by the claim that passes it,
// so the walk goes on past it, and it is sent once the op before it is done.
TEST_F(SyncEngineTest, AFreshOpBehindItsEntityIsParkedAndSentAfterIt) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  client.ExecOk("DELETE FROM items WHERE id = 'a'");
  client.ExecOk("INSERT INTO items VALUES ('b', 'B', 1)");
  SettleReads();
  Action push = NextPush();
  auto req = Decoded(push);
  ASSERT_EQ(req.ops.size(), 2u);  // a's upsert and b; a's delete waits behind the upsert
  EXPECT_EQ(req.ops[0].kind, protocol::kUpsert);
  EXPECT_EQ(req.ops[1].key.at("id"), Value(std::string("b")));
  EXPECT_EQ(client.Int("SELECT count(*) FROM _outpost_outbox WHERE state = 0 AND sent = 1 AND kind = 'delete'"), 1);
  ASSERT_TRUE(client.Serve(push, server).ok());
  client.SyncAll(server);
  EXPECT_EQ(server.applied_ids.size(), 3u);
  EXPECT_EQ(client.List(OpState::kDone).size(), 3u);
  EXPECT_EQ(client.List(OpState::kPending).size(), 0u);
}

// Once every op is done and pruned, SQLite numbers the next one from 1 again, below where the last walk
// ended: it is still sent.
TEST_F(SyncEngineTest, AnOpWrittenAfterEveryOpWasPrunedIsStillSent) {
  for (const char* id : {"a", "b", "c"}) client.ExecOk("INSERT INTO items VALUES (?, 'x', 1)", P({id}));
  client.SyncAll(server);
  client.now += config.done_retention_ms + 61'000;
  client.Next();
  ASSERT_TRUE(client.List().empty());
  client.ExecOk("INSERT INTO items VALUES ('d', 'x', 1)");
  EXPECT_EQ(client.Int("SELECT max(seq) FROM _outpost_outbox"), 1);
  client.SyncAll(server);
  EXPECT_EQ(server.applied_ids.size(), 4u);
  EXPECT_EQ(client.List(OpState::kPending).size(), 0u);
}

TEST_F(SyncEngineTest, BatchesOfBatchSize) {
  SyncConfig c = Config();
  c.batch_size = 2;
  SyncClient small(c, kSchema);
  for (int i = 0; i < 5; ++i) small.ExecOk("INSERT INTO items VALUES (?, 'x', 1)", P({std::string(1, 'a' + i)}));
  small.SyncAll(server);
  EXPECT_EQ(server.push_requests, 3);
  EXPECT_EQ(small.List(OpState::kDone).size(), 5u);
}

TEST_F(SyncEngineTest, MismatchedResponseRetriesTheWholeBatch) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  client.ExecOk("INSERT INTO items VALUES ('b', 'B', 1)");
  SettleReads();
  Action push = NextPush();
  ASSERT_TRUE(client.Serve(push, server, Fault::kMismatch).ok());
  EXPECT_EQ(client.List(OpState::kPending).size(), 2u);
  client.now += 120'000;
  client.SyncAll(server);
  EXPECT_EQ(client.List(OpState::kDone).size(), 2u);
  EXPECT_EQ(server.applied_ids.size(), 2u);  // the resend was a duplicate
}

// ---- Bounds ---------------------------------------------------------------------------------------------

TEST_F(SyncEngineTest, OutboxFullRollsTheTransactionBackWhole) {
  SyncConfig c = Config();
  c.max_outbox_ops = 3;
  SyncClient full(c, kSchema);
  full.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  full.ExecOk("BEGIN");
  full.ExecOk("INSERT INTO items VALUES ('b', 'B', 1)");
  full.ExecOk("INSERT INTO items VALUES ('c', 'C', 1)");
  Status s = full.Exec("INSERT INTO items VALUES ('d', 'D', 1)");
  EXPECT_EQ(s.code(), "OUTBOX_FULL") << s.ToString();
  EXPECT_NE(s.message().find("maxOutboxOps"), std::string::npos);
  EXPECT_NE(s.message().find("rolled back"), std::string::npos) << s.message();
  EXPECT_FALSE(full.db->InTransaction());  // the whole transaction, as the message says
  EXPECT_EQ(full.Int("SELECT count(*) FROM items"), 1);
  EXPECT_EQ(full.List().size(), 1u);
  // Compaction does not count: edits of an unsent row still fit.
  full.ExecOk("UPDATE items SET title = 'A2' WHERE id = 'a'");
  // Enqueue says so too.
  std::string id;
  full.ExecOk("INSERT INTO items VALUES ('b', 'B', 1)");
  full.ExecOk("INSERT INTO items VALUES ('c', 'C', 1)");
  EXPECT_EQ(full.engine->Enqueue(CustomOperation{"a.b", "", "", "", protocol::Priority::kNormal}, full.now, &id).code(),
            "OUTBOX_FULL");
  // Pending ops are never evicted; once sent, there is room again.
  full.SyncAll(server);
  EXPECT_EQ(full.List(OpState::kDone).size(), 3u);
  full.ExecOk("INSERT INTO items VALUES ('d', 'D', 1)");

  SyncConfig b = Config();
  b.max_outbox_bytes = 600;
  SyncClient bytes(b, kSchema);
  bytes.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  s = bytes.Exec("INSERT INTO items VALUES ('b', ?, 1)", P({std::string(1000, 'x')}));
  EXPECT_EQ(s.code(), "OUTBOX_FULL");
  EXPECT_NE(s.message().find("maxOutboxBytes"), std::string::npos);
}

// A statement larger than the outbox could ever take fails while it runs (its operations wait in memory
// until it ends); within the bound, one that fits is recorded whole.
TEST_F(SyncEngineTest, AStatementTooLargeForTheOutboxFailsEarlyAndKeepsNothing) {
  SyncConfig c = Config();
  c.max_outbox_ops = 50;
  SyncClient small(c, kSchema);
  const std::string rows = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ";
  Status s = small.Exec(rows + "150) INSERT INTO items SELECT 'r' || i, 'x', 1 FROM n");
  EXPECT_EQ(s.code(), "OUTBOX_FULL") << s.ToString();
  EXPECT_NE(s.message().find("One statement"), std::string::npos) << s.message();
  EXPECT_EQ(small.Int("SELECT count(*) FROM items"), 0);
  s = small.Exec(rows + "80) INSERT INTO items SELECT 'r' || i, 'x', 1 FROM n");  // noted, then too many ops
  EXPECT_EQ(s.code(), "OUTBOX_FULL") << s.ToString();
  EXPECT_NE(s.message().find("maxOutboxOps 50"), std::string::npos) << s.message();
  small.ExecOk(rows + "50) INSERT INTO items SELECT 'r' || i, 'x', 1 FROM n");
  EXPECT_EQ(small.List().size(), 50u);
}

// ---- Pull -----------------------------------------------------------------------------------------------

protocol::Operation RemoteUpsert(const std::string& id, int64_t wall, std::map<std::string, Value> cols,
                                 const std::string& table = "items") {
  static int n = 100;
  protocol::Operation op;
  char buf[40];
  std::snprintf(buf, sizeof buf, "01900000-0000-7000-8000-%012d", n++);
  op.id = buf;
  op.kind = "upsert";
  op.table = table;
  op.key = {{"id", id}};
  op.hlc = {wall, 0, 0xabc};
  for (auto& [c, v] : cols) op.columns[c] = {v, op.hlc};
  return op;
}

// With one push in flight at a time a pull may run beside it; with pipelined pushes pulls wait until no push
// is in flight. Either way the local edit wins over an older remote value and is sent.
// ---- Pipelined pushes (maxInflightPushes) ------------------------------------------------------------

class SyncPipelineTest : public ::testing::Test {
 protected:
  static SyncConfig PipelineConfig() {
    SyncConfig c = Config();
    c.batch_size = 2;
    c.max_inflight_pushes = 2;
    c.pull_interval_ms = 0;
    return c;
  }
  SyncPipelineTest() : config(PipelineConfig()), server(Server(config)), client(config, kSchema) {}
  // The first push after serving the pulls and heartbeats before it.
  Action NextPush() {
    for (int i = 0; i < 20; ++i) {
      Action a = client.Next();
      if (a.kind == Action::kPush) return a;
      if (a.kind != Action::kPull && a.kind != Action::kHeartbeat) break;
      EXPECT_TRUE(client.Serve(a, server).ok());
    }
    ADD_FAILURE() << "no push";
    return {};
  }
  std::vector<std::string> Ids(const Action& a) {
    protocol::PushRequest req;
    EXPECT_TRUE(protocol::Decode(a.body, protocol::Limits{}, &req).ok());
    std::vector<std::string> ids;
    for (const auto& op : req.ops) ids.push_back(std::get<std::string>(op.key.at("id")) + ":" + op.id);
    return ids;
  }
  static std::string Entity(const std::string& id) { return id.substr(0, id.find(':')); }

  SyncConfig config;
  FakeServer server;
  SyncClient client;
};

TEST_F(SyncPipelineTest, BatchesInFlightShareNoEntityAndMayBeAnsweredInAnyOrder) {
  for (const char* id : {"a", "b", "c", "d"})
    client.ExecOk("INSERT INTO items VALUES (?, 'v1', 1)", P({Value{std::string(id)}}));
  Action first = NextPush();
  ASSERT_EQ(Ids(first).size(), 2u);
  EXPECT_EQ(Entity(Ids(first)[0]), "a");
  // A later edit of a claimed row is a new operation; it must wait for the one in flight.
  client.ExecOk("UPDATE items SET title = 'v2' WHERE id = 'a'");
  Action second = client.Next();
  ASSERT_EQ(second.kind, Action::kPush);  // a second batch while the first is in flight
  for (const auto& id : Ids(second)) EXPECT_NE(Entity(id), "a") << id;
  EXPECT_EQ(Ids(second).size(), 2u);  // c and d
  EXPECT_TRUE(client.engine->GetStatus().uploading);
  Action third = client.Next();  // two in flight: no third push, and no pull beside them
  EXPECT_NE(third.kind, Action::kPush);
  EXPECT_NE(third.kind, Action::kPull);
  // The transport asks again while both are on their way: nothing may wake it before an answer is due.
  if (third.kind == Action::kWait) {
    EXPECT_GT(third.wake_at_ms, client.now + 1000);
  }
  EXPECT_EQ(client.List(OpState::kInflight).size(), 4u);

  // The second batch is answered first; a's edit still waits for the first.
  ASSERT_TRUE(client.Serve(second, server).ok());
  EXPECT_EQ(client.engine->GetStatus().pending, 3);
  Action waiting = client.Next();
  EXPECT_NE(waiting.kind, Action::kPush);
  ASSERT_TRUE(client.Serve(first, server).ok());
  Action edit = NextPush();
  ASSERT_EQ(Ids(edit).size(), 1u);
  EXPECT_EQ(Entity(Ids(edit)[0]), "a");
  ASSERT_TRUE(client.Serve(edit, server).ok());
  client.SyncAll(server);
  EXPECT_EQ(client.engine->GetStatus().pending, 0);
  EXPECT_FALSE(client.engine->GetStatus().uploading);
  EXPECT_EQ(server.applied_ids.size(), 5u);
  EXPECT_EQ(std::get<std::string>(server.Find("items", {{"id", std::string("a")}})->state.columns.at("title").value),
            "v2");
}

TEST_F(SyncPipelineTest, OnlyFullBatchesArePipelined) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'v1', 1)");
  Action first = NextPush();  // one op of a batch of two: no backlog
  client.ExecOk("INSERT INTO items VALUES ('b', 'v1', 1)");
  Action next = client.Next();
  EXPECT_NE(next.kind, Action::kPush);  // b waits for the answer (a Retry-After in it would hold b back too)
  ASSERT_TRUE(client.Serve(first, server, Fault::kRateLimited).ok());
  next = client.Next();
  EXPECT_NE(next.kind, Action::kPush);
  client.now += 600'000;
  client.SyncAll(server);
  EXPECT_EQ(client.engine->GetStatus().pending, 0);
}

TEST_F(SyncPipelineTest, EachBatchFailsRetriesOrTimesOutOnItsOwn) {
  for (const char* id : {"a", "b", "c", "d", "e"})
    client.ExecOk("INSERT INTO items VALUES (?, 'v1', 1)", P({Value{std::string(id)}}));
  Action first = NextPush();
  Action second = client.Next();
  ASSERT_EQ(second.kind, Action::kPush);
  // The first fails temporarily: its ops are pending again (backoff); the second is still in flight.
  ASSERT_TRUE(client.Serve(first, server, Fault::kServerError).ok());
  EXPECT_EQ(client.List(OpState::kInflight).size(), 2u);
  EXPECT_EQ(client.List(OpState::kPending).size(), 3u);
  // The device backs off as a whole: no further push (e's neither) before its backoff ends, while the second
  // batch stays in flight.
  Action third = client.Next();
  EXPECT_NE(third.kind, Action::kPush);
  EXPECT_EQ(client.List(OpState::kInflight).size(), 2u);
  // Nobody answers: the second times out, its ops are pending again, and after the backoff a new batch
  // goes; everything drains later exactly once.
  client.now += config.inflight_timeout_ms + 1;
  Action again = FollowUntilPush(client, server);
  ASSERT_EQ(again.kind, Action::kPush);
  EXPECT_EQ(client.List(OpState::kInflight).size(), Ids(again).size());
  ASSERT_TRUE(client.Serve(second, server).ok());  // a late answer is ignored; the resend is a duplicate
  client.now += 600'000;
  client.SyncAll(server);
  EXPECT_EQ(client.engine->GetStatus().pending, 0);
  EXPECT_EQ(client.List(OpState::kDone).size(), 5u);
  std::set<std::string> applied(server.applied_ids.begin(), server.applied_ids.end());
  EXPECT_EQ(applied.size(), server.applied_ids.size());
  EXPECT_EQ(applied.size(), 5u);
}

TEST(SyncEnginePull, PullNeverOverwritesANewerLocalEditAndTheEditIsStillSent) {
  for (size_t pushes : {1, 2}) {
    SCOPED_TRACE("maxInflightPushes " + std::to_string(pushes));
    SyncConfig cfg = Config();
    cfg.max_inflight_pushes = pushes;
    FakeServer server = Server(cfg);
    SyncClient client(cfg, kSchema);
    auto next_push = [&] {
      for (int i = 0; i < 20; ++i) {
        Action a = client.Next();
        if (a.kind == Action::kPush) return a;
        if (a.kind == Action::kPull || a.kind == Action::kHeartbeat) {
          EXPECT_TRUE(client.Serve(a, server).ok());
        }
      }
      ADD_FAILURE() << "no push";
      return Action{};
    };
    client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
    client.SyncAll(server);
    // Another device wrote the title before our (unsent) edit, and a note column we did not touch.
    server.RemoteWrite(RemoteUpsert("a", client.now - 5'000, {{"title", std::string("Old remote")}}));
    client.now += 1000;
    client.ExecOk("UPDATE items SET title = 'Mine' WHERE id = 'a'");
    Action push = next_push();  // our edit is in flight while the pull comes back
    client.engine->SyncNow(client.now);
    Action pull = client.Next();
    if (pushes == 1) {
      ASSERT_EQ(pull.kind, Action::kPull);
      ASSERT_TRUE(client.Serve(pull, server).ok());
      EXPECT_EQ(client.Text("SELECT title FROM items WHERE id = 'a'"), "Mine");  // not overwritten
      EXPECT_EQ(client.List(OpState::kInflight).size(), 1u);                  // and still on its way
    } else {
      EXPECT_NE(pull.kind, Action::kPull);  // waits for the push
    }
    ASSERT_TRUE(client.Serve(push, server).ok());
    client.SyncAll(server);
    EXPECT_EQ(client.Text("SELECT title FROM items WHERE id = 'a'"), "Mine");
    EXPECT_EQ(std::get<std::string>(server.Find("items", {{"id", std::string("a")}})->state.columns.at("title").value),
              "Mine");
  }
}

TEST_F(SyncEngineTest, PeriodicPullAndHeartbeatClockCheck) {
  client.SyncAll(server);
  Action a = client.Next();
  ASSERT_EQ(a.kind, Action::kWait);
  EXPECT_LE(a.wake_at_ms, client.now + config.pull_interval_ms);
  client.now += config.pull_interval_ms;
  a = client.Next();
  ASSERT_EQ(a.kind, Action::kPull);
  ASSERT_TRUE(client.Serve(a, server).ok());
  // An idle link is probed; a server clock far from ours is reported.
  client.now += config.heartbeat_online_ms;
  for (int i = 0; i < 3 && a.kind != Action::kHeartbeat; ++i) {
    a = client.Next();
    if (a.kind == Action::kPull) {
      ASSERT_TRUE(client.Serve(a, server).ok());
    }
  }
  ASSERT_EQ(a.kind, Action::kHeartbeat);
  TransportResult r;
  r.http_status = 200;
  protocol::HealthResponse health;
  health.server_time_ms = client.now + 3'600'000;
  r.body = protocol::Encode(health);
  ASSERT_TRUE(client.engine->OnResult(a.request_id, r, client.now).ok());
  auto drift = client.Events("clock-drift");
  ASSERT_EQ(drift.size(), 1u);
  EXPECT_NE(drift[0].json.find("serverTimeMs"), std::string::npos);
}

TEST_F(SyncEngineTest, TooLargeHalvesTheBatch) {
  for (int i = 0; i < 4; ++i) client.ExecOk("INSERT INTO items VALUES (?, 'x', 1)", P({std::string(1, 'a' + i)}));
  SettleReads();
  Action push = NextPush();
  EXPECT_EQ(Decoded(push).ops.size(), 4u);
  TransportResult r;
  r.http_status = 413;
  r.body = ErrorJson("TOO_LARGE", "Body over 4 MiB.");
  ASSERT_TRUE(client.engine->OnResult(push.request_id, r, client.now).ok());
  auto pending = client.List(OpState::kPending);
  ASSERT_EQ(pending.size(), 4u);
  EXPECT_EQ(pending[0].attempts, 0);  // not the operations' fault
  push = NextPush();
  EXPECT_EQ(Decoded(push).ops.size(), 2u);
  ASSERT_TRUE(client.Serve(push, server).ok());
  client.SyncAll(server);
  EXPECT_EQ(client.List(OpState::kDone).size(), 4u);
}

TEST_F(SyncEngineTest, ConflictOnADeleteWinsTombstoneDeletesLocallyAndIsRecorded) {
  SyncConfig c = Config();
  c.tables["docs"].policy.table = merge::Policy::kDeleteWins;
  c.tables["docs"].policy.columns.clear();
  FakeServer dw = Server(c);
  SyncClient local(c, kSchema);
  local.ExecOk("INSERT INTO docs VALUES ('d', 'x', 't')");
  local.SyncAll(dw);
  protocol::Operation del;
  del.id = "01900000-0000-7000-8000-0000000000e1";
  del.kind = "delete";
  del.table = "docs";
  del.key = {{"id", std::string("d")}};
  del.hlc = {local.now - 1000, 0, 0xabc};  // older than our edit: delete-wins still wins
  dw.RemoteWrite(del);
  local.now += 10;
  local.ExecOk("UPDATE docs SET body = 'edited' WHERE id = 'd'");
  local.SyncAll(dw);
  EXPECT_EQ(local.Int("SELECT count(*) FROM docs WHERE id = 'd'"), 0);
  auto conflicts = local.Events("conflict");
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_NE(conflicts[0].json.find(R"("deleted":true)"), std::string::npos) << conflicts[0].json;
  EXPECT_NE(conflicts[0].json.find(R"("body":{"local":"edited","remote":null})"), std::string::npos);
  EXPECT_EQ(local.List(OpState::kPending).size(), 0u);
}

TEST_F(SyncEngineTest, PullAppliesNewerRemoteValuesTombstonesAndPages) {
  SyncConfig c = Config();
  c.pull_page_size = 2;
  SyncClient paged(c, kSchema);
  paged.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  paged.SyncAll(server);
  for (int i = 0; i < 5; ++i)
    server.RemoteWrite(RemoteUpsert("r" + std::to_string(i), paged.now + 1000, {{"title", std::string("R")}}));
  server.RemoteWrite(RemoteUpsert("a", paged.now + 1000, {{"title", std::string("Newer")}}));
  const int pulls_before = server.pull_requests;
  paged.engine->SyncNow(paged.now);
  paged.SyncAll(server);
  EXPECT_GE(server.pull_requests - pulls_before, 3);  // has_more: pulled again at once
  EXPECT_EQ(paged.Int("SELECT count(*) FROM items"), 6);
  EXPECT_EQ(paged.Text("SELECT title FROM items WHERE id = 'a'"), "Newer");
  EXPECT_EQ(paged.Int("SELECT qty FROM items WHERE id = 'a'"), 1);

  // A remote delete removes the row; one older than a local edit does not.
  protocol::Operation del;
  del.id = "01900000-0000-7000-8000-0000000000d1";
  del.kind = "delete";
  del.table = "items";
  del.key = {{"id", std::string("r0")}};
  del.hlc = {paged.now + 2000, 0, 0xabc};
  server.RemoteWrite(del);
  protocol::Operation old_del = del;
  old_del.id = "01900000-0000-7000-8000-0000000000d2";
  old_del.key = {{"id", std::string("r1")}};
  old_del.hlc = {paged.now - 10'000, 0, 0xabc};
  paged.now += 3000;
  paged.ExecOk("UPDATE items SET title = 'Edited' WHERE id = 'r1'");
  server.RemoteWrite(old_del);
  paged.engine->SyncNow(paged.now);
  paged.SyncAll(server);
  EXPECT_EQ(paged.Int("SELECT count(*) FROM items WHERE id = 'r0'"), 0);
  EXPECT_EQ(paged.Text("SELECT title FROM items WHERE id = 'r1'"), "Edited");
  EXPECT_TRUE(paged.List().empty() || paged.List(OpState::kPending).empty());
  EXPECT_TRUE(paged.List(OpState::kDone).size() >= 2u);
}

TEST_F(SyncEngineTest, PulledRowIsTheServersWholeRow) {
  // Our insert is older than another device's delete; a later edit of theirs resurrects the row with only
  // the columns written after the delete. The pulled row lacks `tag`: locally it becomes NULL too.
  client.ExecOk("INSERT INTO docs VALUES ('d', 'b', 't')");
  client.SyncAll(server);
  protocol::Operation del;
  del.id = "01900000-0000-7000-8000-0000000000f1";
  del.kind = "delete";
  del.table = "docs";
  del.key = {{"id", std::string("d")}};
  del.hlc = {client.now + 1000, 0, 0xabc};
  server.RemoteWrite(del);
  protocol::Operation edit = RemoteUpsert("d", client.now + 2000, {{"body", std::string("back")}}, "docs");
  edit.base_version = server.version;
  server.RemoteWrite(edit);
  client.now += 3000;
  client.engine->SyncNow(client.now);
  client.SyncAll(server);
  auto row = client.Rows("SELECT body, tag FROM docs WHERE id = 'd'");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0], Value(std::string("back")));
  EXPECT_EQ(row[0][1], Value());
}

TEST_F(SyncEngineTest, RefusedManualEditDoesNotShadowLaterServerValues) {
  client.ExecOk("INSERT INTO docs VALUES ('d', 'base', 't')");
  client.SyncAll(server);
  const int64_t t0 = client.now;
  protocol::Operation theirs = RemoteUpsert("d", t0 + 10, {{"body", std::string("theirs")}}, "docs");
  theirs.base_version = server.version;
  server.RemoteWrite(theirs);
  client.now = t0 + 100;
  client.ExecOk("UPDATE docs SET body = 'mine' WHERE id = 'd'");  // not having seen theirs: refused
  SettleReads();
  Action push = NextPush();
  ASSERT_TRUE(client.Serve(push, server).ok());
  ASSERT_EQ(client.Events("conflict").size(), 1u);
  EXPECT_EQ(client.Text("SELECT body FROM docs WHERE id = 'd'"), "theirs");
  // A device whose clock is behind ours (its HLC is older than our refused edit) writes after seeing theirs.
  protocol::Operation later = RemoteUpsert("d", t0 + 50, {{"body", std::string("later")}}, "docs");
  later.base_version = server.version;
  server.RemoteWrite(later);
  ASSERT_EQ(std::get<std::string>(server.Find("docs", later.key)->state.columns.at("body").value), "later");
  client.now += 1000;
  client.engine->SyncNow(client.now);
  client.SyncAll(server);
  EXPECT_EQ(client.Text("SELECT body FROM docs WHERE id = 'd'"), "later");
}

TEST_F(SyncEngineTest, CounterPullKeepsUnsentDeltas) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 10)");
  client.SyncAll(server);
  // Another device added 5; we add 3 locally before we pull.
  protocol::Operation inc = RemoteUpsert("a", client.now, {{"qty", int64_t{5}}});
  server.RemoteWrite(inc);
  client.ExecOk("UPDATE items SET qty = qty + 3 WHERE id = 'a'");
  client.engine->SetToken(false);  // hold the push back
  client.engine->SyncNow(client.now);
  Action a = client.Next();
  ASSERT_EQ(a.kind, Action::kHeartbeat);  // no token: only probes
  client.engine->SetToken(true);
  client.SyncAll(server);
  EXPECT_EQ(std::get<int64_t>(server.Find("items", {{"id", std::string("a")}})->state.columns.at("qty").value), 18);
  EXPECT_EQ(client.Int("SELECT qty FROM items WHERE id = 'a'"), 18);
}

TEST_F(SyncEngineTest, ResyncDropsSyncedRowsAndKeepsPendingOnes) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  client.ExecOk("INSERT INTO items VALUES ('b', 'B', 1)");
  client.SyncAll(server);
  client.engine->SetToken(false);
  client.ExecOk("INSERT INTO items VALUES ('c', 'C', 1)");  // pending
  server.rows.erase({"items", FakeServer::KeyOf({{"id", std::string("b")}})});  // gone while we were away
  server.resync_before = 1'000'000;
  client.engine->SetToken(true);
  // Pull first: hold pushes with a server error.
  client.engine->SyncNow(client.now);
  for (int i = 0; i < 10; ++i) {
    Action a = client.Next();
    if (a.kind == Action::kPull) {
      ASSERT_TRUE(client.Serve(a, server).ok());
      server.resync_before = 0;
      continue;
    }
    if (a.kind == Action::kPush) {
      ASSERT_TRUE(client.Serve(a, server, Fault::kServerError).ok());
      continue;
    }
    break;
  }
  EXPECT_EQ(client.Int("SELECT count(*) FROM items WHERE id = 'b'"), 0);
  EXPECT_EQ(client.Int("SELECT count(*) FROM items WHERE id = 'c'"), 1);
  EXPECT_EQ(client.Int("SELECT count(*) FROM items WHERE id = 'a'"), 1);  // pulled again
  client.now += 120'000;
  client.SyncAll(server);
  EXPECT_EQ(client.List(OpState::kPending).size(), 0u);
}

TEST_F(SyncEngineTest, SyncedEventAndLastSyncedAt) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  EXPECT_EQ(client.engine->GetStatus().last_synced_at_ms, 0);
  client.SyncAll(server);
  auto synced = client.Events("synced");
  ASSERT_FALSE(synced.empty());
  EXPECT_GT(client.engine->GetStatus().last_synced_at_ms, 0);
  EXPECT_EQ(synced.back().json, "{\"at\":" + std::to_string(client.engine->GetStatus().last_synced_at_ms) + "}");
  // Persisted.
  client.Restart();
  EXPECT_GT(client.engine->GetStatus().last_synced_at_ms, 0);
  auto status = client.Events("status");
  ASSERT_FALSE(status.empty());
  EXPECT_NE(status.back().json.find("\"lastSyncedAt\":"), std::string::npos);
}

TEST_F(SyncEngineTest, ADeviceClockBehindTheServersDataStillStampsEditsAfterIt) {
  protocol::Operation remote = RemoteUpsert("r", client.now + 3'600'000, {{"title", std::string("theirs")}});
  server.RemoteWrite(remote);  // our clock is an hour behind the data
  client.SyncAll(server);
  ASSERT_EQ(client.Text("SELECT title FROM items WHERE id = 'r'"), "theirs");
  EXPECT_FALSE(client.Events("clock-drift").empty());
  client.now += 60'000;
  client.ExecOk("UPDATE items SET title = 'mine' WHERE id = 'r'");
  EXPECT_GT(client.List(OpState::kPending)[0].op.columns.at("title").hlc, remote.hlc);
  client.SyncAll(server);
  EXPECT_EQ(std::get<std::string>(server.Find("items", remote.key)->state.columns.at("title").value), "mine");
}

// ---- Conflicts ------------------------------------------------------------------------------------------

TEST_F(SyncEngineTest, ManualConflictIsRecordedAndTheRowTakesTheServersValue) {
  client.ExecOk("INSERT INTO docs VALUES ('d', 'base', 't')");
  client.SyncAll(server);
  // Someone else edits the body on the server; we edit it too without having pulled.
  protocol::Operation theirs = RemoteUpsert("d", client.now + 10, {{"body", std::string("theirs")}}, "docs");
  theirs.base_version = server.version;  // they had seen the latest version
  server.RemoteWrite(theirs);
  client.engine->SetPaused(true);
  client.now += 100;
  client.ExecOk("UPDATE docs SET body = 'mine', tag = 'u' WHERE id = 'd'");
  client.engine->SetPaused(false);
  SettleReads();
  Action push = NextPush();
  ASSERT_TRUE(client.Serve(push, server).ok());
  auto conflicts = client.Events("conflict");
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_NE(conflicts[0].json.find(R"("fields":{"body":{"local":"mine","remote":"theirs"}})"), std::string::npos)
      << conflicts[0].json;
  EXPECT_EQ(client.List(OpState::kDone).size(), 2u);
  EXPECT_EQ(client.Text("SELECT body FROM docs WHERE id = 'd'"), "theirs");
  EXPECT_EQ(client.Text("SELECT tag FROM docs WHERE id = 'd'"), "u");  // the lww column went through
  std::string list;
  ASSERT_TRUE(client.engine->ListConflicts(&list).ok());
  EXPECT_NE(list.find("\"table\":\"docs\""), std::string::npos);
  // Resolving: the app writes its choice (a normal op, which now applies) and drops the record.
  client.ExecOk("UPDATE docs SET body = 'mine' WHERE id = 'd'");
  client.SyncAll(server);
  EXPECT_EQ(std::get<std::string>(server.Find("docs", {{"id", std::string("d")}})->state.columns.at("body").value),
            "mine");
  const std::string id = list.substr(list.find("\"id\":\"") + 6, 36);
  EXPECT_TRUE(client.engine->DropConflict(id).ok());
  EXPECT_EQ(client.engine->DropConflict(id).code(), "NOT_FOUND");
}

// What the server refused is decided by the server's policy, not the client's configuration: a client that
// believes docs.body is last-writer-wins still records the conflict a manual server reports, and its row
// takes the server's value, whether the server lists the refused columns or (an older server) does not.
// Before, the edit was marked done, the local row kept "mine", the server "theirs", and nothing was raised.
TEST(SyncEngineConflicts, AClientWithAnotherPolicyStillRecordsWhatTheServerRefused) {
  for (bool listed : {true, false}) {
    SCOPED_TRACE(listed ? "the server lists refused columns" : "an older server");
    FakeServer server = Server(Config());  // docs.body: manual
    server.list_refused = listed;
    SyncConfig lww = Config();
    lww.tables["docs"] = TrackedTable{{"id"}, merge::TablePolicy{}};
    SyncClient client(lww, kSchema);
    client.ExecOk("INSERT INTO docs VALUES ('d', 'base', 't')");
    client.SyncAll(server);
    protocol::Operation theirs = RemoteUpsert("d", client.now + 10, {{"body", std::string("theirs")}}, "docs");
    theirs.base_version = server.version;
    server.RemoteWrite(theirs);
    client.now += 100;
    client.ExecOk("UPDATE docs SET body = 'mine', tag = 'u' WHERE id = 'd'");
    client.SyncAll(server);
    auto conflicts = client.Events("conflict");
    ASSERT_EQ(conflicts.size(), 1u);
    EXPECT_NE(conflicts[0].json.find(R"("fields":{"body":{"local":"mine","remote":"theirs"}})"), std::string::npos)
        << conflicts[0].json;
    EXPECT_EQ(client.Text("SELECT body FROM docs WHERE id = 'd'"), "theirs");
    EXPECT_EQ(client.Text("SELECT tag FROM docs WHERE id = 'd'"), "u");
    EXPECT_EQ(std::get<std::string>(server.Find("docs", {{"id", std::string("d")}})->state.columns.at("tag").value),
              "u");
  }
}

// An app that creates a synced table after open() (its migrations run then): one script that creates the
// table and writes to it has its writes captured, and pulls wait for the table instead of moving the cursor
// past its rows (they used to be skipped for good).
TEST(SyncEngineSchema, ATableCreatedAfterOpenMissesNeitherLocalWritesNorServerRows) {
  SyncConfig cfg = Config();
  FakeServer server = Server(cfg);
  server.RemoteWrite(RemoteUpsert("remote-doc", 1'700'000'000'000, {{"body", std::string("from server")}}, "docs"));
  server.RemoteWrite(RemoteUpsert("remote-item", 1'700'000'000'000, {{"title", std::string("T")}}));
  SyncClient client(cfg, "CREATE TABLE items(id TEXT PRIMARY KEY, title TEXT, qty INTEGER)");
  client.SyncAll(server);
  auto missing = client.Events("tables-missing");
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_NE(missing[0].json.find(R"("tables":["docs"])"), std::string::npos) << missing[0].json;
  EXPECT_EQ(client.Text("SELECT CAST(count(*) AS TEXT) FROM items"), "0");  // no pull yet: nothing skipped
  client.ExecOk("CREATE TABLE docs(id TEXT PRIMARY KEY, body TEXT, tag TEXT); INSERT INTO docs VALUES ('mine', 'b', 't')");
  auto ops = client.List();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].op.table, "docs");
  client.SyncAll(server);
  EXPECT_EQ(client.Text("SELECT body FROM docs WHERE id = 'remote-doc'"), "from server");
  EXPECT_EQ(client.Text("SELECT title FROM items WHERE id = 'remote-item'"), "T");
  EXPECT_NE(server.Find("docs", {{"id", std::string("mine")}}), nullptr);
  EXPECT_EQ(client.Events("tables-missing").size(), 1u);  // reported once
}

// Each way a tracked table can change between two calls reaches capture (its triggers are installed or
// refreshed before the next statement): created, altered, dropped and created again by the same (cached)
// statement, created in a transaction that rolled back.
TEST(SyncEngineSchema, EveryWayATrackedTableChangesBetweenCallsIsSeen) {
  SyncConfig cfg;
  cfg.tables["t"] = TrackedTable{{"id"}, {}};
  SyncClient client(cfg, "");
  // Runs `insert` and checks that it added the outbox's `count`-th operation, with these columns.
  auto captured = [&](const std::string& insert, size_t count, const std::string& columns) {
    client.ExecOk(insert);
    const auto ops = client.List();
    ASSERT_EQ(ops.size(), count) << insert;
    std::string names;
    for (const auto& [name, cv] : ops.back().op.columns) names += (names.empty() ? "" : ",") + name;
    EXPECT_EQ(names, columns) << insert;
  };
  client.ExecOk("CREATE TABLE t(id TEXT PRIMARY KEY, v TEXT)");
  captured("INSERT INTO t VALUES ('a', '1')", 1, "v");
  client.ExecOk("ALTER TABLE t ADD COLUMN w TEXT");
  captured("INSERT INTO t VALUES ('b', '2', 'x')", 2, "v,w");
  client.ExecOk("DROP TABLE t");
  client.ExecOk("CREATE TABLE t(id TEXT PRIMARY KEY, v TEXT)");  // the first statement's text: cached
  captured("INSERT INTO t VALUES ('c', '3')", 3, "v");
  client.ExecOk("DROP TABLE t");
  client.ExecOk("BEGIN");
  client.ExecOk("CREATE TABLE t(id TEXT PRIMARY KEY, v TEXT, z TEXT)");
  client.ExecOk("INSERT INTO t VALUES ('d', '4', 'y')");
  client.ExecOk("ROLLBACK");
  ASSERT_EQ(client.List().size(), 3u);
  client.ExecOk("CREATE TABLE t(id TEXT PRIMARY KEY, v TEXT)");
  captured("INSERT INTO t VALUES ('e', '5')", 4, "v");
  // A savepoint rolled back to undoes an ALTER, and the next brings the schema version to the same number.
  client.ExecOk("BEGIN");
  client.ExecOk("SAVEPOINT s");
  client.ExecOk("ALTER TABLE t RENAME COLUMN v TO a");
  captured("INSERT INTO t VALUES ('f', '6')", 5, "a");
  client.ExecOk("ROLLBACK TO s");
  client.ExecOk("ALTER TABLE t RENAME COLUMN v TO b");
  captured("INSERT INTO t VALUES ('g', '7')", 5, "b");  // f went with the savepoint
  client.ExecOk("COMMIT");
}

// INSERT OR REPLACE deletes the rows it replaces (by the key, or by any other unique column) before it
// inserts, and SQLite fires no delete trigger for them. Capture still sees them (preupdate hook): the server
// ends with the same rows as the device, and a counter replaced with 7 totals 7, not old + 7. Before, the
// other row stayed on the server and the counter read 12.
TEST(SyncEngineCapture, InsertOrReplaceReachesTheServerAsTheRowsItDeletedAndTheRowItInserted) {
  SyncConfig cfg = Config();
  cfg.tables["u"] = TrackedTable{{"id"}, merge::TablePolicy{}};
  FakeServer server = Server(cfg);
  SyncClient client(cfg, std::string(kSchema) + "CREATE TABLE u(id TEXT PRIMARY KEY, email TEXT UNIQUE);");
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 5)");
  client.ExecOk("INSERT INTO u VALUES ('x', 'x@example.org'), ('y', 'y@example.org')");
  client.SyncAll(server);
  client.ExecOk("INSERT OR REPLACE INTO items VALUES ('a', 'A2', 7)");
  client.ExecOk("INSERT OR REPLACE INTO u VALUES ('y', 'x@example.org')");  // replaces y, and x by its email
  client.SyncAll(server);
  auto total = [&](const std::string& id) {
    return std::get<int64_t>(server.Find("items", {{"id", id}})->state.columns.at("qty").value);
  };
  EXPECT_EQ(total("a"), 7);
  EXPECT_EQ(client.Text("SELECT CAST(qty AS TEXT) FROM items WHERE id = 'a'"), "7");
  const auto* x = server.Find("u", {{"id", std::string("x")}});
  ASSERT_NE(x, nullptr);
  EXPECT_TRUE(x->state.deleted);
  EXPECT_EQ(std::get<std::string>(server.Find("u", {{"id", std::string("y")}})->state.columns.at("email").value),
            "x@example.org");
  EXPECT_EQ(client.Text("SELECT CAST(count(*) AS TEXT) FROM u"), "1");
  // UPDATE OR REPLACE: the row it displaces by the unique column is recorded as a delete as well.
  client.ExecOk("INSERT INTO u VALUES ('z', 'z@example.org')");
  client.ExecOk("UPDATE OR REPLACE u SET email = 'z@example.org' WHERE id = 'y'");
  client.SyncAll(server);
  EXPECT_TRUE(server.Find("u", {{"id", std::string("z")}})->state.deleted);
  EXPECT_EQ(std::get<std::string>(server.Find("u", {{"id", std::string("y")}})->state.columns.at("email").value),
            "z@example.org");
  // A plain DELETE is the delete trigger's: nothing is left for a later insert to record a second time.
  client.ExecOk("DELETE FROM u WHERE id = 'y'");
  client.ExecOk("INSERT INTO u VALUES ('w', 'w@example.org')");
  auto ops = client.List(OpState::kPending);
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].op.kind, "delete");
  EXPECT_EQ(ops[1].op.kind, "upsert");
}

// ---- Capture around statements (preupdate hook + Database's WriteObserver) -------------------------------

// A key as "name=value;" per column, values as SQL would print them.
std::string KeyTextForTest(const protocol::Key& key) {
  std::string out;
  for (const auto& [name, v] : key)
    out += name + "=" + (v.index() == 1 ? std::to_string(std::get<int64_t>(v)) : std::get<std::string>(v)) + ";";
  return out;
}

// The outbox's row operations, in order, as "kind table:id".
std::vector<std::string> Recorded(SyncClient& client) {
  std::vector<std::string> out;
  for (const auto& e : client.List())
    out.push_back(e.op.kind + " " + e.op.table + ":" + std::get<std::string>(e.op.key.at("id")));
  return out;
}

// A write that cannot be recorded takes its whole transaction with it: the earlier statements of the
// transaction are not committed without the later ones, and nothing of it is left uncaptured.
TEST(SyncEngineCapture, AWriteThatCannotBeRecordedRollsBackItsWholeTransaction) {
  SyncClient client(Config(), std::string(kSchema) + "CREATE TABLE loose(id TEXT, v TEXT);");
  SyncConfig cfg = Config();
  cfg.tables["loose"] = TrackedTable{{"id"}, {}};
  SyncClient loose(cfg, std::string(kSchema) + "CREATE TABLE loose(id TEXT, v TEXT);");
  loose.ExecOk("BEGIN");
  loose.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  Status s = loose.Exec("INSERT INTO loose VALUES (NULL, 'no key')");
  EXPECT_EQ(s.code(), "INVALID_ARGUMENT") << s.ToString();
  EXPECT_NE(s.message().find("non-NULL primary key"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("The transaction was rolled back."), std::string::npos) << s.message();
  EXPECT_FALSE(loose.db->InTransaction());
  EXPECT_EQ(loose.Int("SELECT count(*) FROM items"), 0);
  EXPECT_EQ(loose.Int("SELECT count(*) FROM loose"), 0);
  EXPECT_TRUE(loose.List().empty());
  // A counter holding text: the same, outside a transaction (only the statement is undone).
  loose.ExecOk("INSERT INTO items VALUES ('b', 'B', 1)");
  s = loose.Exec("UPDATE items SET qty = 'many' WHERE id = 'b'");
  EXPECT_EQ(s.code(), "INVALID_ARGUMENT") << s.ToString();
  EXPECT_EQ(s.message().find("rolled back"), std::string::npos) << s.message();
  EXPECT_EQ(loose.Int("SELECT qty FROM items WHERE id = 'b'"), 1);
  EXPECT_EQ(Recorded(loose), (std::vector<std::string>{"upsert items:b"}));
}

// A statement that fails (default ON CONFLICT ABORT) is undone by SQLite and so is what it noted; the
// transaction goes on, and its other statements are recorded once.
TEST(SyncEngineCapture, AFailedStatementLeavesItsTransactionAndTheOtherStatementsRecords) {
  SyncClient client(Config(), kSchema);
  client.ExecOk("BEGIN");
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  EXPECT_EQ(client.Exec("INSERT INTO items VALUES ('b', 'B', 1), ('a', 'again', 1)").code(), "SQLITE_CONSTRAINT");
  EXPECT_TRUE(client.db->InTransaction());
  client.ExecOk("INSERT INTO items VALUES ('c', 'C', 1)");
  client.ExecOk("COMMIT");
  EXPECT_EQ(client.Int("SELECT count(*) FROM items"), 2);
  EXPECT_EQ(Recorded(client), (std::vector<std::string>{"upsert items:a", "upsert items:c"}));
}

// OR FAIL keeps the rows a statement changed before its error: they are recorded, in a transaction and
// outside one.
TEST(SyncEngineCapture, OrFailKeepsAndRecordsTheRowsChangedBeforeTheError) {
  SyncClient client(Config(), kSchema);
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  EXPECT_FALSE(client.Exec("INSERT OR FAIL INTO items VALUES ('b', 'B', 1), ('a', 'again', 1)").ok());
  client.ExecOk("BEGIN");
  EXPECT_FALSE(client.Exec("INSERT OR FAIL INTO items VALUES ('c', 'C', 1), ('a', 'again', 1)").ok());
  client.ExecOk("COMMIT");
  EXPECT_EQ(client.Int("SELECT count(*) FROM items"), 3);
  EXPECT_EQ(Recorded(client), (std::vector<std::string>{"upsert items:a", "upsert items:b", "upsert items:c"}));
}

// A trigger of the app's writes a tracked row and then fails with RAISE(FAIL), which keeps that row without
// SQLite counting it: whether the statement's changes stand cannot be told, so the transaction is rolled
// back rather than leaving a row nobody recorded.
TEST(SyncEngineCapture, AFailureThatMayHaveKeptUncountedChangesRollsTheTransactionBack) {
  SyncClient client(Config(), std::string(kSchema) +
                                  "CREATE TABLE inbox(id TEXT PRIMARY KEY);"
                                  "CREATE TRIGGER file BEFORE INSERT ON inbox BEGIN"
                                  "  INSERT INTO items VALUES (NEW.id, 'filed', 1);"
                                  "  SELECT RAISE(FAIL, 'refused') WHERE NEW.id = 'bad';"
                                  "END;");
  client.ExecOk("INSERT INTO inbox VALUES ('good')");  // the trigger's row is recorded
  client.ExecOk("BEGIN");
  client.ExecOk("INSERT INTO docs VALUES ('d', 'x', 't')");
  Status s = client.Exec("INSERT INTO inbox VALUES ('bad')");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("rolled back"), std::string::npos) << s.message();
  EXPECT_FALSE(client.db->InTransaction());
  s = client.Exec("INSERT INTO inbox VALUES ('bad')");  // outside a transaction: the same
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(client.Int("SELECT count(*) FROM items"), 1);
  EXPECT_EQ(client.Int("SELECT count(*) FROM docs"), 0);
  EXPECT_EQ(Recorded(client), (std::vector<std::string>{"upsert items:good"}));
}

// Rows changed by the app's triggers and by foreign-key actions are captured like any other; a savepoint
// rolled back takes its operations with it.
TEST(SyncEngineCapture, TriggersCascadesAndSavepointsAreFollowed) {
  SyncConfig cfg = Config();
  cfg.tables["lines"] = TrackedTable{{"id"}, {}};
  SyncClient client(cfg, std::string(kSchema) +
                             "CREATE TABLE lines(id TEXT PRIMARY KEY, item TEXT REFERENCES items(id) ON DELETE "
                             "CASCADE);"
                             "CREATE TRIGGER stock AFTER INSERT ON plain BEGIN"
                             "  UPDATE items SET qty = qty + NEW.qty WHERE id = NEW.id;"
                             "END;");
  client.ExecOk("PRAGMA foreign_keys = ON");
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  client.ExecOk("INSERT INTO lines VALUES ('l1', 'a'), ('l2', 'a')");
  client.ExecOk("INSERT INTO plain VALUES ('a', 'restock', 4)");
  client.ExecOk("BEGIN");
  client.ExecOk("SAVEPOINT maybe");
  client.ExecOk("INSERT INTO items VALUES ('b', 'B', 1)");
  client.ExecOk("ROLLBACK TO maybe");
  client.ExecOk("RELEASE maybe");
  client.ExecOk("DELETE FROM items WHERE id = 'a'");
  client.ExecOk("COMMIT");
  EXPECT_EQ(client.Int("SELECT count(*) FROM lines"), 0);
  EXPECT_EQ(Recorded(client), (std::vector<std::string>{"upsert items:a", "upsert lines:l1", "upsert lines:l2",
                                                        "delete items:a", "delete lines:l1", "delete lines:l2"}));
  // The trigger's update of the counter went into the unsent insert: 1 + 4.
  EXPECT_EQ(std::get<int64_t>(client.List()[0].op.columns.at("qty").value), 5);
}

// An app trigger's write to a tracked table, undone with its statement (a later row failed), is not
// recorded; SQLite counts the trigger's row in total_changes() all the same, which is why that is not used.
TEST(SyncEngineCapture, ATriggersWriteUndoneWithItsStatementIsNotRecorded) {
  SyncClient client(Config(), std::string(kSchema) +
                                  "CREATE TRIGGER note AFTER INSERT ON items BEGIN"
                                  "  INSERT INTO docs VALUES (NEW.id, 'about ' || NEW.title, 't');"
                                  "END;");
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  client.ExecOk("BEGIN");
  EXPECT_EQ(client.Exec("INSERT INTO items VALUES ('x', 'X', 1), ('a', 'again', 1)").code(), "SQLITE_CONSTRAINT");
  EXPECT_TRUE(client.db->InTransaction());
  client.ExecOk("COMMIT");
  EXPECT_EQ(client.Int("SELECT count(*) FROM docs"), 1);
  EXPECT_EQ(Recorded(client), (std::vector<std::string>{"upsert items:a", "upsert docs:a"}));
}

// What Exec reports is the statement's own: capture's outbox writes change neither its last insert rowid
// nor its count of changed rows. INSERT ... RETURNING through Query is captured too.
TEST(SyncEngineCapture, ExecResultsAreTheStatementsOwnAndQueryWritesAreCaptured) {
  SyncClient client(Config(), kSchema);
  ExecResult r;
  client.engine->SetTime(client.now);
  ASSERT_TRUE(client.db->Exec("INSERT INTO items VALUES ('a', 'A', 1), ('b', 'B', 1), ('c', 'C', 1)", {}, &r).ok());
  EXPECT_EQ(r.changes, 3);
  EXPECT_EQ(r.last_insert_rowid, client.Int("SELECT rowid FROM items WHERE id = 'c'"));
  EXPECT_EQ(client.Int("SELECT last_insert_rowid()"), r.last_insert_rowid);
  QueryResult q;
  ASSERT_TRUE(client.db->Query("INSERT INTO items VALUES ('d', 'D', 1) RETURNING id", {}, &q).ok());
  ASSERT_EQ(q.rows.size(), 1u);
  EXPECT_EQ(std::get<std::string>(q.rows[0][0]), "d");
  EXPECT_EQ(Recorded(client),
            (std::vector<std::string>{"upsert items:a", "upsert items:b", "upsert items:c", "upsert items:d"}));
}

// Transaction control, and statements SQLite refuses or ignores inside a transaction, run as they are on a
// synced database.
TEST(SyncEngineCapture, TransactionControlVacuumAndPragmasStillWork) {
  SyncClient client(Config(), kSchema);
  for (const char* begin : {"BEGIN IMMEDIATE", "BEGIN EXCLUSIVE", "-- a comment first\n begin deferred"}) {
    client.ExecOk(begin);
    EXPECT_TRUE(client.db->InTransaction()) << begin;
    client.ExecOk("END");
  }
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  client.ExecOk("DELETE FROM items");
  client.ExecOk("/* compact */ VACUUM");
  client.ExecOk("PRAGMA user_version = 7");
  EXPECT_EQ(client.Int("PRAGMA user_version"), 7);
  client.ExecOk("PRAGMA foreign_keys = ON");
  EXPECT_EQ(client.Int("PRAGMA foreign_keys"), 1);
  EXPECT_EQ(Recorded(client), (std::vector<std::string>{"upsert items:a", "delete items:a"}));
}

// Generated columns are not synced, and one before the key does not shift what capture reads as the key.
TEST(SyncEngineCapture, GeneratedColumnsAreSkipped) {
  SyncConfig cfg = Config();
  cfg.tables["g"] = TrackedTable{{"id"}, {}};
  SyncClient client(cfg, std::string(kSchema) +
                             "CREATE TABLE g(shout TEXT GENERATED ALWAYS AS (upper(v)) VIRTUAL, id TEXT PRIMARY KEY,"
                             " v TEXT, n INTEGER GENERATED ALWAYS AS (length(v)) STORED, w TEXT);");
  client.ExecOk("INSERT INTO g(id, v, w) VALUES ('k', 'hello', 'x')");
  client.ExecOk("UPDATE g SET w = 'y' WHERE id = 'k'");
  const auto ops = client.List();
  ASSERT_EQ(ops.size(), 1u);  // the update went into the unsent insert
  EXPECT_EQ(std::get<std::string>(ops[0].op.key.at("id")), "k");
  std::string names;
  for (const auto& [name, cv] : ops[0].op.columns) names += name + "=" + std::get<std::string>(cv.value) + ";";
  EXPECT_EQ(names, "v=hello;w=y;");
}

// Keys of every shape: a composite key of a WITHOUT ROWID table, and an INTEGER PRIMARY KEY (the rowid,
// which SQLite does not store in the record) whose change is a delete and an upsert.
TEST(SyncEngineCapture, KeysOfEveryShapeAreRead) {
  SyncConfig cfg = Config();
  cfg.tables["pair"] = TrackedTable{{"a", "b"}, {}};
  cfg.tables["num"] = TrackedTable{{"n"}, {}};
  SyncClient client(cfg, std::string(kSchema) +
                             "CREATE TABLE pair(v TEXT, a TEXT, b INTEGER, PRIMARY KEY(a, b)) WITHOUT ROWID;"
                             "CREATE TABLE num(n INTEGER PRIMARY KEY, v TEXT);");
  client.ExecOk("INSERT INTO pair VALUES ('x', 'k', 1)");
  client.ExecOk("UPDATE pair SET v = 'y' WHERE a = 'k'");
  client.ExecOk("INSERT INTO num(v) VALUES ('first')");
  client.ExecOk("UPDATE num SET n = 7 WHERE n = 1");
  client.ExecOk("DELETE FROM pair");
  std::vector<std::string> got;
  for (const auto& e : client.List()) {
    std::string line = e.op.kind + " " + e.op.table + " " + KeyTextForTest(e.op.key) + " ";
    for (const auto& [name, cv] : e.op.columns) line += name + ",";
    got.push_back(line);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"upsert pair a=k;b=1; v,", "upsert num n=1; v,", "delete num n=1; ",
                                           "upsert num n=7; v,", "delete pair a=k;b=1; "}));
  EXPECT_EQ(std::get<std::string>(client.List()[0].op.columns.at("v").value), "y");  // compacted
}

TEST_F(SyncEngineTest, EditingOurOwnManualValueAgainBeforeThePullDoesNotConflict) {
  client.ExecOk("INSERT INTO docs VALUES ('d', 'v0', 't')");
  client.SyncAll(server);
  client.ExecOk("UPDATE docs SET body = 'a1' WHERE id = 'd'");
  SettleReads();
  Action push = NextPush();
  ASSERT_TRUE(client.Serve(push, server).ok());  // applied; the pull it asks for has not run yet
  client.ExecOk("UPDATE docs SET body = 'a2' WHERE id = 'd'");
  client.SyncAll(server);
  EXPECT_TRUE(client.Events("conflict").empty());
  EXPECT_EQ(std::get<std::string>(server.Find("docs", {{"id", std::string("d")}})->state.columns.at("body").value),
            "a2");
}

// ---- Per-record state -----------------------------------------------------------------------------------

TEST_F(SyncEngineTest, SyncStateFunction) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  EXPECT_EQ(client.Text("SELECT outpost_sync_state('items', id) FROM items WHERE id = 'a'"), "local-only");
  client.SyncAll(server);
  EXPECT_EQ(client.Text("SELECT outpost_sync_state('items', 'a')"), "synced");
  client.ExecOk("UPDATE items SET title = 'B' WHERE id = 'a'");
  EXPECT_EQ(client.Text("SELECT outpost_sync_state('items', 'a')"), "syncing");
  QueryResult r;
  EXPECT_FALSE(client.db->Query("SELECT outpost_sync_state('nope', 'a')", {}, &r).ok());
}

// ---- Connectivity and events ------------------------------------------------------------------------

TEST_F(SyncEngineTest, OfflineStopsPushesAndHeartbeatsBringItBack) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  SettleReads();
  Action push = NextPush();
  ASSERT_TRUE(client.Serve(push, server, Fault::kNetworkError).ok());
  EXPECT_EQ(client.engine->GetStatus().connection, Connectivity::kTransitioning);
  client.now += config.transitioning_ms + 1;
  Action a = client.Next();
  EXPECT_EQ(client.engine->GetStatus().connection, Connectivity::kOffline);
  for (int i = 0; i < 5; ++i) {  // offline: only heartbeats, spaced by backoff
    if (a.kind == Action::kWait) {
      client.now = a.wake_at_ms;
      a = client.Next();
    }
    ASSERT_EQ(a.kind, Action::kHeartbeat);
    ASSERT_TRUE(client.Serve(a, server, Fault::kNetworkError).ok());
    a = client.Next();
    ASSERT_EQ(a.kind, Action::kWait);
  }
  client.now = a.wake_at_ms;
  a = client.Next();
  ASSERT_EQ(a.kind, Action::kHeartbeat);
  ASSERT_TRUE(client.Serve(a, server).ok());
  EXPECT_EQ(client.engine->GetStatus().connection, Connectivity::kOnline);
  client.now += 120'000;
  client.SyncAll(server);
  EXPECT_EQ(client.List(OpState::kDone).size(), 1u);
  // The offline hint goes offline at once; the online hint probes at once.
  client.engine->OnOnlineHint(false, client.now);
  EXPECT_NE(client.engine->GetStatus().connection, Connectivity::kOnline);
  client.engine->OnOnlineHint(true, client.now);
  a = client.Next();
  EXPECT_TRUE(a.kind == Action::kHeartbeat || a.kind == Action::kPull);
}

TEST_F(SyncEngineTest, StaleEventBeforeTheFirstPushAfterALongAbsence) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  client.SyncAll(server);
  client.now += config.stale_after_ms + 1000;  // the app starts again a week later
  client.Restart();
  client.ExecOk("INSERT INTO items VALUES ('b', 'B', 1)");
  SettleReads();
  Action push = NextPush();
  auto stale = client.Events("stale");
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_NE(stale[0].json.find("\"pending\":1"), std::string::npos) << stale[0].json;
  ASSERT_TRUE(client.Serve(push, server).ok());
}

TEST_F(SyncEngineTest, EngineWorkWaitsForTheAppsTransaction) {
  client.ExecOk("INSERT INTO items VALUES ('a', 'A', 1)");
  client.ExecOk("BEGIN");
  Action a = client.Next();
  EXPECT_EQ(a.kind, Action::kWait);
  EXPECT_EQ(client.engine->OnResult(1, TransportResult{}, client.now).code(), "INVALID_STATE");
  client.ExecOk("COMMIT");
  client.SyncAll(server);
  EXPECT_EQ(client.List(OpState::kDone).size(), 1u);
}

TEST(SyncSchemaTest, TablesFromAnEarlierBuildGetTheirNewColumnsAndIndexes) {
  SyncConfig c;
  c.tables["t"] = TrackedTable{{"id"}, {}};
  c.tables["t"].policy.columns["n"] = merge::Policy::kCounter;
  // The engine's tables as the first builds created them (no outbox `sent`, the outbox indexes with `state`
  // in their keys, one _outpost_shadow row per column, without `own_version`), holding a synced row.
  SyncClient client(c, "CREATE TABLE t(id TEXT PRIMARY KEY, v TEXT, n INTEGER);");
  client.engine.reset();
  const std::string hlc = "0190a6f27c41-00000000-0123456789abcdef";
  client.ExecOk(
      "DROP TABLE _outpost_outbox; DROP TABLE _outpost_rows;"
      "CREATE TABLE _outpost_outbox(seq INTEGER PRIMARY KEY, id TEXT NOT NULL, kind TEXT NOT NULL,"
      " entity TEXT NOT NULL, priority INTEGER NOT NULL, hlc TEXT NOT NULL, tbl TEXT, key TEXT, columns TEXT,"
      " base_version INTEGER, target TEXT, payload TEXT, state INTEGER NOT NULL DEFAULT 0, attempts INTEGER"
      " NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,"
      " updated_ms INTEGER NOT NULL, applied_version INTEGER, error_code TEXT, error_message TEXT,"
      " bytes INTEGER NOT NULL);"
      "CREATE INDEX _outpost_outbox_entity ON _outpost_outbox(entity, state, seq);"
      "CREATE INDEX _outpost_outbox_queue ON _outpost_outbox(state, priority, seq);"
      "CREATE TABLE _outpost_rows(tbl TEXT NOT NULL, key TEXT NOT NULL, version INTEGER,"
      " delete_hlc TEXT, live_hlc TEXT, PRIMARY KEY(tbl, key)) WITHOUT ROWID;"
      "CREATE TABLE _outpost_shadow(tbl TEXT NOT NULL, key TEXT NOT NULL, col TEXT NOT NULL,"
      " hlc TEXT NOT NULL, total, PRIMARY KEY(tbl, key, col)) WITHOUT ROWID;"
      "INSERT INTO t VALUES ('a', 'x', 5);"
      "INSERT INTO _outpost_rows(tbl, key, version) VALUES ('t', '{\"id\":\"a\"}', 1);"
      "INSERT INTO _outpost_shadow VALUES ('t', '{\"id\":\"a\"}', 'v', '" +
      hlc +
      "', NULL),"
      " ('t', '{\"id\":\"a\"}', 'n', '" +
      hlc + "', 5);");
  client.OpenEngine();
  EXPECT_EQ(client.Text("SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type = 'index'"
                        " AND tbl_name = '_outpost_outbox' ORDER BY name)"),
            "_outpost_outbox_by_entity _outpost_outbox_waiting");
  EXPECT_EQ(client.Int("SELECT count(*) FROM sqlite_master WHERE name = '_outpost_shadow'"), 0);
  EXPECT_EQ(client.Text("SELECT shadow FROM _outpost_rows"), "1:n " + hlc + " - 5;1:v " + hlc + " - -");
  // The server holds that row (total 5 at version 1). The migrated total still counts: a local +2 is sent
  // as a delta and, acknowledged, makes the local value the total plus the deltas after version 1.
  FakeServer server;
  server.policies["t"] = c.tables["t"].policy;
  protocol::Operation remote;
  remote.id = "01900000-0000-7000-8000-000000000009";
  remote.kind = "upsert";
  remote.table = "t";
  remote.key = {{"id", std::string("a")}};
  ASSERT_TRUE(Hlc::Decode(hlc, &remote.hlc).ok());
  remote.columns["v"] = {std::string("x"), remote.hlc};
  remote.columns["n"] = {int64_t{5}, remote.hlc};
  server.RemoteWrite(remote);
  client.ExecOk("UPDATE t SET n = n + 2 WHERE id = 'a'");
  client.ExecOk("INSERT INTO t VALUES ('b', 'y', 1)");
  Action push = client.Next();
  ASSERT_EQ(push.kind, Action::kPush);
  ASSERT_TRUE(client.Serve(push, server).ok());
  EXPECT_EQ(client.Int("SELECT n FROM t WHERE id = 'a'"), 7);
  EXPECT_EQ(client.Text("SELECT shadow FROM _outpost_rows WHERE key = '{\"id\":\"a\"}'"),
            "1:n " + hlc + " - 5;1:v " + hlc + " - -");  // an acknowledged counter delta leaves the total
  client.SyncAll(server);
  EXPECT_EQ(client.List(OpState::kDone).size(), 2u);
  EXPECT_EQ(client.Int("SELECT n FROM t WHERE id = 'a'"), 7);
}

TEST(SyncSchemaTest, AShadowThatDoesNotDecodeIsAnErrorNotAGuess) {
  using sync::DecodeShadow;
  using sync::EncodeShadow;
  using sync::Shadow;
  Shadow shadow{{"title", {HlcTimestamp{1, 2, 3}, std::nullopt, 7}},
                {"odd name;x", {HlcTimestamp{4, 5, 6}, 12, std::nullopt}}};
  Shadow back;
  ASSERT_TRUE(DecodeShadow(EncodeShadow(shadow), &back).ok());
  EXPECT_EQ(back, shadow);
  ASSERT_TRUE(DecodeShadow("", &back).ok());
  EXPECT_TRUE(back.empty());
  for (const char* bad : {"5:title", "5:title x - -", "9:title 0190a6f27c41-00000000-0123456789abcdef - -",
                          "5:title 0190a6f27c41-00000000-0123456789abcdef 1x -", "x:title"}) {
    EXPECT_EQ(DecodeShadow(bad, &back).code(), "INTERNAL") << bad;
  }
}

// An entity's head is found by one index seek however many done operations the retention keeps: the claim
// looks only at the operation just before (ClaimBatch). Order still holds across done, failed and retried
// operations of one row.
TEST(SyncOrderTest, TheHeadOfARowWithManyDoneOperationsIsFoundAndOrderHolds) {
  SyncConfig c;
  c.tables["t"] = TrackedTable{{"id"}, {}};
  SyncClient client(c, "CREATE TABLE t(id TEXT PRIMARY KEY, v INTEGER);");
  FakeServer server;
  server.policies["t"] = merge::TablePolicy{};
  client.ExecOk("INSERT INTO t VALUES ('a', 0)");
  client.SyncAll(server);
  for (int i = 1; i <= 50; ++i) {
    client.ExecOk("UPDATE t SET v = " + std::to_string(i) + " WHERE id = 'a'");
    client.SyncAll(server);
  }
  EXPECT_EQ(client.List(OpState::kDone).size(), 51u);
  // The next edit is rejected for good; two more queue behind it and stay there, visibly.
  client.ExecOk("UPDATE t SET v = 100 WHERE id = 'a'");
  const std::string failing = client.List(OpState::kPending).at(0).op.id;
  server.reject[failing] = {"INVALID_ARGUMENT", "Not now."};
  client.SyncAll(server);
  ASSERT_EQ(client.List(OpState::kFailed).size(), 1u);
  client.ExecOk("UPDATE t SET v = 101 WHERE id = 'a'");
  client.ExecOk("INSERT INTO t VALUES ('b', 1)");
  client.SyncAll(server);
  EXPECT_EQ(client.List(OpState::kPending).size(), 1u) << "the edit after the failed one waits";
  EXPECT_EQ(client.List(OpState::kDone).size(), 52u) << "another row is not held back";
  // Retried, the failed edit goes first and the one after it follows.
  server.reject.clear();
  ASSERT_TRUE(client.engine->Retry(failing, client.now).ok());
  client.SyncAll(server);
  EXPECT_EQ(client.List(OpState::kDone).size(), 54u);
  const size_t n = server.applied_ids.size();
  ASSERT_GE(n, 2u);
  EXPECT_EQ(server.applied_ids[n - 2], failing);
  EXPECT_EQ(server.rows.at({"t", FakeServer::KeyOf({{"id", std::string("a")}})}).state.columns.at("v").value,
            Value(int64_t{101}));
}

// ---- Config ---------------------------------------------------------------------------------------------

TEST(SyncConfigTest, FromJsonParsesAndRejectsWithTheField) {
  SyncConfig c;
  ASSERT_TRUE(SyncConfig::FromJson(R"({"tables": {"records": {"primaryKey": "id", "policy": "lww",
      "columns": {"quantity": "counter"}}}, "batchSize": 500, "retry": {"baseMs": 500, "maxAttempts": 7},
      "scopes": ["user:1"], "maxOutboxOps": 10})", &c).ok());
  EXPECT_EQ(c.tables.at("records").key, std::vector<std::string>{"id"});
  EXPECT_EQ(c.tables.at("records").policy.ForColumn("quantity"), merge::Policy::kCounter);
  EXPECT_EQ(c.retry.base_ms, 500);
  EXPECT_EQ(c.retry.max_attempts, 7);
  EXPECT_EQ(c.max_outbox_ops, 10u);
  EXPECT_EQ(c.scopes, std::vector<std::string>{"user:1"});
  for (const char* bad : {R"({"tables": {"a b": {"primaryKey": "id"}}})", R"({"tables": {"t": {}}})",
                          R"({"batchSize": 0})", R"({"bachSize": 10})", R"({"retry": {"base": 1}})",
                          R"({"tables": {"t": {"primaryKey": "id", "policy": "counter"}}})", "[]", "{"}) {
    Status s = SyncConfig::FromJson(bad, &c);
    EXPECT_EQ(s.code(), "INVALID_ARGUMENT") << bad;
  }
  EXPECT_NE(SyncConfig::FromJson(R"({"bachSize": 10})", &c).message().find("bachSize"), std::string::npos);
}

// ---- Capture cost (printed; the bound is checked in bench/) ------------------------------------------

TEST(SyncCaptureCost, PrintsTrackedVersusUntrackedInsertCost) {
  SyncConfig c;
  c.tables["t"] = TrackedTable{{"id"}, {}};
  SyncClient client(c, "CREATE TABLE t(id TEXT PRIMARY KEY, a TEXT, b INTEGER, c REAL);"
                       "CREATE TABLE u(id TEXT PRIMARY KEY, a TEXT, b INTEGER, c REAL)");
  const int kRows = getenv("OUTPOST_ROWS") ? atoi(getenv("OUTPOST_ROWS")) : 2000;
  auto run = [&](const char* table, bool one_transaction) {
    const std::clock_t start = std::clock();  // CPU time: other processes on the machine do not count
    if (one_transaction) client.ExecOk("BEGIN");
    for (int i = 0; i < kRows; ++i)
      client.ExecOk(std::string("INSERT INTO ") + table + " VALUES (?, 'some text', ?, 1.5)",
                    P({"row-" + std::string(one_transaction ? "a" : "b") + std::to_string(i), int64_t{i}}));
    if (one_transaction) client.ExecOk("COMMIT");
    return 1e6 * static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC / kRows;
  };
  run("u", true);  // warm up
  client.ExecOk("DELETE FROM u");
  const double untracked = run("u", true);
  const double tracked = run("t", true);
  const double untracked_tx = run("u", false);
  const double tracked_tx = run("t", false);
  EXPECT_EQ(client.List().size(), static_cast<size_t>(2 * kRows));
  std::printf("[capture cost] insert, %d rows in one transaction: untracked %.2f us/row, tracked %.2f us/row (x%.2f);"
              " one transaction per row (relaxed durability, in memory): %.2f vs %.2f us (x%.2f)\n",
              kRows, untracked, tracked, tracked / untracked, untracked_tx, tracked_tx, tracked_tx / untracked_tx);
}

}  // namespace
}  // namespace outpost::testing
