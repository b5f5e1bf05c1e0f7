// SyncEngine: the client's durable outbox and sync logic, sans-IO. It lives beside one Database (same
// connection, same transactions) and decides what to send and when; the worker's JS (js/sync-loop.js) does
// fetch, timers and navigator.onLine, and hands every result back. Nothing here reads a clock, a random
// source or the network: time and random bytes come in as arguments, so every rule is tested natively with
// a simulated clock and a fake transport (tests/sync_engine_test.cc, tests/sync_sim_test.cc).
//
// Invariants:
//  - Persist before send: an operation exists only as a row of the outbox table, written in the same SQLite
//    transaction as the change it describes (capture of tracked tables: capture.cc; Enqueue inside the
//    caller's transaction). A push batch is built only from committed rows.
//  - Nothing is dropped silently: an operation leaves `pending` only for `inflight`, `done` (applied or
//    duplicate), or `failed` (a permanent rejection, with the server's code and message, or an explicit
//    Discard()). Done operations are pruned after the retention; failed ones stay until retried/discarded.
//  - Per-entity order: an operation is sent only when every earlier operation on its entity (table + key,
//    or the custom entity) is done; a failed one blocks the later ones on that entity, visibly.
//  - Operation ids are UUIDv7, stable across retries and restarts (the idempotency key).
//  - Every state change of an operation is one SQLite transaction (crash-safe at any point): an `inflight`
//    operation found at Open (the worker died) or past the inflight timeout returns to `pending`.
//  - The engine's own writes (claims, results, pulled changes) never run inside the app's transaction: Next()
//    waits and OnResult() refuses (INVALID_STATE) while one is open, so a rollback of the app's transaction
//    can never undo what the engine recorded. Its writes to tracked tables are not captured.
//  - Capture lives in this connection (SQLite's preupdate hook and the Database's WriteObserver): nothing in
//    the database file depends on the engine. A write to a tracked table that cannot be recorded (a NULL
//    key, OUTBOX_FULL, ...) fails and rolls back the whole transaction it ran in.
//
// docs/sync.md documents the JSON config, the tables, the lifecycle, the SQL functions and the events.
#ifndef OUTPOST_SYNC_ENGINE_H_
#define OUTPOST_SYNC_ENGINE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "outpost/backoff.h"       // RetryPolicy
#include "outpost/connectivity.h"  // Connectivity
#include "outpost/database.h"
#include "outpost/merge.h"
#include "outpost/protocol.h"
#include "outpost/status.h"

namespace outpost {

struct TrackedTable {
  std::vector<std::string> key;  // primary-key columns (client-generated ids are canonical)
  merge::TablePolicy policy;
};

// Everything open({sync: ...}) configures (docs/sync.md documents the JSON form parsed by FromJson).
struct SyncConfig {
  std::string client_id;  // device id; generated and persisted on first open if empty
  std::map<std::string, TrackedTable> tables;
  std::vector<std::string> scopes;      // pulled scopes; empty: all the token allows
  bool paused = false;                  // start paused (SetPaused(false) resumes)
  int64_t pull_interval_ms = 60'000;    // periodic pull while idle; 0: only after pushes and hints
  RetryPolicy retry;
  size_t batch_size = 500;              // operations per push request
  // Push requests in flight at once (1..4). Each batch holds no entity of another batch in flight (an op
  // waits for the earlier ops of its entity to be done), so batches may be answered in any order; pulls and
  // heartbeats wait while more than one push may be in flight.
  size_t max_inflight_pushes = 2;
  size_t pull_page_size = 1000;
  size_t max_outbox_ops = 100'000;      // pending + inflight + failed; beyond: OUTBOX_FULL
  size_t max_outbox_bytes = 64 << 20;
  int64_t inflight_timeout_ms = 60'000;
  int64_t request_timeout_ms = 30'000;  // what the transport enforces; the engine treats it as a failure
  int64_t done_retention_ms = 24 * 3600'000;
  int64_t transitioning_ms = 5'000;     // brief drops absorbed before `offline`
  int64_t heartbeat_online_ms = 30'000;
  int64_t heartbeat_offline_min_ms = 2'000;  // grows (x2, jittered) up to heartbeat_offline_max_ms
  int64_t heartbeat_offline_max_ms = 60'000;
  int64_t degraded_latency_ms = 2'000;  // slower successful requests mean `degraded`
  int64_t stale_after_ms = 7 * 24 * 3600'000;  // offline longer: `stale` event before pushing
  int64_t max_drift_ms = 5 * 60'000;

  // Parses the JSON form; `url` and `token` are accepted and ignored (the JS transport keeps them).
  static Status FromJson(const std::string& json, SyncConfig* out);  // INVALID_ARGUMENT naming the field
};

enum class OpState { kPending, kInflight, kDone, kFailed };

struct SyncStatus {
  Connectivity connection = Connectivity::kOffline;
  bool uploading = false;
  bool downloading = false;
  bool paused = false;
  int64_t pending = 0;  // pending + inflight
  int64_t failed = 0;
  int64_t last_synced_at_ms = 0;  // 0: never
};

// Counts over the outbox (db.outbox.stats()).
struct OutboxStats {
  int64_t pending = 0, inflight = 0, failed = 0, done = 0;
  int64_t bytes = 0;  // bytes of the operations not done (what max_outbox_bytes bounds)
};

// One outbox row, as list() shows it.
struct OutboxEntry {
  protocol::Operation op;
  OpState state = OpState::kPending;
  int attempts = 0;
  int64_t next_attempt_ms = 0;
  int64_t created_ms = 0;
  std::string error_code, error_message;  // failed: the server's reason
};

// A custom operation for Enqueue (kind "namespace.name", e.g. "http.post").
struct CustomOperation {
  std::string kind;
  std::string entity;   // ordering key; default: the kind
  std::string target;
  std::string payload;  // JSON text
  protocol::Priority priority = protocol::Priority::kNormal;
};

// What the transport should do next.
struct Action {
  enum Kind { kIdle, kWait, kPush, kPull, kHeartbeat } kind = kIdle;
  int64_t request_id = 0;    // kPush/kPull/kHeartbeat: pass back with the result
  std::string body;          // kPush/kPull: the JSON request body (protocol codec)
  int64_t wake_at_ms = 0;    // kWait: call Next again at this time (or earlier on a hint)
};

// A request's result as the transport saw it.
struct TransportResult {
  int http_status = 0;            // 0: no HTTP answer (network error, timeout, aborted)
  bool timed_out = false;
  std::string body;               // response body (decompressed)
  std::optional<int64_t> retry_after_ms;  // from Retry-After
  int64_t latency_ms = 0;
};

// Something the app should hear about; drained by TakeEvents().
struct Event {
  // "status", "op-failed", "synced", "auth-required", "conflict", "stale", "change", "clock-drift"
  std::string name;
  std::string json;  // the event's detail as JSON
};

class SyncEngine {
 public:
  // Creates the engine's tables if needed (_outpost_outbox, _outpost_meta, _outpost_rows,
  // _outpost_conflicts), registers the SQL functions outpost_sync_state(table, key...) and
  // outpost_key(table, key...) and the capture hooks on `db`, restores the HLC and
  // op-id generator from the persisted state, and requeues operations left inflight. `seed` (32 random
  // bytes) seeds op-id randomness and jitter. INVALID_ARGUMENT if a tracked table exists without its
  // configured key or policy columns; INVALID_STATE inside a transaction. `db` must outlive the engine.
  static Status Open(Database* db, const SyncConfig& config, int64_t now_ms, std::span<const uint8_t, 32> seed,
                     std::unique_ptr<SyncEngine>* out);
  virtual ~SyncEngine() = default;

  // The current time for what SQL does next (capture stamps HLCs and op ids with it). The worker calls it
  // before every statement batch.
  virtual void SetTime(int64_t now_ms) = 0;

  // Records a custom operation in the current transaction (or its own if none). OUTBOX_FULL when full.
  virtual Status Enqueue(const CustomOperation& op, int64_t now_ms, std::string* id) = 0;

  // The next thing to do. Never returns two requests of the same kind in flight at once (a push, a pull and
  // a heartbeat may be in flight together): call Next again after every OnResult and at wake_at_ms. While
  // the app's transaction is open it returns kWait (call again when it has ended).
  virtual Action Next(int64_t now_ms) = 0;
  // INVALID_STATE while the app's transaction is open (deliver the result after it ended). A result for a
  // request the engine no longer waits for (it timed out) is ignored: OK.
  virtual Status OnResult(int64_t request_id, const TransportResult& result, int64_t now_ms) = 0;

  // Hints: navigator.onLine changes, the service worker's `sync` event, db.sync.now() (resets backoff
  // of pending operations and probes at once).
  virtual void OnOnlineHint(bool online, int64_t now_ms) = 0;
  virtual void SyncNow(int64_t now_ms) = 0;
  virtual void SetPaused(bool paused) = 0;
  virtual void SetToken(bool present) = 0;  // false after a 401 until the app gives a new token

  virtual SyncStatus GetStatus() const = 0;
  virtual Status Stats(OutboxStats* out) = 0;
  virtual Status List(std::optional<OpState> state, size_t limit, std::vector<OutboxEntry>* out) = 0;
  virtual Status Retry(const std::string& id, int64_t now_ms) = 0;    // failed → pending
  virtual Status Discard(const std::string& id, int64_t now_ms) = 0;  // explicit user action only
  virtual std::vector<Event> TakeEvents() = 0;

  // Manual conflicts: a JSON array of the `conflict` event's objects, oldest first. DropConflict removes one
  // after the app wrote its choice (an ordinary write to the tracked table); NOT_FOUND for an unknown id.
  virtual Status ListConflicts(std::string* json) = 0;
  virtual Status DropConflict(const std::string& id) = 0;
};

}  // namespace outpost

#endif  // OUTPOST_SYNC_ENGINE_H_
