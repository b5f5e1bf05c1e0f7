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
#include <memory>
#include <string>
#include <vector>

#include "outpost/status.h"
#include "outpost/value.h"

struct sqlite3;
struct sqlite3_stmt;

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

// Told about each statement of Exec/Query that may write (not sqlite3_stmt_readonly), so that what it
// notes of the statement's row changes (through hooks of its own) is written in the same transaction.
//
// Invariants Database keeps for an observed statement:
//  - It runs inside a transaction: outside one, Database opens one around it (BEGIN ... COMMIT), so the
//    observer's writes commit with the statement's or not at all. Transaction control (BEGIN IMMEDIATE is
//    not read-only), VACUUM, PRAGMA, ATTACH and DETACH run as they are: SQLite refuses or ignores the last
//    four inside a transaction, and none of them changes a table row.
//  - AfterStatement is called once the statement has run, before its transaction can commit. `kept` says
//    whether its changes stand: it succeeded, or it failed under OR FAIL semantics, which keep what the
//    statement did before the error. Otherwise they were undone and whatever was noted is to be forgotten.
//  - A non-ok Status from AfterStatement rolls back the whole transaction the statement ran in (an
//    explicit one included), and Exec/Query return that Status.
//  - When Database cannot tell whether a failed statement's changes stand, it rolls back the whole
//    transaction: nothing is kept that the observer did not record. A failed INSERT/UPDATE/DELETE tells by
//    sqlite3_changes() (0: undone; more: kept under OR FAIL), unless the observer noted only changes SQLite
//    does not count there (made by triggers, or rows REPLACE deleted); other statements cannot tell.
class WriteObserver {
 public:
  virtual ~WriteObserver() = default;
  virtual Status AfterStatement(bool kept) = 0;
  // What the observer noted of the running statement: nothing, changes among which an INSERT or UPDATE of
  // the statement's own table (which SQLite counts in sqlite3_changes()), or only other changes.
  enum class Noted { kNothing, kCounted, kUncountedOnly };
  virtual Noted WhatNoted() const = 0;
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
  // Sees every statement of Exec/Query that may write (the sync engine's capture); nullptr: none. See
  // WriteObserver for what Database guarantees around each such statement.
  void SetWriteObserver(WriteObserver* observer) { observer_ = observer; }
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
  // Runs one prepared statement to its end; its rows go to `rows` unless null. Brackets it for observer_.
  // *changes: sqlite3_changes() right after the statement (the observer writes too).
  Status Run(sqlite3_stmt* stmt, const std::string& sql, QueryResult* rows, int64_t* changes);
  Status Step(sqlite3_stmt* stmt, const std::string& sql, QueryResult* rows);
  // BEGIN / COMMIT / ROLLBACK around observed statements (prepared once).
  enum class TxControl { kBegin, kCommit, kRollback };
  Status Control(TxControl which);
  sqlite3_stmt* control_[3] = {nullptr, nullptr, nullptr};

  WriteObserver* observer_ = nullptr;
};

}  // namespace outpost

#endif  // OUTPOST_DATABASE_H_
