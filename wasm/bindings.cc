// The only Embind file: exposes one class, Connection, to the worker (js/engine-host.js). It converts JS
// values to outpost::Value and back, and turns every Status into a plain {error: {code, message, sql}} object,
// so no C++ exception or raw pointer crosses into JS.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <cmath>
#include <memory>
#include <string>

#include "memory_backend.h"
#include "opfs_backend.h"
#include "outpost/database.h"
#include "slot_vfs.h"

using emscripten::val;

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

Status ToValue(const val& v, Value* out) {
  const std::string type = v.typeOf().as<std::string>();
  if (v.isNull() || v.isUndefined()) {
    *out = std::monostate{};
  } else if (type == "number") {
    double d = v.as<double>();
    if (std::trunc(d) == d && std::fabs(d) <= kMaxSafeInteger)
      *out = static_cast<int64_t>(d);
    else
      *out = d;
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
  if (val::global("Array").call<bool>("isArray", params)) {
    const size_t n = params["length"].as<size_t>();
    out->positional.resize(n);
    for (size_t i = 0; i < n; ++i) {
      Status s = ToValue(params[i], &out->positional[i]);
      if (!s.ok()) return s;
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
    if (!db_) return val::object();
    Status s = db_->Close();
    db_.reset();
    vfs_.reset();
    backend_.reset();
    if (!s.ok()) return ErrorObject(s);
    return val::object();
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
  std::string path_;
  OpenOptions options_;
};

}  // namespace
}  // namespace outpost

EMSCRIPTEN_BINDINGS(outpost) {
  emscripten::class_<outpost::Connection>("Connection")
      .constructor<>()
      .function("open", &outpost::Connection::open)
      .function("exec", &outpost::Connection::exec)
      .function("query", &outpost::Connection::query)
      .function("inTransaction", &outpost::Connection::inTransaction)
      .function("exportBytes", &outpost::Connection::exportBytes)
      .function("importBytes", &outpost::Connection::importBytes)
      .function("close", &outpost::Connection::close)
      .function("files", &outpost::Connection::files);
}
