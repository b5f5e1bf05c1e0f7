// Database: connection setup (pragmas), parameter binding, a prepared-statement cache, export and
// import validation.
#include "outpost/database.h"

#include <algorithm>
#include <cstring>
#include <list>
#include <string_view>
#include <unordered_map>

#include "sqlite3.h"

namespace outpost {

// Prepared statements keyed by SQL text, least recently used evicted first. Preparing dominates the cost of
// small statements, and apps repeat the same few.
class Database::StatementCache {
 public:
  explicit StatementCache(size_t capacity) : capacity_(capacity) {}
  ~StatementCache() { Clear(); }

  sqlite3_stmt* Take(const std::string& sql) {
    auto it = index_.find(sql);
    if (it == index_.end()) return nullptr;
    sqlite3_stmt* stmt = it->second->second;
    lru_.erase(it->second);
    index_.erase(it);
    return stmt;
  }
  // Returns a statement after use; it is reset and kept, or finalized when the cache is full.
  void Give(const std::string& sql, sqlite3_stmt* stmt) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (capacity_ == 0 || index_.count(sql)) {
      sqlite3_finalize(stmt);
      return;
    }
    if (lru_.size() >= capacity_) {
      sqlite3_finalize(lru_.back().second);
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
    lru_.emplace_front(sql, stmt);
    index_[sql] = lru_.begin();
  }
  void Clear() {
    for (auto& entry : lru_) sqlite3_finalize(entry.second);
    lru_.clear();
    index_.clear();
  }

 private:
  size_t capacity_;
  std::list<std::pair<std::string, sqlite3_stmt*>> lru_;
  std::unordered_map<std::string, std::list<std::pair<std::string, sqlite3_stmt*>>::iterator> index_;
};

namespace {

bool OnlyWhitespace(const char* p) {
  for (; *p; ++p)
    if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != ';') return false;
  return true;
}

// The first keyword of a statement's text, upper-cased; blanks and comments before it skipped.
std::string FirstKeyword(const char* p) {
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f') ++p;
    if (p[0] == '-' && p[1] == '-') {
      while (*p && *p != '\n') ++p;
    } else if (p[0] == '/' && p[1] == '*') {
      const char* end = std::strstr(p + 2, "*/");
      p = end ? end + 2 : p + std::strlen(p);
    } else {
      break;
    }
  }
  std::string word;
  for (; (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'); ++p) word += static_cast<char>(*p & ~0x20);
  return word;
}

// Not read-only yet run as they are, outside a transaction: transaction control (BEGIN IMMEDIATE takes the
// write lock) and statements SQLite refuses or ignores inside one. None of them changes a table row.
bool RunsAsItIs(sqlite3_stmt* stmt) {
  static constexpr std::string_view kAsTheyAre[] = {"BEGIN",   "COMMIT", "END",    "ROLLBACK", "SAVEPOINT",
                                                    "RELEASE", "VACUUM", "PRAGMA", "ATTACH",   "DETACH"};
  const std::string word = FirstKeyword(sqlite3_sql(stmt));
  return std::find(std::begin(kAsTheyAre), std::end(kAsTheyAre), word) != std::end(kAsTheyAre);
}

int BindValue(sqlite3_stmt* stmt, int i, const Value& v) {
  switch (v.index()) {
    case 0:
      return sqlite3_bind_null(stmt, i);
    case 1:
      return sqlite3_bind_int64(stmt, i, std::get<int64_t>(v));
    case 2:
      return sqlite3_bind_double(stmt, i, std::get<double>(v));
    case 3: {
      const auto& s = std::get<std::string>(v);
      return sqlite3_bind_text64(stmt, i, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    }
    default: {
      const auto& b = std::get<Blob>(v).bytes;
      return sqlite3_bind_blob64(stmt, i, b.empty() ? "" : static_cast<const void*>(b.data()), b.size(),
                                 SQLITE_TRANSIENT);
    }
  }
}

Status Bind(sqlite3* db, sqlite3_stmt* stmt, const Params& params, const std::string& sql) {
  const int count = sqlite3_bind_parameter_count(stmt);
  if (!params.positional.empty() && !params.named.empty())
    return Status::Error("INVALID_ARGUMENT", "Pass parameters either as an array or as an object, not both.", sql);
  if (params.named.empty()) {
    if (static_cast<int>(params.positional.size()) != count)
      return Status::Error("SQLITE_RANGE",
                           "The statement has " + std::to_string(count) + " parameter(s) but " +
                               std::to_string(params.positional.size()) +
                               " were given; pass one value per placeholder.",
                           sql);
    for (int i = 0; i < count; ++i) {
      int rc = BindValue(stmt, i + 1, params.positional[i]);
      if (rc != SQLITE_OK) return Status::FromSqlite(rc, sqlite3_errmsg(db), sql);
    }
    return Status::OK();
  }
  for (int i = 1; i <= count; ++i) {
    const char* name = sqlite3_bind_parameter_name(stmt, i);
    if (!name || !name[1] || name[0] == '?')
      return Status::Error("INVALID_ARGUMENT",
                           "The statement uses positional placeholders (?); pass an array, not an object.", sql);
    const Value* found = nullptr;
    for (const auto& [key, value] : params.named)
      if (key == name + 1) found = &value;
    if (!found)
      return Status::Error("INVALID_ARGUMENT",
                           std::string("Missing a value for parameter ") + name + "; add it to the parameters object.",
                           sql);
    int rc = BindValue(stmt, i, *found);
    if (rc != SQLITE_OK) return Status::FromSqlite(rc, sqlite3_errmsg(db), sql);
  }
  return Status::OK();
}

Value ColumnValue(sqlite3_stmt* stmt, int i) {
  switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_INTEGER:
      return sqlite3_column_int64(stmt, i);
    case SQLITE_FLOAT:
      return sqlite3_column_double(stmt, i);
    case SQLITE_TEXT: {
      const char* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
      return std::string(p, sqlite3_column_bytes(stmt, i));
    }
    case SQLITE_BLOB: {
      const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, i));
      return Blob{std::vector<uint8_t>(p, p + sqlite3_column_bytes(stmt, i))};
    }
    default:
      return std::monostate{};
  }
}

}  // namespace

Database::Database(sqlite3* db, const OpenOptions& options)
    : db_(db), cache_(std::make_unique<StatementCache>(options.statement_cache)) {}

Database::~Database() { Close(); }

Status Database::Open(const std::string& path, const OpenOptions& options, std::unique_ptr<Database>* out) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXRESCODE,
                           options.vfs.empty() ? nullptr : options.vfs.c_str());
  if (rc != SQLITE_OK) {
    Status s = Status::FromSqlite(rc, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return s;
  }
  std::unique_ptr<Database> database(new Database(db, options));
  Status s = database->Configure(options);
  if (!s.ok()) return s;
  *out = std::move(database);
  return Status::OK();
}

Status Database::Configure(const OpenOptions& options) {
  // Order matters: exclusive locking before WAL (our VFS has no shared memory), page size before the
  // database file gets its first page.
  std::string setup =
      "PRAGMA locking_mode=EXCLUSIVE;"
      "PRAGMA page_size=" +
      std::to_string(options.page_size) +
      ";"
      "PRAGMA cache_size=-" +
      std::to_string(options.cache_size_kib) +
      ";"
      "PRAGMA journal_size_limit=8388608;";
  ExecResult ignored;
  Status s = Exec(setup, {}, &ignored);
  if (!s.ok()) return s;
  // A database file created just now holds nothing a crash could lose: switch it to WAL (which writes page 1
  // through a rollback journal) without the half-dozen flushes of a durable journal transaction, then flush
  // the file once, before any statement of the caller can commit. Saves tens of ms on a first visit.
  sqlite3_file* file = nullptr;
  sqlite3_int64 size = -1;
  if (sqlite3_file_control(db_, "main", SQLITE_FCNTL_FILE_POINTER, &file) == SQLITE_OK && file && file->pMethods)
    file->pMethods->xFileSize(file, &size);
  const bool fresh = size == 0;
  if (fresh && !(s = Exec("PRAGMA synchronous=OFF", {}, &ignored)).ok()) return s;
  QueryResult mode;
  s = Query("PRAGMA journal_mode=WAL", {}, &mode);
  if (!s.ok()) return s;
  if (mode.rows.empty() || std::get<std::string>(mode.rows[0][0]) != "wal")
    return Status::Error("SQLITE_CANTOPEN", "The database could not switch to WAL mode.");
  if (fresh) {
    int rc = file->pMethods->xSync(file, SQLITE_SYNC_NORMAL);
    if (rc != SQLITE_OK) return Status::FromSqlite(rc, sqlite3_errmsg(db_));
  }
  return Exec(options.durability == Durability::kFull ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", {},
              &ignored);
}

Status Database::Exec(const std::string& sql, const Params& params, ExecResult* result) {
  if (!db_) return Status::Error("INVALID_STATE", "The database is closed; open it again.", sql);
  const char* head = sql.c_str();
  bool first = true;
  int64_t changes = 0;
  while (*head) {
    sqlite3_stmt* stmt = first ? cache_->Take(sql) : nullptr;
    const char* tail = nullptr;
    bool cacheable = false;
    if (stmt) {
      tail = "";
      cacheable = true;
    } else {
      int rc = sqlite3_prepare_v3(db_, head, -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
      if (rc != SQLITE_OK) return Status::FromSqlite(rc, sqlite3_errmsg(db_), sql);
      if (!stmt) break;  // only whitespace or comments left
      cacheable = first && OnlyWhitespace(tail);
    }
    if (!params.empty() && !(first && OnlyWhitespace(tail))) {
      sqlite3_finalize(stmt);
      return Status::Error("INVALID_ARGUMENT",
                           "Parameters can only be used with a single SQL statement; run the statements one by one.",
                           sql);
    }
    Status s = Bind(db_, stmt, params, sql);
    int64_t changed = 0;
    if (s.ok()) s = Run(stmt, sql, nullptr, &changed);
    changes = sqlite3_stmt_readonly(stmt) ? 0 : changed;
    if (cacheable)
      cache_->Give(sql, stmt);
    else
      sqlite3_finalize(stmt);
    if (!s.ok()) return s;
    first = false;
    head = tail;
  }
  result->changes = changes;
  result->last_insert_rowid = sqlite3_last_insert_rowid(db_);
  return Status::OK();
}

Status Database::Query(const std::string& sql, const Params& params, QueryResult* result) {
  if (!db_) return Status::Error("INVALID_STATE", "The database is closed; open it again.", sql);
  sqlite3_stmt* stmt = cache_->Take(sql);
  if (!stmt) {
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) return Status::FromSqlite(rc, sqlite3_errmsg(db_), sql);
    if (!stmt) return Status::Error("INVALID_ARGUMENT", "The SQL holds no statement.", sql);
    if (!OnlyWhitespace(tail)) {
      sqlite3_finalize(stmt);
      return Status::Error("INVALID_ARGUMENT", "query() runs exactly one statement; use exec() for several.", sql);
    }
  }
  Status s = Bind(db_, stmt, params, sql);
  if (s.ok()) {
    int64_t changed = 0;
    s = Run(stmt, sql, result, &changed);
  }
  cache_->Give(sql, stmt);
  return s;
}

Status Database::Step(sqlite3_stmt* stmt, const std::string& sql, QueryResult* rows) {
  const int n = rows ? sqlite3_column_count(stmt) : 0;
  if (rows) {
    rows->columns.clear();
    for (int i = 0; i < n; ++i) rows->columns.emplace_back(sqlite3_column_name(stmt, i));
    rows->rows.clear();
  }
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (!rows) continue;
    std::vector<Value> row;
    row.reserve(n);
    for (int i = 0; i < n; ++i) row.push_back(ColumnValue(stmt, i));
    rows->rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return Status::FromSqlite(rc, sqlite3_errmsg(db_), sql);
  return Status::OK();
}

Status Database::Control(TxControl which) {
  static constexpr const char* kSql[] = {"BEGIN", "COMMIT", "ROLLBACK"};
  sqlite3_stmt*& stmt = control_[static_cast<int>(which)];
  if (!stmt) {
    int rc = sqlite3_prepare_v3(db_, kSql[static_cast<int>(which)], -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return Status::FromSqlite(rc, sqlite3_errmsg(db_));
  }
  int rc = sqlite3_step(stmt);
  Status s =
      rc == SQLITE_DONE ? Status::OK() : Status::FromSqlite(rc, sqlite3_errmsg(db_), kSql[static_cast<int>(which)]);
  sqlite3_reset(stmt);
  return s;
}

// See WriteObserver for what this keeps.
Status Database::Run(sqlite3_stmt* stmt, const std::string& sql, QueryResult* rows, int64_t* changes) {
  const bool outside = sqlite3_get_autocommit(db_);
  if (!observer_ || sqlite3_stmt_readonly(stmt) || (outside && RunsAsItIs(stmt))) {
    Status s = Step(stmt, sql, rows);
    *changes = sqlite3_changes64(db_);
    return s;
  }
  const bool wrapped = outside;
  if (wrapped) {
    Status b = Control(TxControl::kBegin);
    if (!b.ok()) return b;
  }
  Status s = Step(stmt, sql, rows);
  *changes = sqlite3_changes64(db_);
  bool kept = s.ok();
  if (!s.ok()) {
    if (sqlite3_get_autocommit(db_)) {  // SQLite rolled the whole transaction back (ours included)
      (void)observer_->AfterStatement(false);
      return s;
    }
    // A failed INSERT/UPDATE/DELETE sets changes() to the rows it counted and kept: 0 when SQLite undid the
    // statement (ON CONFLICT ABORT, the default), the rows changed before the error under OR FAIL or
    // RAISE(FAIL), which keep them. Other statements leave changes() as it was.
    const std::string word = FirstKeyword(sqlite3_sql(stmt));
    const bool dml = word == "INSERT" || word == "UPDATE" || word == "DELETE" || word == "REPLACE" || word == "WITH";
    kept = dml && *changes > 0;
    const WriteObserver::Noted noted = observer_->WhatNoted();
    if (!kept && noted != WriteObserver::Noted::kNothing && (!dml || noted == WriteObserver::Noted::kUncountedOnly)) {
      (void)observer_->AfterStatement(false);
      (void)Control(TxControl::kRollback);
      return Status::Error(s.code(),
                           s.message() +
                               " The transaction was rolled back: whether the statement's changes to "
                               "synced tables stand could not be told.",
                           sql);
    }
  }
  // The observer's own inserts must not show as the statement's (as trigger inserts would not).
  const int64_t rowid = sqlite3_last_insert_rowid(db_);
  Status o = observer_->AfterStatement(kept);
  sqlite3_set_last_insert_rowid(db_, rowid);
  if (!o.ok()) {
    if (InTransaction()) (void)Control(TxControl::kRollback);
    return Status::Error(o.code(), wrapped ? o.message() : o.message() + " The transaction was rolled back.", sql);
  }
  if (!wrapped) return s;
  if (!kept) {
    (void)Control(TxControl::kRollback);
    return s;
  }
  Status c = Control(TxControl::kCommit);
  if (!c.ok()) {
    if (InTransaction()) (void)Control(TxControl::kRollback);
    return s.ok() ? Status::Error(c.code(), c.message(), sql) : s;
  }
  return s;
}

bool Database::InTransaction() const { return db_ && !sqlite3_get_autocommit(db_); }

Status Database::Export(std::vector<uint8_t>* bytes) {
  if (!db_) return Status::Error("INVALID_STATE", "The database is closed; open it again.");
  sqlite3_int64 size = 0;
  unsigned char* data = sqlite3_serialize(db_, "main", &size, 0);
  if (!data) return Status::FromSqlite(sqlite3_errcode(db_) ? sqlite3_errcode(db_) : SQLITE_NOMEM, sqlite3_errmsg(db_));
  bytes->assign(data, data + size);
  sqlite3_free(data);
  // Bytes 18/19 are the file format versions; 2 means WAL. A plain copy must not ask for a -wal file.
  if (bytes->size() >= 100) (*bytes)[18] = (*bytes)[19] = 1;
  return Status::OK();
}

Status Database::ValidateImage(const std::vector<uint8_t>& bytes) {
  static const char kMagic[] = "SQLite format 3";
  if (bytes.size() < 512 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    return Status::Error("SQLITE_NOTADB",
                         "The bytes are not an SQLite database file (bad header); nothing was imported.");
  uint32_t page_size = (bytes[16] << 8) | bytes[17];
  if (page_size == 1) page_size = 65536;
  if (page_size < 512 || (page_size & (page_size - 1)) || bytes.size() % page_size)
    return Status::Error("SQLITE_NOTADB",
                         "The file's size is not a whole number of pages; it is truncated. Nothing was imported.");
  sqlite3* mem = nullptr;
  int rc = sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_close_v2(mem);
    return Status::FromSqlite(rc, "opening a scratch database");
  }
  auto* copy = static_cast<unsigned char*>(sqlite3_malloc64(bytes.size()));
  std::memcpy(copy, bytes.data(), bytes.size());
  copy[18] = copy[19] = 1;
  rc = sqlite3_deserialize(mem, "main", copy, bytes.size(), bytes.size(),
                           SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY);
  Status s;
  if (rc != SQLITE_OK) {
    s = Status::FromSqlite(rc, sqlite3_errmsg(mem));
  } else {
    sqlite3_stmt* stmt = nullptr;
    rc = sqlite3_prepare_v2(mem, "PRAGMA integrity_check(1)", -1, &stmt, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
      s = Status::Error("SQLITE_CORRUPT", std::string("The file is not a usable SQLite database: ") +
                                              sqlite3_errmsg(mem) + ". Nothing was imported.");
    } else {
      std::string verdict = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      if (verdict != "ok")
        s = Status::Error("SQLITE_CORRUPT",
                          "The file fails PRAGMA integrity_check (" + verdict + "); nothing was imported.");
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(mem);
  return s;
}

Status Database::Close() {
  if (!db_) return Status::OK();
  cache_->Clear();
  for (sqlite3_stmt*& stmt : control_) {
    sqlite3_finalize(stmt);
    stmt = nullptr;
  }
  int rc = sqlite3_close_v2(db_);
  db_ = nullptr;
  if (rc != SQLITE_OK) return Status::FromSqlite(rc, "closing the database");
  return Status::OK();
}

}  // namespace outpost
