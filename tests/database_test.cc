// Database: results, typed values, parameters, errors with codes, transactions, export and import checks.
#include "outpost/database.h"

#include <cstdio>
#include <fstream>

#include "sqlite3.h"
#include "test_util.h"

namespace outpost::testing {
namespace {

class DatabaseTest : public ::testing::Test {
 protected:
  DatabaseTest() : session_(device_), db_(session_.Open()) {
    ExecOk(*db_, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, score REAL, data BLOB)");
  }
  Device device_;
  Session session_;
  std::unique_ptr<Database> db_;
};

TEST_F(DatabaseTest, ExecReportsChangesAndLastInsertRowId) {
  ExecResult r;
  ASSERT_TRUE(db_->Exec("INSERT INTO t(name) VALUES ('a'), ('b')", {}, &r).ok());
  EXPECT_EQ(r.changes, 2);
  EXPECT_EQ(r.last_insert_rowid, 2);
  ASSERT_TRUE(db_->Exec("UPDATE t SET score = 1", {}, &r).ok());
  EXPECT_EQ(r.changes, 2);
  ASSERT_TRUE(db_->Exec("SELECT * FROM t", {}, &r).ok());
  EXPECT_EQ(r.changes, 0);
}

TEST_F(DatabaseTest, QueryReturnsEveryStorageClass) {
  Params p;
  p.positional = {int64_t{9007199254740993}, std::string("héllo"), 2.5, Blob{{0, 1, 255}}};
  ExecOk(*db_, "INSERT INTO t(id, name, score, data) VALUES (?, ?, ?, ?)", p);
  ExecOk(*db_, "INSERT INTO t(id, name) VALUES (1, 'x')");
  QueryResult r;
  ASSERT_TRUE(db_->Query("SELECT id, name, score, data FROM t ORDER BY id DESC", {}, &r).ok());
  EXPECT_EQ(r.columns, (std::vector<std::string>{"id", "name", "score", "data"}));
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(std::get<int64_t>(r.rows[0][0]), 9007199254740993);
  EXPECT_EQ(std::get<std::string>(r.rows[0][1]), "héllo");
  EXPECT_EQ(std::get<double>(r.rows[0][2]), 2.5);
  EXPECT_EQ(std::get<Blob>(r.rows[0][3]).bytes, (std::vector<uint8_t>{0, 1, 255}));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(r.rows[1][2]));
}

TEST_F(DatabaseTest, NamedParametersAcceptEveryPrefix) {
  Params p;
  p.named = {{"a", std::string("one")}, {"b", 1.5}, {"c", int64_t{7}}};
  ExecOk(*db_, "INSERT INTO t(name, score, id) VALUES (:a, @b, $c)", p);
  QueryResult r;
  Params q;
  q.named = {{"id", int64_t{7}}};
  ASSERT_TRUE(db_->Query("SELECT name FROM t WHERE id = :id", q, &r).ok());
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(std::get<std::string>(r.rows[0][0]), "one");
}

TEST_F(DatabaseTest, ParameterMistakesAreClearErrors) {
  ExecResult r;
  Params too_few;
  too_few.positional = {std::string("a")};
  Status s = db_->Exec("INSERT INTO t(name, score) VALUES (?, ?)", too_few, &r);
  EXPECT_EQ(s.code(), "SQLITE_RANGE");
  EXPECT_NE(s.message().find("2 parameter"), std::string::npos) << s.message();

  Params missing;
  missing.named = {{"a", std::string("x")}};
  s = db_->Exec("INSERT INTO t(name, score) VALUES (:a, :b)", missing, &r);
  EXPECT_EQ(s.code(), "INVALID_ARGUMENT");
  EXPECT_NE(s.message().find(":b"), std::string::npos) << s.message();

  s = db_->Exec("INSERT INTO t(name) VALUES (?)", missing, &r);
  EXPECT_EQ(s.code(), "INVALID_ARGUMENT");

  s = db_->Exec("INSERT INTO t(name) VALUES (?); SELECT 1", too_few, &r);
  EXPECT_EQ(s.code(), "INVALID_ARGUMENT");
  EXPECT_EQ(Count(*db_, "t"), 0);
}

TEST_F(DatabaseTest, ConstraintViolationCarriesCodeSqlAndHint) {
  ExecOk(*db_, "INSERT INTO t(name) VALUES ('dup')");
  ExecResult r;
  const std::string sql = "INSERT INTO t(name) VALUES ('dup')";
  Status s = db_->Exec(sql, {}, &r);
  EXPECT_EQ(s.code(), "SQLITE_CONSTRAINT");
  EXPECT_EQ(s.sqlite_code(), SQLITE_CONSTRAINT_UNIQUE);
  EXPECT_EQ(s.sql(), sql);
  EXPECT_NE(s.message().find("UNIQUE constraint failed: t.name"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("ON CONFLICT"), std::string::npos) << s.message();
  EXPECT_EQ(Count(*db_, "t"), 1);
}

TEST_F(DatabaseTest, SyntaxErrorIsSqliteError) {
  ExecResult r;
  Status s = db_->Exec("INSRT INTO t VALUES (1)", {}, &r);
  EXPECT_EQ(s.code(), "SQLITE_ERROR");
  EXPECT_NE(s.message().find("syntax error"), std::string::npos);
  QueryResult q;
  EXPECT_EQ(db_->Query("SELECT 1; SELECT 2", {}, &q).code(), "INVALID_ARGUMENT");
}

TEST_F(DatabaseTest, MultiStatementExecRunsInOrder) {
  ExecOk(*db_, "INSERT INTO t(name) VALUES ('a'); INSERT INTO t(name) VALUES ('b'); -- trailing comment");
  EXPECT_EQ(Count(*db_, "t"), 2);
}

TEST_F(DatabaseTest, RollbackUndoesTheTransaction) {
  ExecOk(*db_, "BEGIN");
  ExecOk(*db_, "INSERT INTO t(name) VALUES ('a')");
  EXPECT_TRUE(db_->InTransaction());
  ExecOk(*db_, "ROLLBACK");
  EXPECT_FALSE(db_->InTransaction());
  EXPECT_EQ(Count(*db_, "t"), 0);
}

TEST_F(DatabaseTest, ExportIsAPlainDatabaseTheSqliteLibraryOpens) {
  for (int i = 0; i < 100; ++i) {
    Params p;
    p.positional = {std::string("row") + std::to_string(i)};
    ExecOk(*db_, "INSERT INTO t(name) VALUES (?)", p);
  }
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(db_->Export(&bytes).ok());
  ASSERT_GE(bytes.size(), 100u);
  EXPECT_EQ(bytes[18], 1);  // rollback-journal format: no -wal file expected
  EXPECT_EQ(bytes[19], 1);
  EXPECT_TRUE(Database::ValidateImage(bytes).ok());

  // Through the native unix VFS, as the sqlite3 shell would.
  std::string path = ::testing::TempDir() + "outpost-export.db";
  std::remove(path.c_str());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  sqlite3* native = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &native, SQLITE_OPEN_READONLY, "unix"), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(native, "SELECT count(*), (SELECT integrity_check FROM pragma_integrity_check) FROM t",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 100);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)), "ok");
  sqlite3_finalize(stmt);
  sqlite3_close(native);
  std::remove(path.c_str());
}

TEST_F(DatabaseTest, ValidateImageRejectsBadInput) {
  std::vector<uint8_t> bytes;
  ExecOk(*db_, "INSERT INTO t(name, data) VALUES ('a', randomblob(10000))");
  ASSERT_TRUE(db_->Export(&bytes).ok());

  EXPECT_EQ(Database::ValidateImage({1, 2, 3}).code(), "SQLITE_NOTADB");
  std::vector<uint8_t> truncated(bytes.begin(), bytes.end() - 100);
  EXPECT_EQ(Database::ValidateImage(truncated).code(), "SQLITE_NOTADB");
  std::vector<uint8_t> corrupt = bytes;
  for (size_t i = 4096; i < 4096 + 64 && i < corrupt.size(); ++i) corrupt[i] = 0xff;  // page 2's header
  Status s = Database::ValidateImage(corrupt);
  EXPECT_EQ(s.code(), "SQLITE_CORRUPT") << s.ToString();
  EXPECT_NE(s.message().find("nothing was imported"), std::string::npos);
}

TEST_F(DatabaseTest, ClosedDatabaseRejectsCalls) {
  ASSERT_TRUE(db_->Close().ok());
  ASSERT_TRUE(db_->Close().ok());
  ExecResult r;
  EXPECT_EQ(db_->Exec("SELECT 1", {}, &r).code(), "INVALID_STATE");
}

// Records what Database tells it and writes a row of its own into `log` after each statement, as capture
// writes the outbox.
class LogObserver final : public WriteObserver {
 public:
  explicit LogObserver(Database* db) : db_(db) {}
  Status AfterStatement(bool kept) override {
    calls.push_back(kept);
    in_transaction.push_back(db_->InTransaction());
    if (!fail_with.ok()) return fail_with;
    if (!kept) return Status::OK();
    char* err = nullptr;
    if (sqlite3_exec(db_->handle(), "INSERT INTO log VALUES (1)", nullptr, nullptr, &err) != SQLITE_OK) {
      Status s = Status::Error("INTERNAL", err ? err : "?");
      sqlite3_free(err);
      return s;
    }
    return Status::OK();
  }
  Noted WhatNoted() const override { return noted; }

  std::vector<bool> calls, in_transaction;
  Status fail_with;
  Noted noted = Noted::kCounted;

 private:
  Database* db_;
};

class ObservedDatabaseTest : public DatabaseTest {
 protected:
  ObservedDatabaseTest() : observer_(db_.get()) {
    ExecOk(*db_, "CREATE TABLE log(x)");
    db_->SetWriteObserver(&observer_);
  }
  ~ObservedDatabaseTest() override { db_->SetWriteObserver(nullptr); }
  int64_t Count(const std::string& table) {
    QueryResult r;
    EXPECT_TRUE(db_->Query("SELECT count(*) FROM " + table, {}, &r).ok());
    return std::get<int64_t>(r.rows[0][0]);
  }
  LogObserver observer_;
};

TEST_F(ObservedDatabaseTest, AStatementOutsideATransactionRunsInOneWithTheObserversWrites) {
  ExecResult r;
  ASSERT_TRUE(db_->Exec("INSERT INTO t(name) VALUES ('a'), ('b')", {}, &r).ok());
  EXPECT_EQ(r.changes, 2);  // the statement's, not the observer's insert
  EXPECT_EQ(r.last_insert_rowid, 2);
  EXPECT_EQ(observer_.calls, std::vector<bool>{true});
  EXPECT_EQ(observer_.in_transaction, std::vector<bool>{true});
  EXPECT_FALSE(db_->InTransaction());
  EXPECT_EQ(Count("log"), 1);
}

TEST_F(ObservedDatabaseTest, ReadsAndTransactionControlAreNotObserved) {
  ExecResult r;
  for (const char* sql : {"SELECT * FROM t", "BEGIN IMMEDIATE", "SAVEPOINT s", "RELEASE s", "COMMIT",
                          "PRAGMA user_version = 3", "VACUUM"})
    ASSERT_TRUE(db_->Exec(sql, {}, &r).ok()) << sql;
  EXPECT_TRUE(observer_.calls.empty());
}

TEST_F(ObservedDatabaseTest, AnObserverErrorRollsBackTheWholeTransaction) {
  ExecResult r;
  ASSERT_TRUE(db_->Exec("BEGIN", {}, &r).ok());
  ASSERT_TRUE(db_->Exec("INSERT INTO t(name) VALUES ('a')", {}, &r).ok());
  observer_.fail_with = Status::Error("OUTBOX_FULL", "Full.");
  Status s = db_->Exec("INSERT INTO t(name) VALUES ('b')", {}, &r);
  EXPECT_EQ(s.code(), "OUTBOX_FULL");
  EXPECT_EQ(s.message(), "Full. The transaction was rolled back.");
  EXPECT_EQ(s.sql(), "INSERT INTO t(name) VALUES ('b')");
  EXPECT_FALSE(db_->InTransaction());
  // Outside a transaction only the statement's own is undone, and the message says nothing more.
  s = db_->Exec("INSERT INTO t(name) VALUES ('c')", {}, &r);
  EXPECT_EQ(s.message(), "Full.");
  observer_.fail_with = Status::OK();
  EXPECT_EQ(Count("t"), 0);
  EXPECT_EQ(Count("log"), 0);  // the first statement's went with its transaction
}

// A failed statement: undone (ABORT) or kept up to the error (OR FAIL), as SQLite did; when the observer
// noted only changes SQLite does not count, Database cannot tell and rolls the transaction back.
TEST_F(ObservedDatabaseTest, AFailedStatementIsReportedUndoneOrKept) {
  ExecResult r;
  ASSERT_TRUE(db_->Exec("INSERT INTO t(name) VALUES ('a')", {}, &r).ok());
  ASSERT_TRUE(db_->Exec("BEGIN", {}, &r).ok());
  EXPECT_EQ(db_->Exec("INSERT INTO t(name) VALUES ('b'), ('a')", {}, &r).code(), "SQLITE_CONSTRAINT");
  EXPECT_EQ(db_->Exec("INSERT OR FAIL INTO t(name) VALUES ('c'), ('a')", {}, &r).code(), "SQLITE_CONSTRAINT");
  EXPECT_EQ(observer_.calls, (std::vector<bool>{true, false, true}));
  EXPECT_TRUE(db_->InTransaction());
  observer_.noted = WriteObserver::Noted::kUncountedOnly;
  Status s = db_->Exec("INSERT INTO t(name) VALUES ('d'), ('a')", {}, &r);
  EXPECT_EQ(s.code(), "SQLITE_CONSTRAINT");
  EXPECT_NE(s.message().find("The transaction was rolled back"), std::string::npos) << s.message();
  EXPECT_FALSE(db_->InTransaction());
  EXPECT_EQ(Count("t"), 1);
  EXPECT_EQ(Count("log"), 1);
}

}  // namespace
}  // namespace outpost::testing
