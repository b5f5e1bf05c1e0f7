// The server's schema file parser (server/schema.cc): the documented format parses into the right tables
// and policies, and every mistake is INVALID_ARGUMENT naming the offending path.
#include <gtest/gtest.h>

#include "store.h"

namespace outpost::server {
namespace {

TEST(ServerSchema, ParsesTheDocumentedExample) {
  Schema schema;
  const Status s = Schema::FromJson(R"({"tables": {
    "records": {"key": ["id"], "columns": ["title", "notes", "status", "quantity", "project"],
                "scopeColumn": "project", "policy": "lww",
                "columnPolicies": {"quantity": "counter", "notes": "manual"}},
    "settings": {"key": ["user", "name"], "columns": ["value"], "scope": "user:42", "policy": "delete-wins"},
    "tags": {"key": ["id"], "columns": []}
  }})",
                                    &schema);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(schema.tables.size(), 3u);
  const TableSchema& records = schema.tables.at("records");
  EXPECT_EQ(records.name, "records");
  EXPECT_EQ(records.key, std::vector<std::string>{"id"});
  EXPECT_EQ(records.columns, (std::vector<std::string>{"title", "notes", "status", "quantity", "project"}));
  EXPECT_EQ(records.scope_column, "project");
  EXPECT_EQ(records.policy.table, merge::Policy::kLww);
  EXPECT_EQ(records.policy.ForColumn("quantity"), merge::Policy::kCounter);
  EXPECT_EQ(records.policy.ForColumn("notes"), merge::Policy::kManual);
  EXPECT_EQ(records.policy.ForColumn("title"), merge::Policy::kLww);
  const TableSchema& settings = schema.tables.at("settings");
  EXPECT_EQ(settings.key, (std::vector<std::string>{"user", "name"}));
  EXPECT_TRUE(settings.scope_column.empty());
  EXPECT_EQ(settings.scope, "user:42");
  EXPECT_EQ(settings.policy.table, merge::Policy::kDeleteWins);
  const TableSchema& tags = schema.tables.at("tags");
  EXPECT_EQ(tags.scope, "default");
  EXPECT_TRUE(tags.columns.empty());
  EXPECT_EQ(tags.policy.table, merge::Policy::kLww);
}

TEST(ServerSchema, RejectsMistakesNamingThePath) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "schema file"},
      {"[]", "(root)"},
      {R"({"tables": {}})", "tables"},
      {R"({"tables": {"t": {"key": ["id"], "columns": []}}, "extra": 1})", "extra"},
      {R"({"tables": {"t": {"key": ["id"], "columns": [], "colums": []}}})", "tables.t.colums"},
      {R"({"tables": {"bad name": {"key": ["id"], "columns": []}}})", "tables.bad name"},
      {R"({"tables": {"t": {"columns": ["a"]}}})", "tables.t.key"},
      {R"({"tables": {"t": {"key": ["id"]}}})", "tables.t.columns"},
      {R"({"tables": {"t": {"key": [], "columns": ["a"]}}})", "tables.t.key"},
      {R"({"tables": {"t": {"key": ["id"], "columns": ["a; DROP TABLE x"]}}})", "tables.t.columns[0]"},
      {R"({"tables": {"t": {"key": ["id"], "columns": ["a", "a"]}}})", "tables.t.columns[1]"},
      {R"({"tables": {"t": {"key": ["id"], "columns": ["a", "id"]}}})", "tables.t.columns[1]"},
      {R"({"tables": {"t": {"key": ["id"], "columns": [1]}}})", "tables.t.columns[0]"},
      {R"({"tables": {"t": {"key": ["id"], "columns": ["a"], "policy": "newest"}}})", "tables.t.policy"},
      {R"({"tables": {"t": {"key": ["id"], "columns": ["a"], "policy": "counter"}}})", "tables.t.policy"},
      {R"({"tables": {"t": {"key": ["id"], "columns": ["a"], "columnPolicies": {"a": "delete-wins"}}}})",
       "tables.t.columnPolicies.a"},
      {R"({"tables": {"t": {"key": ["id"], "columns": ["a"], "columnPolicies": {"b": "lww"}}}})",
       "tables.t.columnPolicies.b"},
      {R"({"tables": {"t": {"key": ["id"], "columns": ["a"], "columnPolicies": {"id": "lww"}}}})",
       "tables.t.columnPolicies.id"},
      {R"({"tables": {"t": {"key": ["id"], "columns": ["a"], "scopeColumn": "p"}}})", "tables.t.scopeColumn"},
      {R"({"tables": {"t": {"key": ["id"], "columns": ["a"], "scopeColumn": "a", "scope": "s"}}})", "tables.t"},
      {R"({"tables": {"t": {"key": ["id"], "columns": ["a"], "scope": "has space"}}})", "tables.t.scope"},
      {R"({"tables": {"t": {"key": ["id"], "columns": ["a"], "scopeColumn": "a",
                            "columnPolicies": {"a": "counter"}}}})",
       "tables.t.columnPolicies.a"},
      {R"({"tables": {"t": {"key": ["id"], "key": ["id"], "columns": []}}})", "schema file"},  // duplicate key
  };
  for (const auto& [json, path] : cases) {
    Schema schema;
    const Status s = Schema::FromJson(json, &schema);
    EXPECT_EQ(s.code(), "INVALID_ARGUMENT") << json;
    EXPECT_NE(s.message().find(path), std::string::npos) << json << " → " << s.message();
  }
}

TEST(ServerSchema, ScopeColumnMayBeAKeyColumn) {
  Schema schema;
  const Status s = Schema::FromJson(
      R"({"tables": {"t": {"key": ["team", "id"], "columns": ["a"], "scopeColumn": "team"}}})", &schema);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(schema.tables.at("t").scope_column, "team");
}

TEST(ServerPrincipal, AllowsItsScopesOrEverythingWithStar) {
  Principal p{"u", "d", {"team-a", "user:1"}};
  EXPECT_TRUE(p.Allows("team-a"));
  EXPECT_TRUE(p.Allows("user:1"));
  EXPECT_FALSE(p.Allows("team-b"));
  EXPECT_FALSE(p.Allows(""));
  EXPECT_FALSE(Principal{}.Allows("team-a"));
  Principal admin{"a", "d", {"*"}};
  EXPECT_TRUE(admin.Allows("team-b"));
  EXPECT_TRUE(admin.Allows("anything"));
}

}  // namespace
}  // namespace outpost::server
