// The embedded Store: one SQLite file in WAL mode, for a single server process (or a few sharing the file).
// It moves the generic rows of store_core.h in and out; every decision is made in store.cc.
//
// Choices:
//  - synchronous=FULL: a push answered `applied` makes the client delete the operation from its outbox, so
//    the commit must survive power loss before the answer leaves. With WAL, NORMAL may lose the last
//    transactions on power loss, and those operations would then exist nowhere. FULL costs one fsync of the
//    WAL per push batch (not per operation: a batch is one transaction).
//  - Pushes take BEGIN IMMEDIATE: the write lock is held from the first read, so the version counter read
//    when the batch reserves its versions is still the highest when it commits, and versions commit in
//    order (also across processes sharing the file). busy_timeout makes a second writer wait instead of
//    failing at once.
//  - One connection behind a mutex: the HTTP server may call from several threads, and SQLite serializes
//    writers anyway. Pulls wait for a running push; they are short (one indexed range scan).
#include <sqlite3.h>

#include <mutex>

#include "store_core.h"

namespace outpost::server {
namespace {

using core::ChangeRow;
using core::LoggedOp;
using core::PullSnapshot;
using core::PushWrites;
using core::RowRef;
using core::StoredRow;

const char* const kSetup[] = {
    "CREATE TABLE IF NOT EXISTS outpost_meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT OR IGNORE INTO outpost_meta(name, value) VALUES ('format', 1), ('version', 0), ('pruned_version', 0)",
    "CREATE TABLE IF NOT EXISTS outpost_rows(tbl TEXT NOT NULL, key_json TEXT NOT NULL, scope TEXT NOT NULL, "
    "version INTEGER NOT NULL, deleted INTEGER NOT NULL, delete_hlc TEXT NOT NULL, live_hlc TEXT NOT NULL, "
    "columns_json TEXT NOT NULL, changed_ms INTEGER NOT NULL, PRIMARY KEY (tbl, key_json))",
    "CREATE UNIQUE INDEX IF NOT EXISTS outpost_rows_version ON outpost_rows(version)",
    "CREATE INDEX IF NOT EXISTS outpost_rows_scope ON outpost_rows(scope, version)",
    "CREATE INDEX IF NOT EXISTS outpost_rows_tombstones ON outpost_rows(changed_ms) WHERE deleted",
    "CREATE TABLE IF NOT EXISTS outpost_oplog(op_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, "
    "user_id TEXT NOT NULL, outcome_json TEXT NOT NULL, created_ms INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS outpost_custom_ops(op_id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "entity TEXT NOT NULL, target TEXT NOT NULL, payload TEXT NOT NULL, client_id TEXT NOT NULL, "
    "user_id TEXT NOT NULL, version INTEGER NOT NULL, created_ms INTEGER NOT NULL)",
};

// A failed SQLite call as a store Status: lock timeouts, I/O errors and a full disk are UNAVAILABLE (the
// client retries later); anything else is a bug or a damaged file (INTERNAL).
Status StoreError(sqlite3* db, int rc, const std::string& sql) {
  const int primary = rc & 0xff;
  const bool transient = primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_IOERR ||
                         primary == SQLITE_FULL || primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY ||
                         primary == SQLITE_NOMEM;
  const std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return Status::Error(transient ? "UNAVAILABLE" : "INTERNAL",
                       std::string("SQLite store: ") + SqliteCodeName(rc) + ": " + detail +
                           (transient ? "; retry later." : "; check the server log and the database file."),
                       sql, rc);
}

// A prepared statement, reset on destruction so the cached handle can be reused.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Stmt() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  // SQLITE_ROW: *row = true; SQLITE_DONE: *row = false.
  Status Step(bool* row = nullptr) {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
      if (row != nullptr) *row = rc == SQLITE_ROW;
      return Status::OK();
    }
    return StoreError(db_, rc, sqlite3_sql(stmt_));
  }
  std::string Text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col));
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class SqliteStore final : public Store, private core::PushTxn, private core::PullReader {
 public:
  SqliteStore(const Schema& schema, const StoreOptions& options) : schema_(schema), options_(options) {}
  ~SqliteStore() override {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  Status Open(const std::string& path) {
    int rc =
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      return Status::Error("UNAVAILABLE", "Cannot open the SQLite store \"" + path +
                                              "\": " + (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)) +
                                              "; check the path and its permissions.");
    }
    sqlite3_busy_timeout(db_, options_.busy_timeout_ms);
    OUTPOST_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
    OUTPOST_RETURN_IF_ERROR(Exec("PRAGMA synchronous=FULL"));
    OUTPOST_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status s;
    for (const char* sql : kSetup) {
      if (s = Exec(sql); !s.ok()) break;
    }
    int64_t format = 0;
    if (s.ok()) s = Meta("format", &format);
    if (s.ok() && format != core::kStoreFormat) {
      s = Status::Error("FAILED_PRECONDITION", "The SQLite store \"" + path + "\" has format " +
                                                   std::to_string(format) + "; this server reads format " +
                                                   std::to_string(core::kStoreFormat) + ". Use a matching server.");
    }
    if (!s.ok()) {
      Exec("ROLLBACK");
      return s;
    }
    return Exec("COMMIT");
  }

  std::string name() const override { return "sqlite"; }

  Status Push(const Principal& who, const protocol::PushRequest& request, int64_t now_ms,
              protocol::PushResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    OUTPOST_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status s = core::RunPush(schema_, options_, who, request, now_ms, this, response);
    if (s.ok()) s = Exec("COMMIT");
    if (!s.ok()) {
      Exec("ROLLBACK");
      response->results.clear();
    }
    return s;
  }

  Status Pull(const Principal& who, const protocol::PullRequest& request, size_t page_size, int64_t,
              protocol::PullResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    return core::RunPull(who, request, page_size, this, response);
  }

  Status PruneTombstones(int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    OUTPOST_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status s = PruneLocked(now_ms - options_.tombstone_retention_ms);
    if (s.ok()) s = Exec("COMMIT");
    if (!s.ok()) Exec("ROLLBACK");
    return s;
  }

  Status Counts(std::map<std::string, int64_t>* counts) override {
    std::lock_guard<std::mutex> lock(mu_);
    const std::pair<const char*, const char*> queries[] = {
        {"changes", "SELECT count(*) FROM outpost_rows"},
        {"tombstones", "SELECT count(*) FROM outpost_rows WHERE deleted"},
        {"ops", "SELECT count(*) FROM outpost_oplog"},
        {"custom_ops", "SELECT count(*) FROM outpost_custom_ops"},
        {"version", "SELECT value FROM outpost_meta WHERE name = 'version'"},
    };
    for (const auto& [name, sql] : queries) {
      Stmt q = Prepare(sql);
      bool row = false;
      OUTPOST_RETURN_IF_ERROR(Check());
      OUTPOST_RETURN_IF_ERROR(q.Step(&row));
      (*counts)[name] = row ? q.Int(0) : 0;
    }
    return Status::OK();
  }

 private:
  // core::PushTxn
  Status FindOps(const std::vector<std::string>& ids, std::map<std::string, LoggedOp>* out) override {
    for (const std::string& id : ids) {
      Stmt q = Prepare("SELECT user_id, outcome_json FROM outpost_oplog WHERE op_id = ?");
      OUTPOST_RETURN_IF_ERROR(Check());
      bool row = false;
      OUTPOST_RETURN_IF_ERROR(q.Bind(1, id).Step(&row));
      if (!row) continue;
      LoggedOp op;
      op.user = q.Text(0);
      OUTPOST_RETURN_IF_ERROR(core::DecodeOutcome(q.Text(1), &op.outcome));
      (*out)[id] = std::move(op);
    }
    return Status::OK();
  }

  Status LoadRows(const std::vector<RowRef>& refs, std::map<RowRef, StoredRow>* out) override {
    for (const RowRef& ref : refs) {
      Stmt q = Prepare(
          "SELECT scope, version, deleted, delete_hlc, live_hlc, columns_json, changed_ms FROM outpost_rows "
          "WHERE tbl = ? AND key_json = ?");
      OUTPOST_RETURN_IF_ERROR(Check());
      bool row = false;
      OUTPOST_RETURN_IF_ERROR(q.Bind(1, ref.first).Bind(2, ref.second).Step(&row));
      if (!row) continue;
      StoredRow r;
      r.table = ref.first;
      r.key_json = ref.second;
      r.scope = q.Text(0);
      r.state.exists = true;
      r.state.version = q.Int(1);
      r.state.deleted = q.Int(2) != 0;
      OUTPOST_RETURN_IF_ERROR(core::DecodeHlc(q.Text(3), &r.state.delete_hlc));
      OUTPOST_RETURN_IF_ERROR(core::DecodeHlc(q.Text(4), &r.state.live_hlc));
      OUTPOST_RETURN_IF_ERROR(core::DecodeColumns(q.Text(5), &r.state.columns));
      r.changed_ms = q.Int(6);
      (*out)[ref] = std::move(r);
    }
    return Status::OK();
  }

  // BEGIN IMMEDIATE already serializes the whole push: the counter read here is the highest committed.
  Status ReserveVersions(int64_t count, int64_t* first) override {
    int64_t current = 0;
    OUTPOST_RETURN_IF_ERROR(Meta("version", &current));
    Stmt q = Prepare("UPDATE outpost_meta SET value = ? WHERE name = 'version'");
    OUTPOST_RETURN_IF_ERROR(Check());
    OUTPOST_RETURN_IF_ERROR(q.Bind(1, current + count).Step());
    *first = current + 1;
    return Status::OK();
  }

  Status Write(const PushWrites& w) override {
    for (const StoredRow& r : w.rows) {
      Stmt q = Prepare(
          "INSERT INTO outpost_rows(tbl, key_json, scope, version, deleted, delete_hlc, live_hlc, columns_json, "
          "changed_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tbl, key_json) DO UPDATE SET "
          "scope = excluded.scope, version = excluded.version, deleted = excluded.deleted, "
          "delete_hlc = excluded.delete_hlc, live_hlc = excluded.live_hlc, columns_json = excluded.columns_json, "
          "changed_ms = excluded.changed_ms");
      OUTPOST_RETURN_IF_ERROR(Check());
      q.Bind(1, r.table).Bind(2, r.key_json).Bind(3, r.scope).Bind(4, r.state.version);
      q.Bind(5, int64_t{r.state.deleted}).Bind(6, core::EncodeHlc(r.state.delete_hlc));
      q.Bind(7, core::EncodeHlc(r.state.live_hlc)).Bind(8, core::EncodeColumns(r.state.columns));
      OUTPOST_RETURN_IF_ERROR(q.Bind(9, r.changed_ms).Step());
    }
    for (const core::OpLogEntry& e : w.ops) {
      Stmt q = Prepare(
          "INSERT INTO outpost_oplog(op_id, client_id, user_id, outcome_json, created_ms) VALUES (?, ?, ?, ?, ?)");
      OUTPOST_RETURN_IF_ERROR(Check());
      OUTPOST_RETURN_IF_ERROR(
          q.Bind(1, e.id).Bind(2, e.client_id).Bind(3, e.user).Bind(4, e.outcome_json).Bind(5, e.created_ms).Step());
    }
    for (const core::CustomOpEntry& c : w.custom) {
      Stmt q = Prepare(
          "INSERT INTO outpost_custom_ops(op_id, kind, entity, target, payload, client_id, user_id, version, "
          "created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
      OUTPOST_RETURN_IF_ERROR(Check());
      q.Bind(1, c.id).Bind(2, c.kind).Bind(3, c.entity).Bind(4, c.target).Bind(5, c.payload);
      OUTPOST_RETURN_IF_ERROR(q.Bind(6, c.client_id).Bind(7, c.user).Bind(8, c.version).Bind(9, c.created_ms).Step());
    }
    return Status::OK();
  }

  // core::PullReader: one read transaction, so the counters and the rows come from the same snapshot.
  Status Read(int64_t after, const std::vector<std::string>* scopes, size_t limit, PullSnapshot* out) override {
    OUTPOST_RETURN_IF_ERROR(Exec("BEGIN"));
    Status s = ReadLocked(after, scopes, limit, out);
    Status end = Exec(s.ok() ? "COMMIT" : "ROLLBACK");
    return s.ok() ? end : s;
  }

  Status ReadLocked(int64_t after, const std::vector<std::string>* scopes, size_t limit, PullSnapshot* out) {
    OUTPOST_RETURN_IF_ERROR(Meta("version", &out->current_version));
    OUTPOST_RETURN_IF_ERROR(Meta("pruned_version", &out->pruned_version));
    const std::string scope_json = scopes != nullptr ? core::EncodeStringList(*scopes) : "[]";
    Stmt q = Prepare(scopes == nullptr
                         ? "SELECT tbl, key_json, version, deleted, delete_hlc, columns_json FROM outpost_rows "
                           "WHERE version > ?1 ORDER BY version LIMIT ?3"
                         : "SELECT tbl, key_json, version, deleted, delete_hlc, columns_json FROM outpost_rows "
                           "WHERE version > ?1 AND scope IN (SELECT value FROM json_each(?2)) "
                           "ORDER BY version LIMIT ?3");
    OUTPOST_RETURN_IF_ERROR(Check());
    q.Bind(1, after).Bind(3, static_cast<int64_t>(limit));
    if (scopes != nullptr) q.Bind(2, scope_json);
    for (;;) {
      bool row = false;
      OUTPOST_RETURN_IF_ERROR(q.Step(&row));
      if (!row) break;
      ChangeRow c;
      c.table = q.Text(0);
      c.key_json = q.Text(1);
      c.version = q.Int(2);
      c.deleted = q.Int(3) != 0;
      c.delete_hlc = q.Text(4);
      c.columns_json = q.Text(5);
      out->rows.push_back(std::move(c));
    }
    return Status::OK();
  }

  Status PruneLocked(int64_t before_ms) {
    int64_t highest = 0;
    {
      Stmt q = Prepare("SELECT coalesce(max(version), 0) FROM outpost_rows WHERE deleted AND changed_ms < ?");
      OUTPOST_RETURN_IF_ERROR(Check());
      bool row = false;
      OUTPOST_RETURN_IF_ERROR(q.Bind(1, before_ms).Step(&row));
      highest = row ? q.Int(0) : 0;
    }
    if (highest == 0) return Status::OK();
    {
      Stmt q = Prepare("DELETE FROM outpost_rows WHERE deleted AND changed_ms < ?");
      OUTPOST_RETURN_IF_ERROR(Check());
      OUTPOST_RETURN_IF_ERROR(q.Bind(1, before_ms).Step());
    }
    Stmt q = Prepare("UPDATE outpost_meta SET value = max(value, ?) WHERE name = 'pruned_version'");
    OUTPOST_RETURN_IF_ERROR(Check());
    return q.Bind(1, highest).Step();
  }

  Status Meta(const char* name, int64_t* value) {
    Stmt q = Prepare("SELECT value FROM outpost_meta WHERE name = ?");
    OUTPOST_RETURN_IF_ERROR(Check());
    bool row = false;
    OUTPOST_RETURN_IF_ERROR(q.Bind(1, std::string(name)).Step(&row));
    if (!row) return Status::Error("INTERNAL", std::string("SQLite store: outpost_meta has no \"") + name + "\".");
    *value = q.Int(0);
    return Status::OK();
  }

  Status Exec(const char* sql) {
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? Status::OK() : StoreError(db_, rc, sql);
  }

  // A cached statement; a preparation error is kept for Check() (statements are fixed SQL, so it means a
  // broken database, not bad input).
  Stmt Prepare(const char* sql) {
    prepare_error_ = Status::OK();
    sqlite3_stmt*& stmt = cache_[sql];
    if (stmt == nullptr) {
      const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
      if (rc != SQLITE_OK) {
        prepare_error_ = StoreError(db_, rc, sql);
        stmt = nullptr;
      }
    }
    return Stmt(db_, stmt);
  }
  Status Check() const { return prepare_error_; }

  const Schema schema_;
  const StoreOptions options_;
  std::mutex mu_;
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*> cache_;
  Status prepare_error_;
};

}  // namespace

Status OpenSqliteStore(const std::string& path, const Schema& schema, const StoreOptions& options,
                       std::unique_ptr<Store>* out) {
  auto store = std::make_unique<SqliteStore>(schema, options);
  OUTPOST_RETURN_IF_ERROR(store->Open(path));
  *out = std::move(store);
  return Status::OK();
}

}  // namespace outpost::server
