// The backend-neutral half of every Store (store_core.h): per-operation validation, scopes, merging,
// version assignment and pull pages. sqlite_store.cc and pg_store.cc only move rows in and out.
#include <algorithm>
#include <limits>
#include <set>

#include "protocol_json.h"
#include "store_core.h"

namespace outpost::server::core {
namespace {

using protocol::Columns;
using protocol::Operation;
using protocol::OpOutcome;
using protocol::OpStatus;
using protocol::json::Json;

protocol::Limits StoredDataLimits() {
  protocol::Limits limits;
  limits.max_body_bytes = size_t{1} << 30;
  limits.max_columns = size_t{1} << 20;
  limits.max_ops = size_t{1} << 20;
  return limits;
}

Status Corrupt(const std::string& what, const Status& s) {
  return Status::Error("INTERNAL", "Stored " + what + " is unreadable (" + s.message() +
                                       "); the store was modified outside outpost-server or is corrupt.");
}

constexpr const char* kPlaceholderId = "00000000-0000-7000-8000-000000000000";

// Messages stay within the protocol's limit, so every logged outcome decodes again on a replay.
OpOutcome Rejected(std::string code, std::string message) {
  OpOutcome o;
  o.status = OpStatus::kRejected;
  o.code = std::move(code);
  if (message.size() > protocol::kMaxMessageLength) {
    size_t cut = protocol::kMaxMessageLength - 3;
    while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;  // not mid-character
    message = message.substr(0, cut) + "...";
  }
  o.message = std::move(message);
  return o;
}

// The scope a scope-column value names, or an error message.
bool ScopeOf(const Value& v, std::string* scope) {
  if (const int64_t* i = std::get_if<int64_t>(&v)) {
    *scope = std::to_string(*i);
  } else if (const std::string* s = std::get_if<std::string>(&v)) {
    *scope = *s;
  } else {
    return false;
  }
  return IsScope(*scope);
}

std::string List(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Whether an operation's HLCs are within max_drift of the server clock.
bool WithinDrift(const Operation& op, int64_t limit_ms) {
  if (op.hlc.wall_ms > limit_ms) return false;
  return std::all_of(op.columns.begin(), op.columns.end(),
                     [&](const auto& c) { return c.second.hlc.wall_ms <= limit_ms; });
}

class BatchApplier {
 public:
  BatchApplier(const Schema& schema, const StoreOptions& options, const Principal& who, int64_t now_ms,
               std::map<RowRef, StoredRow>* rows, int64_t* next_version)
      : schema_(schema), options_(options), who_(who), now_ms_(now_ms), rows_(rows), next_version_(next_version) {}

  OpOutcome Apply(const Operation& op, PushWrites* writes) {
    const int64_t limit_ms = now_ms_ + options_.max_drift_ms;
    if (!WithinDrift(op, limit_ms)) {
      return Rejected("CLOCK_DRIFT", "An HLC of this operation is more than " + std::to_string(options_.max_drift_ms) +
                                         " ms ahead of the server clock; correct the device's clock.");
    }
    if (!op.is_row_op()) return ApplyCustom(op, writes);
    auto t = schema_.tables.find(op.table);
    if (t == schema_.tables.end()) {
      return Rejected("UNKNOWN_TABLE",
                      "No synced table \"" + op.table + "\"; the server's schema file lists the tables that sync.");
    }
    const TableSchema& table = t->second;
    if (Status s = CheckColumns(table, op); !s.ok()) return Rejected(s.code(), s.message());

    const RowRef ref{op.table, EncodeKey(op.key)};
    auto found = rows_->find(ref);
    StoredRow row;
    if (found != rows_->end()) {
      row = found->second;
    } else {
      row.table = op.table;
      row.key_json = ref.second;
      row.scope = table.scope_column.empty() ? table.scope : "";
    }
    if (!row.scope.empty() && !who_.Allows(row.scope)) {  // also before merging: a conflict shows the row
      return Forbidden(row.scope);
    }
    // The scope the operation itself names (key or scope column value).
    std::string op_scope;
    bool has_op_scope = false;
    if (!table.scope_column.empty()) {
      const Value* v = nullptr;
      if (auto k = op.key.find(table.scope_column); k != op.key.end()) v = &k->second;
      if (auto c = op.columns.find(table.scope_column); op.kind == protocol::kUpsert && c != op.columns.end()) {
        v = &c->second.value;
      }
      if (v != nullptr) {
        if (!ScopeOf(*v, &op_scope)) {
          return Rejected("INVALID_ARGUMENT", "\"" + table.scope_column + "\" is the scope of table \"" + table.name +
                                                  "\": give TEXT or INTEGER, 1-128 characters from "
                                                  "A-Z a-z 0-9 . _ : -");
        }
        has_op_scope = true;
        if (!who_.Allows(op_scope)) return Forbidden(op_scope);
      } else if (row.scope.empty() && op.kind == protocol::kUpsert) {
        return Rejected("INVALID_ARGUMENT", "A new row of table \"" + table.name + "\" needs its scope column \"" +
                                                table.scope_column + "\".");
      }
    }

    merge::Outcome m;
    if (Status s = merge::ApplyOperation(table.policy, row.state, op, *next_version_, &m); !s.ok()) {
      return Rejected(s.code().empty() ? "INVALID_ARGUMENT" : s.code(), s.message());
    }
    if (m.changed) {
      std::string scope = row.scope;
      if (!table.scope_column.empty()) {
        std::string from_row;
        auto c = m.next.columns.find(table.scope_column);
        if (has_op_scope && op.key.count(table.scope_column)) {
          scope = op_scope;
        } else if (c != m.next.columns.end() && ScopeOf(c->second.value, &from_row)) {
          scope = from_row;
        } else if (scope.empty() && has_op_scope) {
          scope = op_scope;
        }
      }
      if (!scope.empty() && !who_.Allows(scope)) return Forbidden(scope);
      row.state = std::move(m.next);
      row.state.version = (*next_version_)++;
      row.scope = std::move(scope);
      row.changed_ms = now_ms_;
      (*rows_)[ref] = row;
      changed_.insert(ref);
    }
    OpOutcome out;
    out.version = row.state.version;
    if (m.conflict()) {
      out.status = OpStatus::kConflict;
      out.deleted = row.state.deleted;
      out.refused = m.conflicts;
      if (!row.state.deleted) {
        for (const auto& [name, col] : row.state.columns) out.current[name] = {col.value, col.hlc};
      }
    }
    return out;
  }

  const std::set<RowRef>& changed() const { return changed_; }

 private:
  OpOutcome Forbidden(const std::string& scope) {
    return Rejected("FORBIDDEN", "The row is in scope \"" + scope +
                                     "\", which this device's token does not allow; ask for a token with it.");
  }

  // Custom operations have no handler on the reference server: they are logged (custom_ops) and answered
  // `applied` with a version, so the client's outbox moves on; an integration reads custom_ops.
  OpOutcome ApplyCustom(const Operation& op, PushWrites* writes) {
    if (op.entity.find('\0') != std::string::npos || op.target.find('\0') != std::string::npos) {
      return Rejected("INVALID_ARGUMENT", "entity and target must not contain NUL characters.");
    }
    CustomOpEntry e;
    e.id = op.id;
    e.kind = op.kind;
    e.entity = op.entity;
    e.target = op.target;
    e.payload = op.payload;
    e.user = who_.user;
    e.version = (*next_version_)++;
    e.created_ms = now_ms_;
    writes->custom.push_back(e);
    OpOutcome out;
    out.version = e.version;
    return out;
  }

  Status CheckColumns(const TableSchema& table, const Operation& op) {
    bool key_ok = op.key.size() == table.key.size();
    for (const std::string& k : table.key) key_ok = key_ok && op.key.count(k) > 0;
    if (!key_ok) {
      return Status::Error("INVALID_ARGUMENT", "The key of table \"" + table.name + "\" is exactly (" +
                                                   List(table.key) + "); send those columns in key.");
    }
    for (const auto& [name, unused] : op.columns) {
      if (std::count(table.columns.begin(), table.columns.end(), name)) continue;
      if (std::count(table.key.begin(), table.key.end(), name)) {
        return Status::Error("INVALID_ARGUMENT", "\"" + name + "\" is a key column of table \"" + table.name +
                                                     "\"; it goes in key, not in columns.");
      }
      return Status::Error("UNKNOWN_COLUMN", "Table \"" + table.name + "\" has no synced column \"" + name +
                                                 "\"; the server's schema file lists them.");
    }
    return Status::OK();
  }

  const Schema& schema_;
  const StoreOptions& options_;
  const Principal& who_;
  const int64_t now_ms_;
  std::map<RowRef, StoredRow>* rows_;
  int64_t* next_version_;
  std::set<RowRef> changed_;
};

}  // namespace

bool IsScope(const std::string& s) {
  if (s.empty() || s.size() > protocol::kMaxScopeLength) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == ':' || c == '-';
  });
}

Status RunPush(const Schema& schema, const StoreOptions& options, const Principal& who,
               const protocol::PushRequest& request, int64_t now_ms, PushTxn* txn, protocol::PushResponse* response) {
  response->results.clear();
  std::vector<std::string> ids;
  std::vector<RowRef> refs;
  for (const Operation& op : request.ops) {
    ids.push_back(op.id);
    if (op.is_row_op() && schema.tables.count(op.table)) refs.emplace_back(op.table, EncodeKey(op.key));
  }
  std::sort(refs.begin(), refs.end());
  refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
  std::map<std::string, LoggedOp> logged;
  OUTPOST_RETURN_IF_ERROR(txn->FindOps(ids, &logged));
  std::map<RowRef, StoredRow> rows;
  OUTPOST_RETURN_IF_ERROR(txn->LoadRows(refs, &rows));
  int64_t next_version = kProvisional;

  PushWrites writes;
  std::vector<size_t> logged_results;  // index in response->results of each writes.ops entry
  BatchApplier applier(schema, options, who, now_ms, &rows, &next_version);
  for (const Operation& op : request.ops) {
    protocol::OpResult r;
    r.id = op.id;
    if (auto it = logged.find(op.id); it != logged.end()) {
      if (it->second.user != who.user) {
        // Someone else's id: answering with its outcome would leak their rows, recording would change it.
        r.outcome = Rejected("FORBIDDEN",
                             "This operation id was used by another user; give every operation "
                             "a fresh UUIDv7.");
      } else {
        r.duplicate = true;
        r.outcome = it->second.outcome;
      }
      response->results.push_back(std::move(r));
      continue;
    }
    r.outcome = applier.Apply(op, &writes);
    logged[op.id] = {who.user, r.outcome};  // a repeated id later in the same batch is a duplicate
    // A rejected op changed nothing and is not recorded: sent again (the user's retry() once the reason is
    // gone, e.g. with a token that has the scope) it is judged again instead of answered with the old refusal.
    if (r.outcome.status == OpStatus::kRejected) {
      response->results.push_back(std::move(r));
      continue;
    }
    writes.ops.push_back({op.id, request.client_id, who.user, "", now_ms});
    logged_results.push_back(response->results.size());
    response->results.push_back(std::move(r));
  }
  if (writes.ops.empty()) return Status::OK();

  // Now that nothing is left to read, reserve the batch's versions and renumber the provisional ones.
  if (const int64_t count = next_version - kProvisional; count > 0) {
    int64_t first = 0;
    OUTPOST_RETURN_IF_ERROR(txn->ReserveVersions(count, &first));
    auto real = [first](int64_t& v) {
      if (v >= kProvisional) v = first + (v - kProvisional);
    };
    for (const RowRef& ref : applier.changed()) {
      StoredRow& row = rows.at(ref);
      real(row.state.version);
      for (auto& [name, column] : row.state.columns) real(column.version);
    }
    for (CustomOpEntry& c : writes.custom) real(c.version);
    for (protocol::OpResult& r : response->results) real(r.outcome.version);
  }
  for (size_t i = 0; i < writes.ops.size(); ++i) {
    writes.ops[i].outcome_json = EncodeOutcome(response->results[logged_results[i]].outcome);
  }
  for (CustomOpEntry& c : writes.custom) c.client_id = request.client_id;
  for (const RowRef& ref : applier.changed()) writes.rows.push_back(rows.at(ref));
  return txn->Write(writes);
}

Status RunPull(const Principal& who, const protocol::PullRequest& request, size_t page_size, PullReader* reader,
               protocol::PullResponse* response) {
  *response = protocol::PullResponse();
  int64_t after = 0;
  OUTPOST_RETURN_IF_ERROR(ParseCursor(request.cursor, &after));
  std::vector<std::string> scopes;
  const std::vector<std::string>* filter = &scopes;
  if (!request.scopes.empty()) {
    for (const std::string& s : request.scopes) {
      if (!who.Allows(s)) {
        return Status::Error("FORBIDDEN", "Scope \"" + s +
                                              "\" is not allowed by this device's token; subscribe "
                                              "only to the token's scopes or ask for a token with it.");
      }
    }
    scopes = request.scopes;
  } else if (who.Allows("*")) {
    filter = nullptr;  // the token allows every scope: no filter at all
  } else {
    scopes = who.scopes;
  }
  size_t limit = std::max<size_t>(1, page_size);
  if (request.limit && *request.limit >= 1) limit = std::min<size_t>(limit, static_cast<size_t>(*request.limit));

  PullSnapshot snap;
  OUTPOST_RETURN_IF_ERROR(reader->Read(after, filter, limit + 1, &snap));
  // A cursor below a pruned tombstone may have missed that delete; one beyond the newest version comes from
  // a store that lost data (restored from a backup): either way the client's copy cannot be trusted.
  if (!request.cursor.empty() && (after < snap.pruned_version || after > snap.current_version)) {
    response->resync_required = true;
    return Status::OK();
  }
  response->has_more = snap.rows.size() > limit;
  if (response->has_more) snap.rows.resize(limit);
  int64_t last = after;
  for (const ChangeRow& row : snap.rows) {
    protocol::Change c;
    c.table = row.table;
    c.version = row.version;
    c.deleted = row.deleted;
    if (Status s = DecodeKey(row.key_json, &c.key); !s.ok()) return Corrupt("key", s);
    if (row.deleted) {
      if (Status s = DecodeHlc(row.delete_hlc, &c.hlc); !s.ok()) return Corrupt("delete HLC", s);
    } else {
      std::map<std::string, merge::ColumnState> columns;
      if (Status s = DecodeColumns(row.columns_json, &columns); !s.ok()) return Corrupt("columns", s);
      for (auto& [name, col] : columns) c.columns[name] = {std::move(col.value), col.hlc};
    }
    last = row.version;
    response->changes.push_back(std::move(c));
  }
  response->cursor = MakeCursor(last);
  return Status::OK();
}

Status ParseCursor(const std::string& cursor, int64_t* version) {
  *version = 0;
  if (cursor.empty()) return Status::OK();
  const std::string digits = cursor.size() > 3 ? cursor.substr(3) : "";
  bool ok = cursor.rfind("v1.", 0) == 0 && !digits.empty() && digits.size() <= 16 &&
            std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
            (digits == "0" || digits[0] != '0');
  if (ok) {
    *version = std::stoll(digits);
    ok = *version <= protocol::kMaxSafeInteger;
  }
  if (!ok) {
    *version = 0;
    return Status::Error("INVALID_ARGUMENT",
                         "cursor: not a cursor this server issued; pass the cursor of the "
                         "last pull response, or none to start over.");
  }
  return Status::OK();
}

std::string MakeCursor(int64_t version) { return "v1." + std::to_string(version); }

std::string EncodeKey(const protocol::Key& key) { return protocol::json::Dump(protocol::json::KeyToJson(key)); }

Status DecodeKey(const std::string& text, protocol::Key* key) {
  Json j;
  protocol::Limits limits = StoredDataLimits();
  OUTPOST_RETURN_IF_ERROR(protocol::json::Parse(text, limits, &j));
  return protocol::json::GetKey(j, "key", limits, key);
}

// Written directly (a push rewrites every row it touches): the bytes Dump() writes for the same tree.
std::string EncodeColumns(const std::map<std::string, merge::ColumnState>& columns) {
  std::string out = "{";
  for (const auto& [name, col] : columns) {
    if (out.size() > 1) out.push_back(',');
    protocol::json::AppendString(&out, name);
    out.append(":{\"hlc\":");
    protocol::json::AppendString(&out, Hlc::Encode(col.hlc));
    out.append(",\"value\":");
    protocol::json::AppendValue(&out, col.value);
    out.append(",\"version\":");
    out.append(std::to_string(col.version));
    out.push_back('}');
  }
  out.push_back('}');
  return out;
}

Status DecodeColumns(const std::string& text, std::map<std::string, merge::ColumnState>* columns) {
  columns->clear();
  Json j;
  OUTPOST_RETURN_IF_ERROR(protocol::json::Parse(text, StoredDataLimits(), &j));
  if (!j.is_object()) return Status::Error("INVALID_ARGUMENT", "columns: expected an object");
  for (const auto& [name, col] : j.items()) {
    const std::string path = "columns." + name;
    OUTPOST_RETURN_IF_ERROR(protocol::json::ExpectObject(col, path, {"value", "hlc", "version"}));
    const Json* f;
    merge::ColumnState state;
    OUTPOST_RETURN_IF_ERROR(protocol::json::Require(col, path, "value", &f));
    OUTPOST_RETURN_IF_ERROR(protocol::json::GetValue(*f, path + ".value", &state.value));
    OUTPOST_RETURN_IF_ERROR(protocol::json::Require(col, path, "hlc", &f));
    OUTPOST_RETURN_IF_ERROR(protocol::json::GetHlc(*f, path + ".hlc", &state.hlc));
    OUTPOST_RETURN_IF_ERROR(protocol::json::Require(col, path, "version", &f));
    OUTPOST_RETURN_IF_ERROR(
        protocol::json::GetInt(*f, path + ".version", 0, std::numeric_limits<int64_t>::max(), &state.version));
    (*columns)[name] = std::move(state);
  }
  return Status::OK();
}

std::string EncodeStringList(const std::vector<std::string>& list) {
  Json j = Json::array();
  for (const std::string& s : list) j.push_back(s);
  return protocol::json::Dump(j);
}

std::string EncodeHlc(const HlcTimestamp& ts) { return Hlc::Encode(ts); }

Status DecodeHlc(const std::string& text, HlcTimestamp* ts) { return Hlc::Decode(text, ts); }

// The op log keeps the result object without its id ({"status": "applied", "version": 5}): the protocol's
// own encoding of an outcome, so a replay answers byte for byte what the first delivery did. Decoding puts
// a placeholder id back to reuse the protocol decoder's checks.
std::string EncodeOutcome(const protocol::OpOutcome& outcome) {
  // Every op of a batch is logged: the common outcome is written directly (the same bytes).
  if (outcome.status == OpStatus::kApplied) {
    return "{\"status\":\"applied\",\"version\":" + std::to_string(outcome.version) + "}";
  }
  protocol::PushResponse r;
  r.results.push_back({kPlaceholderId, false, outcome});
  Json j;
  if (!protocol::json::Parse(protocol::Encode(r), StoredDataLimits(), &j).ok()) return "{}";
  Json result = j["results"][0];
  result.erase("id");
  return protocol::json::Dump(result);
}

Status DecodeOutcome(const std::string& text, protocol::OpOutcome* outcome) {
  Json result;
  if (Status s = protocol::json::Parse(text, StoredDataLimits(), &result); !s.ok()) return Corrupt("op outcome", s);
  if (!result.is_object()) return Corrupt("op outcome", Status::Error("INVALID_ARGUMENT", "expected an object"));
  result["id"] = kPlaceholderId;
  Json wrapped = protocol::json::Versioned();
  wrapped["results"] = Json::array({result});
  protocol::PushResponse r;
  if (Status s = protocol::Decode(protocol::json::Dump(wrapped), StoredDataLimits(), &r); !s.ok()) {
    return Corrupt("op outcome", s);
  }
  if (r.results.size() != 1 || r.results[0].duplicate) {
    return Corrupt("op outcome", Status::Error("INVALID_ARGUMENT", "expected one original result"));
  }
  *outcome = std::move(r.results[0].outcome);
  return Status::OK();
}

}  // namespace outpost::server::core
