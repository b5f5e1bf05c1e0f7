// Randomized simulation of the sync engine against an idempotent fake server: seeded, reproducible
// schedules of app transactions (tracked-table writes and custom operations, some left open at a crash),
// engine steps, transport faults (network errors, timeouts, 5xx, 429/503 with Retry-After, 401 until a new
// token, answers lost after the server applied the batch, mismatched answers), answers delivered late and out of order, and
// worker crashes (database and engine closed and reopened from what reached storage) between a claim and
// its acknowledgement. Then the faults stop and the engine drains.
//
// Oracle: every committed operation takes effect exactly once (counter totals equal the sum of committed
// deltas; every committed custom op is in the server's log once), per-entity order holds (custom ops of an
// entity are applied in commit order), nothing is lost (last committed titles and deletes are on the
// server and back on the client; the outbox ends with nothing pending, in flight or failed), and nothing
// uncommitted leaks (ops of transactions open at a crash never reach the server).
//
// A failing seed prints itself; add it to kRegressionSeeds so it is checked on every run.
#include <cstdlib>
#include <random>
#include <set>

#include "sync_test_util.h"

namespace outpost::testing {
namespace {

// Seeds checked on every run before the random range. Add every seed that ever failed. None has failed
// against the committed engine so far; 1-3 are a quick smoke set (seed 3 was the first to catch a deliberately
// injected bug, compaction into an op already sent, when the oracle itself was checked).
constexpr uint64_t kRegressionSeeds[] = {1, 2, 3};

struct Model {
  std::map<std::string, int64_t> qty;          // item → sum of committed deltas
  std::map<std::string, std::string> title;    // item → last committed title
  std::set<std::string> deleted;
  std::map<std::string, std::vector<std::string>> custom;  // entity → committed op ids, in commit order
  std::set<std::string> uncommitted_custom;                // enqueued in transactions lost at a crash
  int next_item = 0;
};

struct InFlightResult {
  Action action;
  TransportResult result;
  int64_t deliver_at;
};

class Simulation {
 public:
  explicit Simulation(uint64_t seed) : rng_(seed), seed_(seed) {}

  void Run() {
    SyncConfig config;
    config.tables["items"] = TrackedTable{{"id"}, {}};
    config.tables["items"].policy.columns["qty"] = merge::Policy::kCounter;
    config.batch_size = 1 + rng_() % 4;
    config.max_inflight_pushes = 1 + seed_ % 2;  // odd seeds: two pushes in flight (not drawn: schedules stay)
    config.pull_page_size = 1 + rng_() % 4;
    config.retry = RetryPolicy{100, 2.0, 3000, 0};
    config.inflight_timeout_ms = 8000;
    config.pull_interval_ms = 4000;
    config.transitioning_ms = 2000;
    config.heartbeat_offline_min_ms = 200;
    config.heartbeat_offline_max_ms = 2000;
    server_.policies["items"] = config.tables["items"].policy;
    client_ = std::make_unique<SyncClient>(config, "CREATE TABLE items(id TEXT PRIMARY KEY, title TEXT, qty INTEGER)");

    const int steps = 30 + static_cast<int>(rng_() % 30);
    for (int i = 0; i < steps && !::testing::Test::HasFatalFailure(); ++i) Step();
    Drain();
    if (!::testing::Test::HasFatalFailure()) Check();
  }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }

  void Step() {
    const int r = Pick(100);
    if (r < 30) AppTransaction();
    else if (r < 58) EngineStep();
    else if (r < 82) Deliver();
    else if (r < 87) CrashAndRestart();
    else if (r < 90) client_->engine->SetToken(true);  // a new token (after a 401, or a no-op)
    else client_->now += Pick(3000);
  }

  std::vector<std::string> LiveItems() const {
    std::vector<std::string> out;
    for (const auto& [id, q] : model_.qty)
      if (!model_.deleted.count(id)) out.push_back(id);
    return out;
  }

  void AppTransaction() {
    Model next = model_;
    client_->ExecOk("BEGIN");
    const int writes = 1 + Pick(3);
    std::vector<std::string> enqueued;
    for (int w = 0; w < writes; ++w) {
      auto live = [&] {
        std::vector<std::string> out;
        for (const auto& [id, q] : next.qty)
          if (!next.deleted.count(id)) out.push_back(id);
        return out;
      }();
      const int kind = Pick(100);
      if (kind < 25 || live.empty()) {
        std::string id = "i" + std::to_string(next.next_item++);
        int64_t q = 1 + Pick(5);
        std::string title = "t" + std::to_string(Pick(1000));
        client_->ExecOk("INSERT INTO items VALUES (?, ?, ?)", P({id, title, q}));
        next.qty[id] = q;
        next.title[id] = title;
      } else if (kind < 55) {
        const std::string& id = live[Pick(static_cast<int>(live.size()))];
        int64_t d = Pick(9) - 3;
        client_->ExecOk("UPDATE items SET qty = qty + ? WHERE id = ?", P({d, id}));
        next.qty[id] += d;
      } else if (kind < 75) {
        const std::string& id = live[Pick(static_cast<int>(live.size()))];
        std::string title = "t" + std::to_string(Pick(1000));
        client_->ExecOk("UPDATE items SET title = ? WHERE id = ?", P({title, id}));
        next.title[id] = title;
      } else if (kind < 80) {
        const std::string& id = live[Pick(static_cast<int>(live.size()))];
        client_->ExecOk("DELETE FROM items WHERE id = ?", P({id}));
        next.deleted.insert(id);
      } else {
        std::string entity = "e" + std::to_string(Pick(3));
        std::string id;
        Status s = client_->engine->Enqueue(
            CustomOperation{"task.run", entity, "", "{\"n\":" + std::to_string(w) + "}", protocol::Priority(Pick(4))},
            client_->now, &id);
        ASSERT_TRUE(s.ok()) << s.ToString();
        next.custom[entity].push_back(id);
        enqueued.push_back(id);
      }
    }
    if (Pick(100) < 6) {  // the worker dies with the transaction open
      for (const auto& id : enqueued) model_.uncommitted_custom.insert(id);
      CrashAndRestart();
      return;
    }
    if (Pick(100) < 5) {
      client_->ExecOk("ROLLBACK");
      for (const auto& id : enqueued) model_.uncommitted_custom.insert(id);
      return;
    }
    client_->ExecOk("COMMIT");
    model_ = std::move(next);
  }

  Fault PickFault() {
    const int r = Pick(100);
    if (r < 55) return Fault::kNone;
    if (r < 63) return Fault::kNetworkError;
    if (r < 70) return Fault::kTimeout;
    if (r < 80) return Fault::kLostAnswer;
    if (r < 86) return Fault::kServerError;
    if (r < 90) return Fault::kUnavailable;
    if (r < 94) return Fault::kRateLimited;
    if (r < 96) return Fault::kUnauthorized;  // the app gives a new token later (Step)
    return Fault::kMismatch;
  }

  void EngineStep() {
    Action a = client_->Next();
    if (a.kind == Action::kWait) {
      if (Pick(2)) client_->now = std::max(client_->now, a.wake_at_ms);
      return;
    }
    if (a.kind == Action::kIdle) return;
    Fault fault = a.kind == Action::kPush ? PickFault() : (Pick(100) < 15 ? Fault::kNetworkError : Fault::kNone);
    const int64_t latency = 5 + Pick(Pick(10) == 0 ? 12000 : 800);  // sometimes later than the inflight timeout
    TransportResult r = client_->Perform(a, server_, fault, latency);
    inflight_.push_back({a, r, client_->now + latency});
  }

  void Deliver() {
    if (inflight_.empty()) return;
    size_t i = static_cast<size_t>(Pick(static_cast<int>(inflight_.size())));  // any order
    InFlightResult d = inflight_[i];
    inflight_.erase(inflight_.begin() + static_cast<std::ptrdiff_t>(i));
    client_->now = std::max(client_->now, d.deliver_at);
    Status s = client_->engine->OnResult(d.action.request_id, d.result, client_->now);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  void CrashAndRestart() {
    inflight_.clear();  // the worker's fetches die with it
    client_->Crash();
  }

  void Drain() {
    // Deliver what is still on the way, then run without faults until there is nothing left to do.
    while (!inflight_.empty() && !::testing::Test::HasFatalFailure()) Deliver();
    client_->engine->SetToken(true);
    client_->engine->SyncNow(client_->now);
    for (int i = 0; i < 3000 && !::testing::Test::HasFatalFailure(); ++i) {
      Action a = client_->Next();
      if (a.kind == Action::kIdle) break;
      if (a.kind == Action::kWait) {
        if (client_->engine->GetStatus().pending == 0 && quiet_pulls_ >= 1) break;
        client_->now = std::max(client_->now + 1, a.wake_at_ms);
        continue;
      }
      const bool pull = a.kind == Action::kPull;
      ASSERT_TRUE(client_->Serve(a, server_).ok());
      if (pull && client_->engine->GetStatus().pending == 0) ++quiet_pulls_;
    }
    // One more full pull so the client holds the server's final state.
    client_->engine->SyncNow(client_->now);
    client_->SyncAll(server_, 3000);
  }

  void Check() {
    SCOPED_TRACE("seed " + std::to_string(seed_));
    // Nothing lost, nothing stuck.
    auto ops = client_->List();
    for (const auto& op : ops) EXPECT_EQ(op.state, OpState::kDone) << op.op.id << " " << op.error_code;
    // Exactly once.
    std::set<std::string> applied(server_.applied_ids.begin(), server_.applied_ids.end());
    EXPECT_EQ(applied.size(), server_.applied_ids.size()) << "an operation was applied twice";
    std::map<std::string, std::vector<std::string>> by_entity;
    for (const auto& op : server_.custom_log) {
      by_entity[op.entity].push_back(op.id);
      EXPECT_FALSE(model_.uncommitted_custom.count(op.id)) << "an uncommitted operation reached the server";
    }
    EXPECT_EQ(by_entity, model_.custom) << "custom operations lost, duplicated or out of order";
    for (const auto& [id, qty] : model_.qty) {
      SCOPED_TRACE(id);
      const auto* row = server_.Find("items", {{"id", id}});
      auto local = client_->Rows("SELECT title, qty FROM items WHERE id = ?", P({id}));
      if (model_.deleted.count(id)) {
        EXPECT_TRUE(row == nullptr || row->state.deleted);
        EXPECT_TRUE(local.empty());
        continue;
      }
      ASSERT_NE(row, nullptr);
      ASSERT_FALSE(row->state.deleted);
      EXPECT_EQ(row->state.columns.at("qty").value, Value(qty));
      EXPECT_EQ(row->state.columns.at("title").value, Value(model_.title.at(id)));
      ASSERT_EQ(local.size(), 1u);
      EXPECT_EQ(local[0][0], Value(model_.title.at(id)));
      EXPECT_EQ(local[0][1], Value(qty));
    }
    EXPECT_EQ(client_->Int("SELECT count(*) FROM items"),
              static_cast<int64_t>(model_.qty.size() - model_.deleted.size()));
  }

  std::mt19937_64 rng_;
  uint64_t seed_;
  FakeServer server_;
  std::unique_ptr<SyncClient> client_;
  Model model_;
  std::vector<InFlightResult> inflight_;
  int quiet_pulls_ = 0;
};

void RunSeed(uint64_t seed) {
  Simulation sim(seed);
  sim.Run();
  if (::testing::Test::HasFailure()) ADD_FAILURE() << "failing seed: " << seed << " (add it to kRegressionSeeds)";
}

TEST(SyncSimulation, RegressionSeeds) {
  for (uint64_t seed : kRegressionSeeds) {
    RunSeed(seed);
    if (::testing::Test::HasFailure()) return;
  }
}

// OUTPOST_SIM_SCHEDULES / OUTPOST_SIM_FIRST_SEED widen or move the search (e.g. 100000 schedules overnight).
TEST(SyncSimulation, RandomSchedules) {
  const char* n = std::getenv("OUTPOST_SIM_SCHEDULES");
  const char* first = std::getenv("OUTPOST_SIM_FIRST_SEED");
  const uint64_t count = n ? std::strtoull(n, nullptr, 10) : 2000;
  const uint64_t start = first ? std::strtoull(first, nullptr, 10) : 1000;
  for (uint64_t seed = start; seed < start + count; ++seed) {
    RunSeed(seed);
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace outpost::testing
