// Error mapping: SQLite result codes (primary and extended) to stable codes with a hint on what to do.
#include "outpost/status.h"

#include <gtest/gtest.h>

#include "sqlite3.h"

namespace outpost {
namespace {

TEST(Status, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(Status, ExtendedCodesMapToTheirPrimaryName) {
  struct {
    int rc;
    const char* name;
  } cases[] = {
      {SQLITE_CONSTRAINT_PRIMARYKEY, "SQLITE_CONSTRAINT"},
      {SQLITE_CONSTRAINT_NOTNULL, "SQLITE_CONSTRAINT"},
      {SQLITE_FULL, "SQLITE_FULL"},
      {SQLITE_IOERR_WRITE, "SQLITE_IOERR"},
      {SQLITE_IOERR_FSYNC, "SQLITE_IOERR"},
      {SQLITE_CANTOPEN, "SQLITE_CANTOPEN"},
      {SQLITE_BUSY, "SQLITE_BUSY"},
      {SQLITE_CORRUPT, "SQLITE_CORRUPT"},
      {SQLITE_NOTADB, "SQLITE_NOTADB"},
      {250, "SQLITE_ERROR"},
  };
  for (const auto& c : cases) EXPECT_STREQ(SqliteCodeName(c.rc), c.name) << c.rc;
}

TEST(Status, FromSqliteKeepsDetailSqlAndAddsAHint) {
  Status s = Status::FromSqlite(SQLITE_FULL, "database or disk is full", "INSERT INTO t VALUES (1)");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), "SQLITE_FULL");
  EXPECT_EQ(s.sqlite_code(), SQLITE_FULL);
  EXPECT_EQ(s.sql(), "INSERT INTO t VALUES (1)");
  EXPECT_NE(s.message().find("database or disk is full"), std::string::npos);
  EXPECT_NE(s.message().find("quota"), std::string::npos);
}

TEST(Status, EmptyDetailFallsBackToSqlitesText) {
  Status s = Status::FromSqlite(SQLITE_CONSTRAINT_UNIQUE, "");
  EXPECT_EQ(s.code(), "SQLITE_CONSTRAINT");
  EXPECT_NE(s.message().find("constraint failed"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace outpost
