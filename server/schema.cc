// The server's schema file: which tables sync, their keys, columns, scopes and merge policies
// (docs/server.md, "Schema file"). Parsed strictly, like the protocol: a typo in the file fails at start-up
// with the path of the offending field instead of silently syncing the wrong thing.
#include <algorithm>
#include <set>

#include "protocol_json.h"
#include "store.h"
#include "store_core.h"

namespace outpost::server {
namespace {

using protocol::json::Json;

Status Bad(const std::string& path, const std::string& what) {
  return Status::Error("INVALID_ARGUMENT",
                       "schema file: " + path + ": " + what + " (see docs/server.md, \"Schema file\")");
}

// A non-empty-or-not array of unique identifiers.
Status GetNames(const Json& j, const std::string& path, bool allow_empty, size_t max, std::vector<std::string>* out) {
  if (!j.is_array()) return Bad(path, "expected an array of column names");
  if (j.empty() && !allow_empty) return Bad(path, "expected at least one column name");
  if (j.size() > max) return Bad(path, "at most " + std::to_string(max) + " columns");
  std::set<std::string> seen;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string element = path + "[" + std::to_string(i) + "]";
    if (!j[i].is_string()) return Bad(element, "expected a column name (a string)");
    const std::string& name = j[i].get_ref<const std::string&>();
    if (!protocol::IsIdentifier(name)) {
      return Bad(element, "\"" + name.substr(0, 70) + "\" is not an identifier ([A-Za-z_][A-Za-z0-9_]{0,62})");
    }
    if (!seen.insert(name).second) return Bad(element, "column \"" + name + "\" is listed twice");
    out->push_back(name);
  }
  return Status::OK();
}

Status GetPolicy(const Json& j, const std::string& path, merge::Policy* out) {
  if (!j.is_string() || !merge::ParsePolicy(j.get_ref<const std::string&>(), out).ok()) {
    return Bad(path, "expected one of \"lww\", \"manual\", \"first-writer-wins\", \"delete-wins\", \"counter\"");
  }
  return Status::OK();
}

Status ParseTable(const std::string& name, const Json& j, const std::string& path, TableSchema* t) {
  if (!j.is_object()) return Bad(path, "expected an object with \"key\" and \"columns\"");
  for (const auto& [field, unused] : j.items()) {
    static const std::set<std::string> kFields = {"key", "columns", "scopeColumn", "scope", "policy", "columnPolicies"};
    if (!kFields.count(field)) {
      return Bad(path + "." + field,
                 "unknown field; a table has key, columns, scopeColumn or scope, policy, columnPolicies");
    }
  }
  t->name = name;
  protocol::Limits limits;
  const Json* key = protocol::json::Find(j, "key");
  if (key == nullptr) return Bad(path + ".key", "missing: the table's primary-key columns, e.g. [\"id\"]");
  OUTPOST_RETURN_IF_ERROR(GetNames(*key, path + ".key", false, limits.max_key_columns, &t->key));
  if (const Json* columns = protocol::json::Find(j, "columns")) {
    OUTPOST_RETURN_IF_ERROR(GetNames(*columns, path + ".columns", true, limits.max_columns, &t->columns));
  } else {
    return Bad(path + ".columns", "missing: the synced non-key columns, e.g. [\"title\"] (may be empty)");
  }
  for (size_t i = 0; i < t->columns.size(); ++i) {
    if (std::find(t->key.begin(), t->key.end(), t->columns[i]) != t->key.end()) {
      return Bad(path + ".columns[" + std::to_string(i) + "]",
                 "\"" + t->columns[i] + "\" is a key column; list it in key only");
    }
  }
  const Json* scope_column = protocol::json::Find(j, "scopeColumn");
  const Json* scope = protocol::json::Find(j, "scope");
  if (scope_column != nullptr && scope != nullptr) {
    return Bad(path, "give either scopeColumn (each row's scope is a column's value) or scope (one fixed scope)");
  }
  if (scope_column != nullptr) {
    if (!scope_column->is_string()) return Bad(path + ".scopeColumn", "expected a column name");
    t->scope_column = scope_column->get<std::string>();
    const bool in_key = std::count(t->key.begin(), t->key.end(), t->scope_column) > 0;
    const bool in_columns = std::count(t->columns.begin(), t->columns.end(), t->scope_column) > 0;
    if (!in_key && !in_columns) {
      return Bad(path + ".scopeColumn", "\"" + t->scope_column.substr(0, 70) + "\" is not in key or columns");
    }
  }
  if (scope != nullptr) {
    if (!scope->is_string() || !core::IsScope(scope->get_ref<const std::string&>())) {
      return Bad(path + ".scope", "expected a scope: 1-128 characters from A-Z a-z 0-9 . _ : -");
    }
    t->scope = scope->get<std::string>();
  }
  if (const Json* policy = protocol::json::Find(j, "policy")) {
    OUTPOST_RETURN_IF_ERROR(GetPolicy(*policy, path + ".policy", &t->policy.table));
    if (t->policy.table == merge::Policy::kCounter) {
      return Bad(path + ".policy", "\"counter\" is a column policy; set it in columnPolicies");
    }
  }
  if (const Json* overrides = protocol::json::Find(j, "columnPolicies")) {
    if (!overrides->is_object()) return Bad(path + ".columnPolicies", "expected {\"<column>\": \"<policy>\"}");
    for (const auto& [column, policy_json] : overrides->items()) {
      const std::string cpath = path + ".columnPolicies." + column;
      if (std::find(t->columns.begin(), t->columns.end(), column) == t->columns.end()) {
        return Bad(cpath, "not one of the table's columns (key columns have no policy)");
      }
      merge::Policy policy;
      OUTPOST_RETURN_IF_ERROR(GetPolicy(policy_json, cpath, &policy));
      if (policy == merge::Policy::kDeleteWins) {
        return Bad(cpath, "\"delete-wins\" is a table policy; set it in policy");
      }
      if (policy == merge::Policy::kCounter && column == t->scope_column) {
        return Bad(cpath, "the scope column cannot be a counter");
      }
      t->policy.columns[column] = policy;
    }
  }
  if (Status s = t->policy.Validate(); !s.ok()) return Bad(path, s.message());
  return Status::OK();
}

}  // namespace

Status Schema::FromJson(const std::string& json, Schema* out) {
  protocol::Limits limits;
  limits.max_body_bytes = 16 << 20;
  Json root;
  if (Status s = protocol::json::Parse(json, limits, &root); !s.ok()) {
    return Status::Error("INVALID_ARGUMENT", "schema file: " + s.message());
  }
  if (!root.is_object()) return Bad("(root)", "expected an object {\"tables\": {...}}");
  for (const auto& [field, unused] : root.items()) {
    if (field != "tables") return Bad(field, "unknown field; the schema file has only \"tables\"");
  }
  const Json* tables = protocol::json::Find(root, "tables");
  if (tables == nullptr || !tables->is_object() || tables->empty()) {
    return Bad("tables", "expected an object with at least one table, {\"<table>\": {...}}");
  }
  Schema schema;
  for (const auto& [name, table] : tables->items()) {
    const std::string path = "tables." + name;
    if (!protocol::IsIdentifier(name)) {
      return Bad(path, "table name is not an identifier ([A-Za-z_][A-Za-z0-9_]{0,62})");
    }
    OUTPOST_RETURN_IF_ERROR(ParseTable(name, table, path, &schema.tables[name]));
  }
  *out = std::move(schema);
  return Status::OK();
}

bool Principal::Allows(const std::string& scope) const {
  return std::any_of(scopes.begin(), scopes.end(), [&](const std::string& s) { return s == "*" || s == scope; });
}

}  // namespace outpost::server
