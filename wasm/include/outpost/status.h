// Status: the result of an engine operation, in the leveldb style. Every error that leaves the C++ core is a
// Status with a stable string code (the same codes OutpostError carries in JS), a message that says what to
// do, and the SQL that failed, if any. No exceptions cross the core's boundary.
#ifndef OUTPOST_STATUS_H_
#define OUTPOST_STATUS_H_

#include <string>
#include <utility>

namespace outpost {

class Status {
 public:
  Status() = default;  // OK

  static Status OK() { return Status(); }
  static Status Error(std::string code, std::string message, std::string sql = {}, int sqlite_code = 0) {
    Status s;
    s.code_ = std::move(code);
    s.message_ = std::move(message);
    s.sql_ = std::move(sql);
    s.sqlite_code_ = sqlite_code;
    return s;
  }
  // Builds the Status for an SQLite result code: the code name (SQLITE_CONSTRAINT, SQLITE_FULL, ...), SQLite's
  // own message and a hint on what to do. `detail` is sqlite3_errmsg() or similar.
  static Status FromSqlite(int rc, const std::string& detail, const std::string& sql = {});

  bool ok() const { return code_.empty(); }
  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& sql() const { return sql_; }
  int sqlite_code() const { return sqlite_code_; }  // extended SQLite code, 0 when not from SQLite
  std::string ToString() const { return ok() ? "OK" : code_ + ": " + message_; }

 private:
  std::string code_;
  std::string message_;
  std::string sql_;
  int sqlite_code_ = 0;
};

// Returns the Status of `expr` from the enclosing function when it is not ok (inside namespace outpost or
// with `Status` in scope).
#define OUTPOST_RETURN_IF_ERROR(expr)   \
  do {                                  \
    if (Status _s = (expr); !_s.ok()) { \
      return _s;                        \
    }                                   \
  } while (0)

// The stable name of an SQLite primary result code ("SQLITE_CONSTRAINT"); "SQLITE_ERROR" for unknown codes.
const char* SqliteCodeName(int rc);

}  // namespace outpost

#endif  // OUTPOST_STATUS_H_
