// Helpers for the sync engine tests: a client (storage device, database, engine) that can crash and restart
// the way a killed worker does, a simulated clock, and a transport that serves the engine's actions with a
// FakeServer under a chosen fault.
#ifndef OUTPOST_TESTS_SYNC_TEST_UTIL_H_
#define OUTPOST_TESTS_SYNC_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "memory_backend.h"
#include "outpost/database.h"
#include "outpost/sync_engine.h"
#include "slot_vfs.h"
#include "sync_fake_server.h"

namespace outpost::testing {

// What the transport does with one request.
enum class Fault {
  kNone,
  kNetworkError,  // never reached the server
  kTimeout,       // never reached the server; reported as a timeout
  kLostAnswer,    // the server applied it; the answer was lost (reported as a network error)
  kServerError,   // 500, not applied
  kUnavailable,   // 503 with Retry-After, not applied
  kRateLimited,   // 429 with Retry-After, not applied
  kUnauthorized,  // 401
  kUnprocessable, // 422 with an error body
  kMismatch,      // the server applied it; the answer lists the results in the wrong order
};

class SyncClient {
 public:
  explicit SyncClient(SyncConfig config, std::string schema, int64_t now = 1'700'000'000'000)
      : now(now), config_(std::move(config)), schema_(std::move(schema)) {
    backend_ = std::make_unique<vfs::MemoryBackend>(8, false);
    Start();
    ExecOk(schema_);
    OpenEngine();
  }
  ~SyncClient() {
    engine.reset();
    db.reset();
  }

  // The worker dies: whatever reached storage stays (an open transaction is lost), the engine and the
  // connection are gone, and the next start opens both again.
  void Crash() {
    auto image = backend_->KillImage();
    engine.reset();
    db.reset();
    vfs_.reset();
    backend_ = std::make_unique<vfs::MemoryBackend>(8, false);
    backend_->Restore(image);
    Start();
    OpenEngine();
  }
  // A clean restart (close, open).
  void Restart() {
    engine.reset();
    ASSERT_TRUE(db->Close().ok());
    db.reset();
    vfs_.reset();
    Start();
    OpenEngine();
  }

  void OpenEngine() {
    std::array<uint8_t, 32> seed{};
    for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(seed_base_ + i * 7);
    ++seed_base_;
    Status s = SyncEngine::Open(db.get(), config_, now, seed, &engine);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  void ExecOk(const std::string& sql, const Params& params = {}) {
    engine_time();
    ExecResult r;
    Status s = db->Exec(sql, params, &r);
    ASSERT_TRUE(s.ok()) << sql << ": " << s.ToString();
  }
  Status Exec(const std::string& sql, const Params& params = {}) {
    engine_time();
    ExecResult r;
    return db->Exec(sql, params, &r);
  }
  std::vector<std::vector<Value>> Rows(const std::string& sql, const Params& params = {}) {
    QueryResult r;
    Status s = db->Query(sql, params, &r);
    EXPECT_TRUE(s.ok()) << sql << ": " << s.ToString();
    return r.rows;
  }
  Value One(const std::string& sql, const Params& params = {}) {
    auto rows = Rows(sql, params);
    return rows.empty() || rows[0].empty() ? Value() : rows[0][0];
  }
  int64_t Int(const std::string& sql, const Params& params = {}) {
    Value v = One(sql, params);
    return std::holds_alternative<int64_t>(v) ? std::get<int64_t>(v) : -1;
  }
  std::string Text(const std::string& sql, const Params& params = {}) {
    Value v = One(sql, params);
    return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : "<not text>";
  }

  std::vector<OutboxEntry> List(std::optional<OpState> state = std::nullopt) {
    std::vector<OutboxEntry> out;
    Status s = engine->List(state, 100000, &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  Action Next() { return engine->Next(now); }

  // Serves `action` with `server` under `fault` and reports the result to the engine.
  Status Serve(const Action& action, FakeServer& server, Fault fault = Fault::kNone, int64_t latency = 20) {
    TransportResult r = Perform(action, server, fault, latency);
    now += latency;
    return engine->OnResult(action.request_id, r, now);
  }

  TransportResult Perform(const Action& action, FakeServer& server, Fault fault, int64_t latency = 20) {
    TransportResult r;
    r.latency_ms = latency;
    auto handle = [&]() -> std::pair<int, std::string> {
      if (action.kind == Action::kPush) return server.Push(action.body);
      if (action.kind == Action::kPull) return server.Pull(action.body);
      return {200, server.Health(now)};
    };
    switch (fault) {
      case Fault::kNone: {
        auto [status, body] = handle();
        r.http_status = status;
        r.body = body;
        break;
      }
      case Fault::kNetworkError: break;
      case Fault::kTimeout: r.timed_out = true; break;
      case Fault::kLostAnswer: handle(); break;
      case Fault::kServerError: r.http_status = 500; r.body = ErrorJson("INTERNAL", "boom"); break;
      case Fault::kUnavailable:
        r.http_status = 503;
        r.body = ErrorJson("UNAVAILABLE", "draining");
        r.retry_after_ms = 20'000;
        break;
      case Fault::kRateLimited:
        r.http_status = 429;
        r.body = ErrorJson("RATE_LIMITED", "slow down");
        r.retry_after_ms = 30'000;
        break;
      case Fault::kUnauthorized: r.http_status = 401; r.body = ErrorJson("UNAUTHENTICATED", "token expired"); break;
      case Fault::kUnprocessable:
        r.http_status = 422;
        r.body = ErrorJson("CONSTRAINT", "quantity must be positive");
        break;
      case Fault::kMismatch: {
        auto [status, body] = handle();
        protocol::PushResponse resp;
        if (status == 200 && protocol::Decode(body, protocol::Limits{}, &resp).ok() && resp.results.size() > 1)
          std::reverse(resp.results.begin(), resp.results.end());
        else if (status == 200 && !resp.results.empty())
          resp.results[0].id = "01900000-0000-7000-8000-000000000000";
        r.http_status = status;
        r.body = protocol::Encode(resp);
        break;
      }
    }
    return r;
  }

  // Runs the engine against `server` without faults until it has nothing to do (bounded).
  void SyncAll(FakeServer& server, int max_steps = 200) {
    for (int i = 0; i < max_steps; ++i) {
      Action a = Next();
      if (a.kind == Action::kIdle) return;
      if (a.kind == Action::kWait) {
        SyncStatus st = engine->GetStatus();
        if (st.pending == 0) return;  // only the periodic pull or a heartbeat is left
        now = std::max(now + 1, a.wake_at_ms);
        continue;
      }
      Status s = Serve(a, server);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  }

  std::vector<Event> Events(const std::string& name) {
    auto all = engine->TakeEvents();
    events.insert(events.end(), all.begin(), all.end());
    std::vector<Event> out;
    for (const auto& e : events)
      if (e.name == name) out.push_back(e);
    return out;
  }

  int64_t now;
  std::unique_ptr<Database> db;
  std::unique_ptr<SyncEngine> engine;
  std::vector<Event> events;

 private:
  void engine_time() {
    if (engine) engine->SetTime(now);
  }
  void Start() {
    vfs_ = std::make_unique<vfs::SlotVfs>("sync-test-vfs-" + std::to_string(counter_++), backend_.get());
    Status s = vfs_->Init();
    ASSERT_TRUE(s.ok()) << s.ToString();
    OpenOptions options;
    options.vfs = vfs_->name();
    options.durability = Durability::kRelaxed;
    s = Database::Open("/app.db", options, &db);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  SyncConfig config_;
  std::string schema_;
  std::unique_ptr<vfs::MemoryBackend> backend_;
  std::unique_ptr<vfs::SlotVfs> vfs_;
  int seed_base_ = 1;
  static inline int counter_ = 0;
};

inline Params P(std::vector<Value> values) {
  Params p;
  p.positional = std::move(values);
  return p;
}

}  // namespace outpost::testing

#endif  // OUTPOST_TESTS_SYNC_TEST_UTIL_H_
