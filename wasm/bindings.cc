// The only Embind file: exposes one class, Connection, to the worker (js/engine-host.js). It converts JS
// values to outpost::Value and back, and turns every Status into a plain {error: {code, message, sql}} object,
// so no C++ exception or raw pointer crosses into JS.
#include <emscripten.h>
#include <emscripten/bind.h>
#include <emscripten/html5.h>
#include <emscripten/val.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "memory_backend.h"
#include "opfs_backend.h"
#include "outpost/database.h"
#include "outpost/sync_engine.h"
#include "slot_vfs.h"

using emscripten::val;

// Classifies a positional parameter array in one call, writing into WASM memory, instead of several emval
// operations per element (they were ~15% of a two-insert transaction's CPU): codes[i] is 0 for null or
// undefined, 1 for a number (its value in nums[i]), 2 for a string, 3 for anything else (ToValue decides).
// Returns the array's length, or -1 if `handle` is not an array. Elements from `cap` on are not classified.
EM_JS(int, outpost_classify_params, (emscripten::EM_VAL handle, uint8_t* codes, double* nums, int cap), {
  var a = Emval.toValue(handle);
  if (!Array.isArray(a)) return -1;
  for (var i = 0; i < a.length && i < cap; i++) {
    var v = a[i];
    if (v === null || v === undefined) HEAPU8[codes + i] = 0;
    else if (typeof v === 'number') {
      HEAPU8[codes + i] = 1;
      HEAPF64[(nums >> 3) + i] = v;
    } else HEAPU8[codes + i] = typeof v === 'string' ? 2 : 3;
  }
  return a.length;
});

namespace outpost {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

val ErrorObject(const Status& s, const std::string& vfs_detail = {}) {
  val error = val::object();
  error.set("code", s.code());
  std::string message = s.message();
  if (!vfs_detail.empty()) message += " (storage: " + vfs_detail + ")";
  error.set("message", message);
  if (!s.sql().empty()) error.set("sql", s.sql());
  if (s.sqlite_code()) error.set("sqliteCode", s.sqlite_code());
  val out = val::object();
  out.set("error", error);
  return out;
}

// A JS number: an integer when it is one within the safe range, else a double.
Value NumberValue(double d) {
  if (std::trunc(d) == d && std::fabs(d) <= kMaxSafeInteger) return static_cast<int64_t>(d);
  return d;
}

Status ToValue(const val& v, Value* out) {
  const std::string type = v.typeOf().as<std::string>();
  if (v.isNull() || v.isUndefined()) {
    *out = std::monostate{};
  } else if (type == "number") {
    *out = NumberValue(v.as<double>());
  } else if (type == "bigint") {
    // SQLite integers are 64-bit: a bigint that BigInt.asIntN(64) changes does not fit.
    if (!val::global("BigInt").call<val>("asIntN", 64, v).strictlyEquals(v))
      return Status::Error("INVALID_ARGUMENT",
                           "A bigint parameter is outside SQLite's 64-bit integer range; store it as text or a blob.");
    *out = v.as<int64_t>();
  } else if (type == "string") {
    *out = v.as<std::string>();
  } else if (type == "boolean") {
    *out = static_cast<int64_t>(v.as<bool>() ? 1 : 0);
  } else if (v.instanceof (val::global("Uint8Array"))) {
    Blob blob;
    blob.bytes.resize(v["length"].as<size_t>());
    val view(emscripten::typed_memory_view(blob.bytes.size(), blob.bytes.data()));
    view.call<void>("set", v);
    *out = std::move(blob);
  } else {
    return Status::Error("INVALID_ARGUMENT", "Unsupported parameter type '" + type +
                                                 "': use null, number, bigint, string, boolean or Uint8Array.");
  }
  return Status::OK();
}

Status ToParams(const val& params, Params* out) {
  if (params.isNull() || params.isUndefined()) return Status::OK();
  constexpr int kClassified = 32;
  uint8_t codes[kClassified];
  double nums[kClassified];
  const int count = outpost_classify_params(params.as_handle(), codes, nums, kClassified);
  if (count >= 0) {
    out->positional.resize(count);
    for (int i = 0; i < count; ++i) {
      Value& v = out->positional[i];
      const int code = i < kClassified ? codes[i] : 3;
      if (code == 0) {
        v = std::monostate{};
      } else if (code == 1) {
        v = NumberValue(nums[i]);
      } else if (code == 2) {
        v = params[i].as<std::string>();
      } else if (Status s = ToValue(params[i], &v); !s.ok()) {
        return s;
      }
    }
    return Status::OK();
  }
  if (params.typeOf().as<std::string>() != "object")
    return Status::Error("INVALID_ARGUMENT", "Parameters must be an array (for ?) or an object (for :name).");
  val keys = val::global("Object").call<val>("keys", params);
  const size_t n = keys["length"].as<size_t>();
  for (size_t i = 0; i < n; ++i) {
    std::string key = keys[i].as<std::string>();
    Value v;
    Status s = ToValue(params[key], &v);
    if (!s.ok()) return s;
    out->named.emplace_back(std::move(key), std::move(v));
  }
  return Status::OK();
}

val FromValue(const Value& v) {
  switch (v.index()) {
    case 0:
      return val::null();
    case 1: {
      int64_t i = std::get<int64_t>(v);
      if (std::fabs(static_cast<double>(i)) <= kMaxSafeInteger) return val(static_cast<double>(i));
      return val(i);  // BigInt (WASM_BIGINT): precision is never lost silently
    }
    case 2:
      return val(std::get<double>(v));
    case 3:
      return val(std::get<std::string>(v));
    default: {
      const auto& b = std::get<Blob>(v).bytes;
      return val(emscripten::typed_memory_view(b.size(), b.data())).call<val>("slice");
    }
  }
}

val ValuesObject(const std::map<std::string, Value>& values) {
  val out = val::object();
  for (const auto& [name, v] : values) out.set(name, FromValue(v));
  return out;
}

const char* ConnectivityName(Connectivity c) {
  switch (c) {
    case Connectivity::kOnline: return "online";
    case Connectivity::kDegraded: return "degraded";
    case Connectivity::kTransitioning: return "transitioning";
    default: return "offline";
  }
}

const char* OpStateName(OpState s) {
  switch (s) {
    case OpState::kPending: return "pending";
    case OpState::kInflight: return "inflight";
    case OpState::kDone: return "done";
    default: return "failed";
  }
}

bool ParseOpState(const std::string& name, OpState* out) {
  for (OpState s : {OpState::kPending, OpState::kInflight, OpState::kDone, OpState::kFailed}) {
    if (name == OpStateName(s)) {
      *out = s;
      return true;
    }
  }
  return false;
}

val StatusObject(const SyncStatus& st) {
  val out = val::object();
  out.set("connection", std::string(ConnectivityName(st.connection)));
  out.set("uploading", st.uploading);
  out.set("downloading", st.downloading);
  out.set("paused", st.paused);
  out.set("pending", static_cast<double>(st.pending));
  out.set("failed", static_cast<double>(st.failed));
  out.set("lastSyncedAt", st.last_synced_at_ms ? val(static_cast<double>(st.last_synced_at_ms)) : val::null());
  return out;
}

val EntryObject(const OutboxEntry& e) {
  const protocol::Operation& op = e.op;
  val out = val::object();
  out.set("id", op.id);
  out.set("kind", op.kind);
  out.set("state", std::string(OpStateName(e.state)));
  out.set("priority", std::string(protocol::PriorityName(op.priority)));
  if (op.is_row_op()) {
    out.set("table", op.table);
    out.set("key", ValuesObject(op.key));
    std::map<std::string, Value> columns;
    for (const auto& [name, cv] : op.columns) columns.emplace(name, cv.value);
    out.set("columns", ValuesObject(columns));
  } else {
    out.set("entity", op.entity);
    if (!op.target.empty()) out.set("target", op.target);
    if (!op.payload.empty()) out.set("payload", val::global("JSON").call<val>("parse", op.payload));
  }
  out.set("attempts", e.attempts);
  out.set("createdAt", static_cast<double>(e.created_ms));
  if (e.state == OpState::kPending && e.next_attempt_ms) out.set("nextAttemptAt", static_cast<double>(e.next_attempt_ms));
  if (!e.error_code.empty()) {
    val error = val::object();
    error.set("code", e.error_code);
    error.set("message", e.error_message);
    out.set("error", error);
  }
  return out;
}

class Connection {
 public:
  // options: {storage: 'opfs' | 'memory', pool, slots, durability: 'full' | 'relaxed', pageSize, cacheSizeKiB}
  val open(const std::string& path, const val& options) {
    if (db_) return ErrorObject(Status::Error("INVALID_STATE", "This connection is already open."));
    const std::string storage = options["storage"].as<std::string>();
    const int slots = options["slots"].as<int>();
    static int counter = 0;
    const std::string vfs_name = "outpost-" + std::to_string(++counter);
    if (storage == "memory")
      backend_ = std::make_unique<vfs::MemoryBackend>(slots);
    else
      backend_ = std::make_unique<vfs::OpfsBackend>(options["pool"].as<int>(), slots);
    vfs_ = std::make_unique<vfs::SlotVfs>(vfs_name, backend_.get());
    Status s = vfs_->Init();
    if (!s.ok()) return ErrorObject(s);
    path_ = path;
    options_.vfs = vfs_name;
    options_.durability =
        options["durability"].as<std::string>() == "relaxed" ? Durability::kRelaxed : Durability::kFull;
    if (!options["pageSize"].isUndefined()) options_.page_size = options["pageSize"].as<int>();
    if (!options["cacheSizeKiB"].isUndefined()) options_.cache_size_kib = options["cacheSizeKiB"].as<int>();
    s = Database::Open(path_, options_, &db_);
    if (!s.ok()) return Fail(s);
    return val::object();
  }

  val exec(const std::string& sql, const val& params) {
    if (!db_) return Closed(sql);
    StampTime();
    Params p;
    Status s = ToParams(params, &p);
    if (!s.ok()) return ErrorObject(Status::Error(s.code(), s.message(), sql));
    ExecResult r;
    s = db_->Exec(sql, p, &r);
    if (!s.ok()) return Fail(s);
    val out = val::object();
    out.set("changes", static_cast<double>(r.changes));
    out.set("lastInsertRowId", FromValue(r.last_insert_rowid));
    return out;
  }

  // Rows come back as plain objects keyed by column name.
  val query(const std::string& sql, const val& params) {
    if (!db_) return Closed(sql);
    StampTime();
    Params p;
    Status s = ToParams(params, &p);
    if (!s.ok()) return ErrorObject(Status::Error(s.code(), s.message(), sql));
    QueryResult r;
    s = db_->Query(sql, p, &r);
    if (!s.ok()) return Fail(s);
    std::vector<val> names;
    names.reserve(r.columns.size());
    for (const auto& c : r.columns) names.emplace_back(c);
    val rows = val::array();
    for (size_t i = 0; i < r.rows.size(); ++i) {
      val row = val::object();
      for (size_t c = 0; c < names.size(); ++c) row.set(names[c], FromValue(r.rows[i][c]));
      rows.set(i, row);
    }
    val out = val::object();
    out.set("rows", rows);
    return out;
  }

  bool inTransaction() const { return db_ && db_->InTransaction(); }

  val exportBytes() {
    if (!db_) return Closed("");
    std::vector<uint8_t> bytes;
    Status s = db_->Export(&bytes);
    if (!s.ok()) return Fail(s);
    val out = val::object();
    out.set("bytes", val(emscripten::typed_memory_view(bytes.size(), bytes.data())).call<val>("slice"));
    return out;
  }

  // Replaces the database with `bytes` (a plain SQLite file). Invalid input changes nothing.
  val importBytes(const val& bytes) {
    if (!db_) return Closed("");
    if (db_->InTransaction())
      return ErrorObject(Status::Error("INVALID_STATE", "Finish the open transaction before import()."));
    // The sync engine holds this connection (its capture hooks live in it, its state in memory): swapping
    // the file under it would leave it on a closed connection and the new file's writes uncaptured.
    if (sync_)
      return ErrorObject(Status::Error("INVALID_STATE",
                                       "import() cannot replace a database the sync engine is running on. Close "
                                       "it, open it without the sync option, import, then open it with sync again."));
    Value v;
    Status s = ToValue(bytes, &v);
    if (!s.ok() || v.index() != 4)
      return ErrorObject(Status::Error("INVALID_ARGUMENT", "import() takes the database file as a Uint8Array."));
    std::vector<uint8_t>& image = std::get<Blob>(v).bytes;
    s = Database::ValidateImage(image);
    if (!s.ok()) return ErrorObject(s);
    image[18] = image[19] = 1;  // the reopened connection switches it to WAL itself
    s = db_->Close();
    if (!s.ok()) return Fail(s);
    db_.reset();
    Status replaced = vfs_->ReplaceFile(path_, image);
    s = Database::Open(path_, options_, &db_);
    if (!replaced.ok()) return ErrorObject(replaced);
    if (!s.ok()) return Fail(s);
    return val::object();
  }

  val close() {
    sync_.reset();
    if (!db_) return val::object();
    Status s = db_->Close();
    db_.reset();
    vfs_.reset();
    backend_.reset();
    if (!s.ok()) return ErrorObject(s);
    return val::object();
  }

  // ---- Sync (sync_engine.h). The worker's sync loop (js/sync-loop.js) drives these. ----

  // config: SyncConfig JSON (docs/sync.md); seed: 32 random bytes (Uint8Array) for operation ids.
  val syncOpen(const std::string& config_json, double now, const val& seed_bytes) {
    if (!db_) return Closed("");
    if (sync_) return ErrorObject(Status::Error("INVALID_STATE", "Sync is already started on this connection."));
    SyncConfig config;
    Status s = SyncConfig::FromJson(config_json, &config);
    if (!s.ok()) return ErrorObject(s);
    Value seed;
    s = ToValue(seed_bytes, &seed);
    if (!s.ok() || seed.index() != 4 || std::get<Blob>(seed).bytes.size() != 32)
      return ErrorObject(Status::Error("INVALID_ARGUMENT", "syncOpen needs 32 random bytes."));
    std::span<const uint8_t, 32> seed_span(std::get<Blob>(seed).bytes.data(), 32);
    s = SyncEngine::Open(db_.get(), config, Ms(now), seed_span, &sync_);
    if (!s.ok()) return Fail(s);
    return val::object();
  }

  // App SQL runs at the wall-clock time: capture stamps HLCs and op ids with it. Read here, in the
  // I/O layer, once per call (the sans-IO engine never reads a clock).
  void StampTime() {
    if (sync_) sync_->SetTime(Ms(emscripten_date_now()));
  }

  // op: {kind, target?, entity?, priority?, payload? (JSON text)}; the engine validates the values.
  val syncEnqueue(const val& op_in, double now) {
    if (!sync_) return NotSynced();
    CustomOperation op;
    auto text = [&](const char* field, std::string* out) {
      val v = op_in[field];
      if (v.isUndefined() || v.isNull()) return true;
      if (v.typeOf().as<std::string>() != "string") return false;
      *out = v.as<std::string>();
      return true;
    };
    std::string priority = "normal";
    if (!text("kind", &op.kind) || !text("target", &op.target) || !text("entity", &op.entity) ||
        !text("payload", &op.payload) || !text("priority", &priority))
      return ErrorObject(Status::Error("INVALID_ARGUMENT",
                                       "An operation's kind, target, entity and priority must be strings."));
    bool known = false;
    for (auto p : {protocol::Priority::kCritical, protocol::Priority::kHigh, protocol::Priority::kNormal,
                   protocol::Priority::kLow}) {
      if (priority == protocol::PriorityName(p)) {
        op.priority = p;
        known = true;
      }
    }
    if (!known)
      return ErrorObject(Status::Error("INVALID_ARGUMENT",
                                       "priority must be 'critical', 'high', 'normal' or 'low'."));
    std::string id;
    Status s = sync_->Enqueue(op, Ms(now), &id);
    if (!s.ok()) return Fail(s);
    val out = val::object();
    out.set("id", id);
    return out;
  }

  val syncNext(double now) {
    if (!sync_) return NotSynced();
    Action a = sync_->Next(Ms(now));
    static const char* const kKinds[] = {"idle", "wait", "push", "pull", "heartbeat"};
    val out = val::object();
    out.set("kind", std::string(kKinds[a.kind]));
    out.set("requestId", static_cast<double>(a.request_id));
    if (!a.body.empty()) out.set("body", a.body);
    if (a.kind == Action::kWait) out.set("wakeAt", static_cast<double>(a.wake_at_ms));
    return out;
  }

  // result: {httpStatus, timedOut, body, retryAfterMs (null or ms), latencyMs}
  val syncOnResult(double request_id, const val& result, double now) {
    if (!sync_) return NotSynced();
    TransportResult r;
    r.http_status = result["httpStatus"].as<int>();
    r.timed_out = result["timedOut"].as<bool>();
    r.body = result["body"].as<std::string>();
    val retry_after = result["retryAfterMs"];
    if (!retry_after.isNull() && !retry_after.isUndefined()) r.retry_after_ms = Ms(retry_after.as<double>());
    r.latency_ms = Ms(result["latencyMs"].as<double>());
    Status s = sync_->OnResult(static_cast<int64_t>(request_id), r, Ms(now));
    if (!s.ok()) return Fail(s);
    return val::object();
  }

  void syncHint(bool online, double now) {
    if (sync_) sync_->OnOnlineHint(online, Ms(now));
  }
  void syncNow(double now) {
    if (sync_) sync_->SyncNow(Ms(now));
  }
  void syncSetPaused(bool paused) {
    if (sync_) sync_->SetPaused(paused);
  }
  void syncSetToken(bool present) {
    if (sync_) sync_->SetToken(present);
  }

  val syncStatus() {
    if (!sync_) return NotSynced();
    return StatusObject(sync_->GetStatus());
  }

  val syncList(const std::string& state, double limit) {
    if (!sync_) return NotSynced();
    std::optional<OpState> filter;
    if (!state.empty()) {
      OpState st;
      if (!ParseOpState(state, &st))
        return ErrorObject(Status::Error("INVALID_ARGUMENT",
                                         "list({state}) takes 'pending', 'inflight', 'done' or 'failed'."));
      filter = st;
    }
    std::vector<OutboxEntry> entries;
    Status s = sync_->List(filter, limit > 0 ? static_cast<size_t>(limit) : 100, &entries);
    if (!s.ok()) return Fail(s);
    val list = val::array();
    for (size_t i = 0; i < entries.size(); ++i) list.set(i, EntryObject(entries[i]));
    val out = val::object();
    out.set("entries", list);
    return out;
  }

  val syncRetry(const std::string& id, double now) {
    if (!sync_) return NotSynced();
    Status s = sync_->Retry(id, Ms(now));
    return s.ok() ? val::object() : Fail(s);
  }

  val syncDiscard(const std::string& id, double now) {
    if (!sync_) return NotSynced();
    Status s = sync_->Discard(id, Ms(now));
    return s.ok() ? val::object() : Fail(s);
  }

  val syncStats() {
    if (!sync_) return NotSynced();
    OutboxStats st;
    Status s = sync_->Stats(&st);
    if (!s.ok()) return Fail(s);
    val out = val::object();
    out.set("pending", static_cast<double>(st.pending));
    out.set("inflight", static_cast<double>(st.inflight));
    out.set("failed", static_cast<double>(st.failed));
    out.set("done", static_cast<double>(st.done));
    out.set("bytes", static_cast<double>(st.bytes));
    return out;
  }

  // {conflicts: [...]} as the `conflict` event describes each one (docs/sync.md).
  val conflictsList() {
    if (!sync_) return NotSynced();
    std::string json;
    Status s = sync_->ListConflicts(&json);
    if (!s.ok()) return Fail(s);
    val out = val::object();
    out.set("conflicts", val::global("JSON").call<val>("parse", json));
    return out;
  }

  // Forgets a conflict after the caller wrote the user's choice (in the same transaction).
  val conflictsDrop(const std::string& id) {
    if (!sync_) return NotSynced();
    Status s = sync_->DropConflict(id);
    return s.ok() ? val::object() : Fail(s);
  }

  // [{name, detail}] with detail parsed from the engine's JSON.
  val syncEvents() {
    val out = val::array();
    if (!sync_) return out;
    val json = val::global("JSON");
    auto events = sync_->TakeEvents();
    for (size_t i = 0; i < events.size(); ++i) {
      val e = val::object();
      e.set("name", events[i].name);
      e.set("detail", events[i].json.empty() ? val::null() : json.call<val>("parse", events[i].json));
      out.set(i, e);
    }
    return out;
  }

  // Diagnostics for tests and the status UI: which files occupy the pool.
  val files() const {
    val out = val::array();
    if (vfs_) {
      auto names = vfs_->FileNames();
      for (size_t i = 0; i < names.size(); ++i) out.set(i, names[i]);
    }
    return out;
  }

 private:
  static int64_t Ms(double t) { return static_cast<int64_t>(t); }
  static val NotSynced() {
    return ErrorObject(Status::Error(
        "NOT_SYNCED", "This database was opened without sync; pass open(name, { sync: { url, token, tables } })."));
  }
  val Closed(const std::string& sql) {
    return ErrorObject(Status::Error("DB_CLOSED", "The database is closed; call open() again.", sql));
  }
  // Storage errors carry the VFS's own reason (quota, pool full) in their message.
  val Fail(const Status& s) {
    const std::string& code = s.code();
    bool storage = code == "SQLITE_FULL" || code == "SQLITE_IOERR" || code == "SQLITE_CANTOPEN";
    return ErrorObject(s, storage && vfs_ ? vfs_->LastError() : std::string());
  }

  std::unique_ptr<vfs::SlotBackend> backend_;
  std::unique_ptr<vfs::SlotVfs> vfs_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<SyncEngine> sync_;  // declared after db_: destroyed before the connection it uses
  std::string path_;
  OpenOptions options_;
};

}  // namespace
}  // namespace outpost

EMSCRIPTEN_BINDINGS(outpost) {
  // clang-format off
  emscripten::class_<outpost::Connection>("Connection")
      .constructor<>()
      .function("open", &outpost::Connection::open)
      .function("exec", &outpost::Connection::exec)
      .function("query", &outpost::Connection::query)
      .function("inTransaction", &outpost::Connection::inTransaction)
      .function("exportBytes", &outpost::Connection::exportBytes)
      .function("importBytes", &outpost::Connection::importBytes)
      .function("close", &outpost::Connection::close)
      .function("files", &outpost::Connection::files)
      .function("syncOpen", &outpost::Connection::syncOpen)
      .function("syncEnqueue", &outpost::Connection::syncEnqueue)
      .function("syncNext", &outpost::Connection::syncNext)
      .function("syncOnResult", &outpost::Connection::syncOnResult)
      .function("syncHint", &outpost::Connection::syncHint)
      .function("syncNow", &outpost::Connection::syncNow)
      .function("syncSetPaused", &outpost::Connection::syncSetPaused)
      .function("syncSetToken", &outpost::Connection::syncSetToken)
      .function("syncStatus", &outpost::Connection::syncStatus)
      .function("syncList", &outpost::Connection::syncList)
      .function("syncRetry", &outpost::Connection::syncRetry)
      .function("syncDiscard", &outpost::Connection::syncDiscard)
      .function("syncStats", &outpost::Connection::syncStats)
      .function("conflictsList", &outpost::Connection::conflictsList)
      .function("conflictsDrop", &outpost::Connection::conflictsDrop)
      .function("syncEvents", &outpost::Connection::syncEvents);
  // clang-format on
}
