// drain_native: the outbox drain of bench/sync.mjs without a browser, to split a batch's time. The real
// engine (in-memory storage, relaxed durability) pushes N queued inserts to a real HttpServer over the SQLite
// store (a temp file, synchronous=FULL) on loopback, and the time per batch is split into Next (claim and
// encode), the request (server: HTTP, decode, store, encode), the store's Push alone, OnResult (decode and
// ack) and TakeEvents. Built on demand: `cmake --build build/native --target drain_native`.
//
//   drain_native [N=20000] [batch=500]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "auth.h"
#include "engine_transport.h"
#include "http_server.h"

namespace {

using namespace outpost;
using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Forwards to a store and adds up the time its pushes take.
class TimedStore final : public server::Store {
 public:
  explicit TimedStore(server::Store* inner) : inner_(inner) {}
  std::string name() const override { return inner_->name(); }
  Status Push(const server::Principal& who, const protocol::PushRequest& request, int64_t now_ms,
              protocol::PushResponse* response) override {
    auto t0 = Clock::now();
    Status s = inner_->Push(who, request, now_ms, response);
    push_ms += Ms(Clock::now() - t0);
    return s;
  }
  Status Pull(const server::Principal& who, const protocol::PullRequest& request, size_t page_size, int64_t now_ms,
              protocol::PullResponse* response) override {
    return inner_->Pull(who, request, page_size, now_ms, response);
  }
  Status PruneTombstones(int64_t now_ms) override { return inner_->PruneTombstones(now_ms); }
  Status Counts(std::map<std::string, int64_t>* counts) override { return inner_->Counts(counts); }
  double push_ms = 0;

 private:
  server::Store* inner_;
};

int Fail(const std::string& what, const Status& s) {
  fprintf(stderr, "drain_native: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  const int batch = argc > 2 ? std::atoi(argv[2]) : 500;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const auto dir = std::filesystem::temp_directory_path() / ("outpost_drain_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);

  server::Schema schema;
  Status s = server::Schema::FromJson(
      R"({"tables": {"notes": {"key": ["id"], "columns": ["title", "body", "updated"], "scope": "bench"}}})", &schema);
  if (!s.ok()) return Fail("schema", s);
  std::unique_ptr<server::Store> sqlite;
  s = server::OpenSqliteStore((dir / "store.db").string(), schema, server::StoreOptions{}, &sqlite);
  if (!s.ok()) return Fail("store", s);
  TimedStore store(sqlite.get());
  server::TokenAuthority auth("drain-bench-secret-0123456789abcdef0123");
  server::HttpOptions http;
  http.threads = 2;
  server::HttpServer srv(&store, &auth, http);
  if (s = srv.Start(); !s.ok()) return Fail("server", s);
  server::TokenClaims claims;
  claims.user = "bench";
  claims.device = "bench-device";
  claims.scopes = {"bench"};
  claims.issued_at_ms = now;
  claims.expires_at_ms = now + 3600'000;
  std::string token;
  if (s = auth.Issue(claims, &token); !s.ok()) return Fail("token", s);
  integration::HttpTransport transport(srv.port(), token);

  SyncConfig config;
  config.tables["notes"] = TrackedTable{{"id"}, merge::TablePolicy{}};
  config.batch_size = static_cast<size_t>(batch);
  config.pull_interval_ms = 0;
  config.paused = true;
  integration::Device device("bench-device", config,
                             "CREATE TABLE notes(id TEXT PRIMARY KEY, title TEXT, body TEXT, updated INTEGER)",
                             &transport, now);
  if (!device.status().ok()) return Fail("device", device.status());
  for (int i = 0; i < n; i += 500) {
    if (s = device.Exec("BEGIN"); !s.ok()) return Fail("begin", s);
    for (int j = i; j < std::min(n, i + 500); ++j) {
      s = device.Exec("INSERT INTO notes(id, title, body, updated) VALUES (?, ?, ?, ?)",
                      Params{{std::string("d") + std::to_string(j), "Note " + std::to_string(j),
                              "body " + std::to_string(j), int64_t{j}},
                             {}});
      if (!s.ok()) return Fail("insert", s);
    }
    if (s = device.Exec("COMMIT"); !s.ok()) return Fail("commit", s);
  }
  device.engine().SetPaused(false);

  double next_ms = 0, request_ms = 0, result_ms = 0, events_ms = 0;
  int pushes = 0;
  const auto start = Clock::now();
  for (;;) {
    auto t0 = Clock::now();
    Action a = device.engine().Next(device.now);
    auto t1 = Clock::now();
    if (a.kind != Action::kPush) break;
    TransportResult r = transport.Perform(a);
    auto t2 = Clock::now();
    if (s = device.engine().OnResult(a.request_id, r, device.now); !s.ok()) return Fail("result", s);
    auto t3 = Clock::now();
    (void)device.engine().TakeEvents();
    auto t4 = Clock::now();
    next_ms += Ms(t1 - t0);
    request_ms += Ms(t2 - t1);
    result_ms += Ms(t3 - t2);
    events_ms += Ms(t4 - t3);
    ++pushes;
    ++device.now;
  }
  const double total = Ms(Clock::now() - start);
  const int64_t pending = device.engine().GetStatus().pending;
  printf(
      "{\"ops\": %d, \"batch\": %d, \"pushes\": %d, \"pending\": %lld, \"ms\": %.0f, \"opsPerSec\": %.0f,\n"
      " \"perBatchMs\": {\"next\": %.2f, \"request\": %.2f, \"storePush\": %.2f, \"onResult\": %.2f, "
      "\"takeEvents\": %.2f}}\n",
      n, batch, pushes, static_cast<long long>(pending), total, n / total * 1000, next_ms / pushes,
      request_ms / pushes, store.push_ms / pushes, result_ms / pushes, events_ms / pushes);
  srv.Stop();
  std::filesystem::remove_all(dir);
  return pending == 0 ? 0 : 1;
}
