// Mapping from SQLite result codes to Outpost error codes and to messages that say what to do.
#include "outpost/status.h"

#include "sqlite3.h"

namespace outpost {
namespace {

struct CodeInfo {
  int rc;
  const char* name;
  const char* hint;
};

// Primary codes only; the extended code travels in Status::sqlite_code().
constexpr CodeInfo kCodes[] = {
    {SQLITE_ERROR, "SQLITE_ERROR", "Check the SQL statement and its parameters."},
    {SQLITE_INTERNAL, "SQLITE_INTERNAL", "This is a bug in SQLite or Outpost; please report it with the SQL."},
    {SQLITE_PERM, "SQLITE_PERM", "The storage refused access; check that the origin may use OPFS."},
    {SQLITE_ABORT, "SQLITE_ABORT", "The statement was aborted; retry it."},
    {SQLITE_BUSY, "SQLITE_BUSY", "Another connection holds the database; retry after it finishes."},
    {SQLITE_LOCKED, "SQLITE_LOCKED",
     "A table is locked by a statement still running on this connection; finish it first."},
    {SQLITE_NOMEM, "SQLITE_NOMEM", "The engine ran out of memory; reduce the size of the result or of the values."},
    {SQLITE_READONLY, "SQLITE_READONLY", "The database is read-only."},
    {SQLITE_INTERRUPT, "SQLITE_INTERRUPT", "The statement was interrupted."},
    {SQLITE_IOERR, "SQLITE_IOERR", "The storage failed; reload the page. Committed data is safe."},
    {SQLITE_CORRUPT, "SQLITE_CORRUPT",
     "The database file is damaged; restore it from a backup (export/import) or the server."},
    {SQLITE_NOTFOUND, "SQLITE_NOTFOUND", "An internal lookup failed."},
    {SQLITE_FULL, "SQLITE_FULL",
     "Storage is full: the browser's quota for this site is exhausted. Nothing from this statement was written and "
     "committed data is intact; free space (delete data, or ask navigator.storage.persist() for more durable quota) "
     "and retry."},
    {SQLITE_CANTOPEN, "SQLITE_CANTOPEN",
     "The database file could not be opened; check the name and that storage is available."},
    {SQLITE_PROTOCOL, "SQLITE_PROTOCOL", "A locking protocol error occurred; retry."},
    {SQLITE_EMPTY, "SQLITE_EMPTY", "Internal use."},
    {SQLITE_SCHEMA, "SQLITE_SCHEMA", "The schema changed while the statement ran; run it again."},
    {SQLITE_TOOBIG, "SQLITE_TOOBIG", "A string or blob is larger than SQLite allows; store it in smaller pieces."},
    {SQLITE_CONSTRAINT, "SQLITE_CONSTRAINT",
     "A UNIQUE, PRIMARY KEY, NOT NULL, CHECK or FOREIGN KEY constraint failed; the statement changed nothing. Fix the "
     "values, or use INSERT ... ON CONFLICT."},
    {SQLITE_MISMATCH, "SQLITE_MISMATCH", "A value has the wrong type for its column (e.g. a non-integer rowid)."},
    {SQLITE_MISUSE, "SQLITE_MISUSE", "The API was used incorrectly; this is a bug in the caller or in Outpost."},
    {SQLITE_NOLFS, "SQLITE_NOLFS", "The file is too large for the storage."},
    {SQLITE_AUTH, "SQLITE_AUTH", "The statement was not authorized."},
    {SQLITE_FORMAT, "SQLITE_FORMAT", "Internal use."},
    {SQLITE_RANGE, "SQLITE_RANGE",
     "A parameter index is out of range: pass as many parameters as the SQL has placeholders."},
    {SQLITE_NOTADB, "SQLITE_NOTADB", "The file is not an SQLite database."},
};

const CodeInfo* Find(int rc) {
  for (const CodeInfo& c : kCodes)
    if (c.rc == (rc & 0xff)) return &c;
  return nullptr;
}

}  // namespace

const char* SqliteCodeName(int rc) {
  const CodeInfo* c = Find(rc);
  return c ? c->name : "SQLITE_ERROR";
}

Status Status::FromSqlite(int rc, const std::string& detail, const std::string& sql) {
  const CodeInfo* c = Find(rc);
  std::string message = detail.empty() ? sqlite3_errstr(rc) : detail;
  if (c) message += ". " + std::string(c->hint);
  return Error(c ? c->name : "SQLITE_ERROR", message, sql, rc);
}

}  // namespace outpost
