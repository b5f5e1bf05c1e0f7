// Thin helpers over SQLite's C API for the sync engine: prepared statements kept for the engine's lifetime
// (capture runs on every tracked write, so nothing is prepared twice) and a guard that resets a statement
// when it goes out of scope, so the engine's statements can nest inside the app's (capture runs inside the
// app's INSERT). Internal to wasm/src.
#ifndef OUTPOST_SRC_SQL_UTIL_H_
#define OUTPOST_SRC_SQL_UTIL_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "outpost/status.h"
#include "outpost/value.h"
#include "sqlite3.h"

namespace outpost::sync {

// One use of a prepared statement: bind, step, read; reset on destruction.
class Stmt {
 public:
  // `owned`: finalized on destruction (a statement the cache does not keep).
  Stmt(sqlite3* db, sqlite3_stmt* stmt, Status error, bool owned = false)
      : db_(db), stmt_(stmt), status_(std::move(error)), owned_(owned) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() {
    if (stmt_ && owned_) {
      sqlite3_finalize(stmt_);
    } else if (stmt_) {
      sqlite3_reset(stmt_);
      // Not sqlite3_clear_bindings(): it expires statements whose plan looked at a parameter (SQLite then
      // re-prepares them on every use); NULLs bound one by one do not, and no value outlives its use.
      for (int i = sqlite3_bind_parameter_count(stmt_); i > 0; --i) sqlite3_bind_null(stmt_, i);
    }
  }

  Stmt& Bind(int i, const Value& v) {
    if (!status_.ok() || !stmt_) return *this;
    int rc;
    switch (v.index()) {
      case 0: rc = sqlite3_bind_null(stmt_, i); break;
      case 1: rc = sqlite3_bind_int64(stmt_, i, std::get<int64_t>(v)); break;
      case 2: rc = sqlite3_bind_double(stmt_, i, std::get<double>(v)); break;
      case 3:
        return Bind(i, std::string_view(std::get<std::string>(v)));
      default: {
        const auto& b = std::get<Blob>(v).bytes;
        rc = sqlite3_bind_blob64(stmt_, i, b.empty() ? "" : static_cast<const void*>(b.data()), b.size(),
                                 SQLITE_TRANSIENT);
      }
    }
    if (rc != SQLITE_OK) status_ = Status::FromSqlite(rc, sqlite3_errmsg(db_));
    return *this;
  }
  Stmt& Bind(int i, int64_t v) { return Bind(i, Value(v)); }
  // Text is copied by SQLite (SQLITE_TRANSIENT): the caller's string may die before the statement runs.
  Stmt& Bind(int i, std::string_view v) {
    if (!status_.ok() || !stmt_) return *this;
    int rc = sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    if (rc != SQLITE_OK) status_ = Status::FromSqlite(rc, sqlite3_errmsg(db_));
    return *this;
  }
  Stmt& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Stmt& BindNull(int i) { return Bind(i, Value()); }

  // True while there is a row; errors end the iteration and show in status().
  bool Step() {
    if (!status_.ok() || !stmt_) return false;
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) status_ = Status::FromSqlite(rc, sqlite3_errmsg(db_), sqlite3_sql(stmt_));
    return false;
  }
  // Runs to completion.
  Status Run() {
    while (Step()) {
    }
    return status_;
  }

  bool Null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
  int64_t Int(int i) const { return sqlite3_column_int64(stmt_, i); }
  std::string Text(int i) const {
    const char* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    return p ? std::string(p, sqlite3_column_bytes(stmt_, i)) : std::string();
  }
  Value Get(int i) const { return FromSqlite(sqlite3_column_value(stmt_, i)); }
  const Status& status() const { return status_; }

  static Value FromSqlite(sqlite3_value* v) {
    switch (sqlite3_value_type(v)) {
      case SQLITE_INTEGER: return sqlite3_value_int64(v);
      case SQLITE_FLOAT: return sqlite3_value_double(v);
      case SQLITE_TEXT: {
        const char* p = reinterpret_cast<const char*>(sqlite3_value_text(v));
        return std::string(p, sqlite3_value_bytes(v));
      }
      case SQLITE_BLOB: {
        const auto* p = static_cast<const uint8_t*>(sqlite3_value_blob(v));
        int n = sqlite3_value_bytes(v);
        return Blob{std::vector<uint8_t>(p, p + n)};
      }
      default: return std::monostate{};
    }
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  Status status_;
  bool owned_;
};

// Statements by SQL text, prepared once, finalized with the cache. Beyond kCapacity distinct texts (row
// writes of pulled changes vary with the columns they set) statements are prepared for one use.
class SqlCache {
 public:
  explicit SqlCache(sqlite3* db) : db_(db) {}
  ~SqlCache() { Clear(); }
  void Clear() {
    for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
    stmts_.clear();
  }
  static constexpr size_t kCapacity = 256;
  Stmt operator()(const std::string& sql) {
    auto it = stmts_.find(sql);
    if (it == stmts_.end()) {
      sqlite3_stmt* stmt = nullptr;
      const bool keep = stmts_.size() < kCapacity;
      int rc = sqlite3_prepare_v3(db_, sql.c_str(), -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
      if (rc != SQLITE_OK) return Stmt(db_, nullptr, Status::FromSqlite(rc, sqlite3_errmsg(db_), sql));
      if (!keep) return Stmt(db_, stmt, Status::OK(), /*owned=*/true);
      it = stmts_.emplace(sql, stmt).first;
    }
    return Stmt(db_, it->second, Status::OK());
  }
  // Runs SQL without results (several statements allowed), unprepared.
  Status Exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return Status::OK();
    Status s = Status::FromSqlite(rc, err ? err : sqlite3_errmsg(db_), sql);
    sqlite3_free(err);
    return s;
  }
  sqlite3* db() const { return db_; }

 private:
  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*> stmts_;
};

// Double-quoted SQL identifier.
inline std::string Quote(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace outpost::sync

#endif  // OUTPOST_SRC_SQL_UTIL_H_
