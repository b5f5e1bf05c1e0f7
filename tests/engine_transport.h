// The real client engine against the real server, natively: a Transport performs the engine's Actions (over
// HTTP against an in-process HttpServer, or in the simulation straight against a Store) and feeds the results
// back, and a Device bundles what one app install has (its storage, Database, SyncEngine and simulated clock;
// its transport holds its token). Used by tests/sync_integration_test.cc and tests/convergence_sim_test.cc;
// sync_test_util.h is the fake-server counterpart for the engine's unit tests.
#ifndef OUTPOST_TESTS_ENGINE_TRANSPORT_H_
#define OUTPOST_TESTS_ENGINE_TRANSPORT_H_

#include <httplib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "memory_backend.h"
#include "outpost/database.h"
#include "outpost/protocol.h"
#include "outpost/sync_engine.h"
#include "slot_vfs.h"
#include "store.h"

namespace outpost::integration {

#define OUTPOST_STATUS_RETURN(expr)     \
  do {                                  \
    if (Status _s = (expr); !_s.ok()) { \
      return _s;                        \
    }                                   \
  } while (0)

// A value as text for failure messages and row identities: NULL, 42, 1.5, 'text', x'0a0b'.
inline std::string ValueText(const Value& v) {
  switch (v.index()) {
    case 0:
      return "NULL";
    case 1:
      return std::to_string(std::get<int64_t>(v));
    case 2: {
      std::ostringstream o;
      o.precision(17);
      o << std::get<double>(v);
      return o.str();
    }
    case 3:
      return "'" + std::get<std::string>(v) + "'";
    default: {
      static const char* hex = "0123456789abcdef";
      std::string s = "x'";
      for (uint8_t b : std::get<Blob>(v).bytes) s += std::string{hex[b >> 4], hex[b & 15]};
      return s + "'";
    }
  }
}

// A synced table as the tests see it: key columns and the other columns, in the client table's order.
struct TableDef {
  std::string name;
  std::vector<std::string> key;
  std::vector<std::string> columns;
};

// Live rows: table → row identity ("id='n1'") → column → value (every column of the TableDef; a column the
// server does not hold is NULL, as on a client).
using State = std::map<std::string, std::map<std::string, std::map<std::string, Value>>>;

inline std::string RowId(const TableDef& t, const protocol::Key& key) {
  std::string id;
  for (const auto& k : t.key) {
    auto it = key.find(k);
    id += (id.empty() ? "" : ",") + k + "=" + (it == key.end() ? std::string("?") : ValueText(it->second));
  }
  return id;
}

// Everything the store holds for `tables`, read with full-access pulls (a page of `page` changes at a
// time); tombstones are counted in *tombstones when given.
inline Status ServerState(server::Store* store, const std::vector<TableDef>& tables, int64_t now_ms, State* out,
                          int64_t* tombstones = nullptr) {
  out->clear();
  for (const auto& t : tables) (*out)[t.name];
  server::Principal all{"auditor", "auditor", {"*"}};
  protocol::PullRequest req;
  req.client_id = "auditor";
  for (int page = 0; page < 1'000'000; ++page) {
    protocol::PullResponse resp;
    Status s = store->Pull(all, req, 5000, now_ms, &resp);
    if (!s.ok()) return s;
    for (const auto& c : resp.changes) {
      const TableDef* t = nullptr;
      for (const auto& d : tables)
        if (d.name == c.table) t = &d;
      if (!t) continue;
      if (c.deleted) {
        if (tombstones) ++*tombstones;
        continue;
      }
      auto& row = (*out)[t->name][RowId(*t, c.key)];
      for (const auto& k : t->key) row[k] = c.key.at(k);
      for (const auto& col : t->columns) {
        auto it = c.columns.find(col);
        row[col] = it == c.columns.end() ? Value() : it->second.value;
      }
    }
    req.cursor = resp.cursor;
    if (!resp.has_more) return Status::OK();
  }
  return Status::Error("INTERNAL", "the store's pull never ended");
}

// The rows of `tables` in a client database.
inline Status LocalState(Database& db, const std::vector<TableDef>& tables, State* out) {
  out->clear();
  for (const auto& t : tables) {
    auto& rows = (*out)[t.name];
    std::string cols;
    for (const auto& k : t.key) cols += (cols.empty() ? "" : ",") + std::string("\"") + k + "\"";
    for (const auto& c : t.columns) cols += ",\"" + c + "\"";
    QueryResult r;
    Status s = db.Query("SELECT " + cols + " FROM \"" + t.name + "\"", {}, &r);
    if (!s.ok()) return s;
    for (const auto& values : r.rows) {
      protocol::Key key;
      std::map<std::string, Value> row;
      for (size_t i = 0; i < t.key.size(); ++i) key[t.key[i]] = values[i];
      for (size_t i = 0; i < t.key.size(); ++i) row[t.key[i]] = values[i];
      for (size_t i = 0; i < t.columns.size(); ++i) row[t.columns[i]] = values[t.key.size() + i];
      rows[RowId(t, key)] = std::move(row);
    }
  }
  return Status::OK();
}

// The differences between two states, one line each ("" when equal), for failure messages.
inline std::string Diff(const State& expected, const State& actual, size_t max_lines = 20) {
  std::string out;
  size_t lines = 0;
  auto line = [&](const std::string& s) {
    if (lines++ < max_lines) out += s + "\n";
  };
  auto row_text = [](const std::map<std::string, Value>& row) {
    std::string s = "{";
    for (const auto& [c, v] : row) s += (s.size() > 1 ? ", " : "") + c + ": " + ValueText(v);
    return s + "}";
  };
  std::set<std::string> table_names;
  for (const auto& [t, rows] : expected) table_names.insert(t);
  for (const auto& [t, rows] : actual) table_names.insert(t);
  for (const auto& t : table_names) {
    static const std::map<std::string, std::map<std::string, Value>> kNone;
    auto e = expected.find(t), a = actual.find(t);
    const auto& erows = e == expected.end() ? kNone : e->second;
    const auto& arows = a == actual.end() ? kNone : a->second;
    for (const auto& [id, row] : erows) {
      auto it = arows.find(id);
      if (it == arows.end())
        line(t + " " + id + ": missing (expected " + row_text(row) + ")");
      else if (it->second != row)
        line(t + " " + id + ": " + row_text(it->second) + ", expected " + row_text(row));
    }
    for (const auto& [id, row] : arows)
      if (!erows.count(id)) line(t + " " + id + ": unexpected " + row_text(row));
  }
  if (lines > max_lines) out += "... " + std::to_string(lines - max_lines) + " more\n";
  return out;
}

// Performs one request Action (kPush, kPull or kHeartbeat) and says what the transport saw.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual TransportResult Perform(const Action& action) = 0;
};

// What a transport exchanged, for tests that check pages or count requests.
struct Exchange {
  Action::Kind kind;
  const std::string* request;  // the request body (empty for heartbeats); valid during the callback only
  const TransportResult* result;
};

// The engine's requests over HTTP (cpp-httplib) to a server on 127.0.0.1:port, with the bearer token. The
// latency it reports is a fixed simulated value, so what the engine decides never depends on the machine.
class HttpTransport final : public Transport {
 public:
  HttpTransport(int port, std::string token) : client_("127.0.0.1", port), token_(std::move(token)) {
    client_.set_keep_alive(true);
    client_.set_read_timeout(60, 0);
  }
  void set_token(std::string token) { token_ = std::move(token); }
  void set_observer(std::function<void(const Exchange&)> f) { observer_ = std::move(f); }
  int64_t latency_ms = 15;

  TransportResult Perform(const Action& action) override {
    TransportResult r;
    r.latency_ms = latency_ms;
    httplib::Headers headers;
    if (!token_.empty()) headers.emplace("Authorization", "Bearer " + token_);
    httplib::Result res =
        action.kind == Action::kPush   ? client_.Post("/sync/v1/push", headers, action.body, "application/json")
        : action.kind == Action::kPull ? client_.Post("/sync/v1/pull", headers, action.body, "application/json")
                                       : client_.Get("/sync/v1/health", headers);
    if (res) {
      r.http_status = res->status;
      r.body = res->body;
      if (res->has_header("Retry-After")) {
        const std::string v = res->get_header_value("Retry-After");
        if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos && v.size() < 9)
          r.retry_after_ms = std::stoll(v) * 1000;
      }
    }
    if (observer_) observer_(Exchange{action.kind, &action.body, &r});
    return r;
  }

 private:
  httplib::Client client_;
  std::string token_;
  std::function<void(const Exchange&)> observer_;
};

// One app install: storage that survives a killed worker, its Database, its SyncEngine and its clock. The
// clock is simulated: `now` moves only when the test (or RunUntilIdle, by the transport's latency and the
// engine's wake-ups) moves it.
class Device {
 public:
  Device(std::string name, SyncConfig config, std::string schema_sql, Transport* transport, int64_t now)
      : now(now), name_(std::move(name)), config_(std::move(config)), transport_(transport) {
    config_.client_id = name_;
    backend_ = std::make_unique<vfs::MemoryBackend>(8, false);
    status_ = Start();
    if (status_.ok()) {
      ExecResult r;
      status_ = db_->Exec(schema_sql, {}, &r);
    }
    if (status_.ok()) status_ = OpenEngine();
  }
  ~Device() {
    engine_.reset();
    db_.reset();
  }
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // OK unless the constructor or the last Crash() could not open the database or the engine.
  const Status& status() const { return status_; }
  const std::string& name() const { return name_; }
  Database& db() { return *db_; }
  SyncEngine& engine() { return *engine_; }
  vfs::MemoryBackend& backend() { return *backend_; }
  void set_transport(Transport* t) { transport_ = t; }

  // Runs app SQL at the device's time (capture triggers stamp it).
  Status Exec(const std::string& sql, const Params& params = {}) {
    engine_->SetTime(now);
    ExecResult r;
    return db_->Exec(sql, params, &r);
  }
  Status Query(const std::string& sql, std::vector<std::vector<Value>>* rows, const Params& params = {}) {
    QueryResult r;
    Status s = db_->Query(sql, params, &r);
    *rows = std::move(r.rows);
    return s;
  }

  // Asks the engine for its next action and, if it is a request, performs it and reports the result.
  Status Step(Action* action) {
    *action = engine_->Next(now);
    if (action->kind == Action::kIdle || action->kind == Action::kWait) return Status::OK();
    TransportResult r = transport_->Perform(*action);
    if (trace_)
      fprintf(stderr, "%s t=%lld %s -> %d %.200s\n", name_.c_str(), static_cast<long long>(now),
              action->kind == Action::kPush   ? "push"
              : action->kind == Action::kPull ? "pull"
                                              : "health",
              r.http_status, r.body.c_str());
    now += r.latency_ms;
    ++requests;
    return engine_->OnResult(action->request_id, r, now);
  }

  // Asks for a sync now (SyncNow: pending operations due at once, a pull, a probe) and serves every action
  // until the engine has nothing more to send: the outbox is empty and the pull is done, or what is left is
  // waiting for something a wait cannot bring (a token, a failed operation ahead on its entity) or for
  // longer than `horizon_ms` of simulated time.
  Status RunUntilIdle(int64_t at, int64_t horizon_ms = 10 * 60'000, int max_requests = 100'000) {
    now = std::max(now, at);
    engine_->SyncNow(now);
    const int64_t until = now + horizon_ms;
    int waits = 0;
    for (int i = 0; i < max_requests; ++i) {
      Action a;
      OUTPOST_STATUS_RETURN(Step(&a));
      if (a.kind == Action::kIdle) return Status::OK();
      if (a.kind == Action::kWait) {
        if (trace_)
          fprintf(stderr, "%s t=%lld wait until %lld, pending %lld\n", name_.c_str(), static_cast<long long>(now),
                  static_cast<long long>(a.wake_at_ms), static_cast<long long>(engine_->GetStatus().pending));
        if (engine_->GetStatus().pending == 0 || a.wake_at_ms > until || ++waits > 200) return Status::OK();
        now = std::max(now + 1, a.wake_at_ms);
      }
    }
    return Status::Error("INTERNAL",
                         name_ + ": the engine still had requests to send after " + std::to_string(max_requests));
  }

  // The worker is killed: every write that reached storage stays, the connection and the engine are gone,
  // and the next start opens both again (the engine requeues what was in flight).
  Status Crash() {
    auto image = backend_->KillImage();
    engine_.reset();
    db_.reset();
    vfs_.reset();
    backend_ = std::make_unique<vfs::MemoryBackend>(8, false);
    backend_->Restore(image);
    status_ = Start();
    if (status_.ok()) status_ = OpenEngine();
    return status_;
  }

  // Events since the last call, kept in `events` too.
  std::vector<Event> TakeEvents() {
    auto e = engine_->TakeEvents();
    events.insert(events.end(), e.begin(), e.end());
    return e;
  }
  int CountEvents(const std::string& name) {
    TakeEvents();
    int n = 0;
    for (const auto& e : events) n += e.name == name;
    return n;
  }

  std::vector<OutboxEntry> Outbox(std::optional<OpState> state = std::nullopt) {
    std::vector<OutboxEntry> out;
    (void)engine_->List(state, 1'000'000, &out);
    return out;
  }

  int64_t now;
  int64_t requests = 0;
  std::vector<Event> events;

 private:
  Status Start() {
    vfs_ = std::make_unique<vfs::SlotVfs>("integ-vfs-" + std::to_string(counter_++), backend_.get());
    OUTPOST_STATUS_RETURN(vfs_->Init());
    OpenOptions options;
    options.vfs = vfs_->name();
    options.durability = Durability::kRelaxed;
    return Database::Open("/app.db", options, &db_);
  }
  Status OpenEngine() {
    std::array<uint8_t, 32> seed{};
    const uint64_t h = std::hash<std::string>()(name_) ^ (0x9e3779b97f4a7c15ull * ++opens_);
    for (size_t i = 0; i < seed.size(); ++i)
      seed[i] = static_cast<uint8_t>(h >> (8 * (i % 8))) ^ static_cast<uint8_t>(i);
    return SyncEngine::Open(db_.get(), config_, now, seed, &engine_);
  }

  std::string name_;
  SyncConfig config_;
  Transport* transport_;
  Status status_;
  std::unique_ptr<vfs::MemoryBackend> backend_;
  std::unique_ptr<vfs::SlotVfs> vfs_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<SyncEngine> engine_;
  uint64_t opens_ = 0;
  const bool trace_ = std::getenv("OUTPOST_TRACE_DEVICES") != nullptr;  // every request and wait on stderr
  static inline int counter_ = 0;
};

}  // namespace outpost::integration

#undef OUTPOST_STATUS_RETURN

#endif  // OUTPOST_TESTS_ENGINE_TRANSPORT_H_
