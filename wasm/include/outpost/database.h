// Database: one SQLite connection over one of our storage VFSes, with the pragmas Outpost relies on.
//
// Invariants:
//  - The connection runs in WAL mode with locking_mode=EXCLUSIVE: the storage slots are owned by this process
//    alone (an OPFS SyncAccessHandle is itself an exclusive lock), so no shared memory is needed and a commit
//    costs one WAL append plus, at Durability::kFull, exactly one flush.
//  - A Status that is not ok() means the statement had no effect beyond what SQLite's own statement
//    atomicity leaves; an open transaction stays open until Rollback()/Commit().
//  - Not thread-safe: one Database is used from one thread (the worker).
#ifndef OUTPOST_DATABASE_H_
#define OUTPOST_DATABASE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "outpost/status.h"
#include "outpost/value.h"

struct sqlite3;

namespace outpost {

enum class Durability {
  kFull,     // synchronous=FULL: one flush per commit; a resolved commit survives power loss.
  kRelaxed,  // synchronous=NORMAL: no flush per commit; survives a killed browser, may lose the last commits
             // on an OS crash or power loss, never corrupts.
};

struct OpenOptions {
  std::string vfs;  // a registered sqlite3_vfs name; empty = SQLite's default VFS
  Durability durability = Durability::kFull;
  int page_size = 4096;       // applies only when the database is created
  int cache_size_kib = 8192;  // page cache budget
  int statement_cache = 64;   // prepared statements kept, keyed by SQL text
};

struct ExecResult {
  int64_t changes = 0;
  int64_t last_insert_rowid = 0;
};

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<Value>> rows;
};

class Database {
 public:
  // Opens (creating if needed) the database at `path`. On success *db owns the connection.
  static Status Open(const std::string& path, const OpenOptions& options, std::unique_ptr<Database>* db);

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Runs `sql`. Without parameters it may hold several statements separated by ';' (run in order; the
  // result describes the last). With parameters it must be exactly one statement.
  Status Exec(const std::string& sql, const Params& params, ExecResult* result);
  // Runs one statement and collects its rows.
  Status Query(const std::string& sql, const Params& params, QueryResult* result);

  bool InTransaction() const;
  // Called before each statement of a multi-statement Exec that follows a statement that wrote (DDL
  // included), before it is prepared: the sync engine installs the capture triggers of a tracked table an
  // earlier statement of the same script created, so the script's own writes to it are captured. Not called
  // again from inside the hook. Empty: none.
  void SetStatementHook(std::function<void()> hook) { statement_hook_ = std::move(hook); }
  // The database as one plain SQLite file (rollback-journal header, so any sqlite3 shell opens it).
  Status Export(std::vector<uint8_t>* bytes);
  // Checks that `bytes` hold a healthy SQLite database; nothing is written anywhere.
  static Status ValidateImage(const std::vector<uint8_t>& bytes);
  // Checkpoints the WAL into the database file and closes. Safe to call twice.
  Status Close();

  sqlite3* handle() const { return db_; }

 private:
  class StatementCache;
  Database(sqlite3* db, const OpenOptions& options);
  Status Configure(const OpenOptions& options);

  sqlite3* db_;
  std::unique_ptr<StatementCache> cache_;
  std::function<void()> statement_hook_;
  bool in_hook_ = false;
};

}  // namespace outpost

#endif  // OUTPOST_DATABASE_H_
