// SyncConfig::FromJson: the `sync` option of open() as JSON (docs/sync.md, "Configuration"). Strict like
// the protocol: unknown fields, wrong types and invalid names are INVALID_ARGUMENT naming the field, so a
// typo in the config fails at open instead of silently syncing nothing.
#include <limits>

#include "outpost/sync_engine.h"
#include "protocol_json.h"

namespace outpost {

namespace {

namespace pj = protocol::json;
using pj::Json;

Status Bad(const std::string& path, const std::string& what) {
  return Status::Error("INVALID_ARGUMENT", "sync." + path + ": " + what);
}

Status GetMs(const Json& j, const std::string& path, int64_t min, int64_t* out) {
  if (!j.is_number_integer() || j.get<int64_t>() < min)
    return Bad(path, "expected an integer >= " + std::to_string(min) + " (milliseconds or a count).");
  *out = j.get<int64_t>();
  return Status::OK();
}

Status GetSize(const Json& j, const std::string& path, size_t min, size_t* out) {
  int64_t v;
  OUTPOST_RETURN_IF_ERROR(GetMs(j, path, static_cast<int64_t>(min), &v));
  *out = static_cast<size_t>(v);
  return Status::OK();
}

Status ParseTable(const std::string& name, const Json& j, TrackedTable* out) {
  const std::string path = "tables." + name;
  if (!protocol::IsIdentifier(name)) return Bad("tables", "\"" + name + "\" is not a valid table name.");
  if (!j.is_object()) return Bad(path, "expected an object {primaryKey, policy?, columns?}.");
  for (const auto& [key, value] : j.items()) {
    if (key == "primaryKey") {
      if (value.is_string()) {
        out->key = {value.get<std::string>()};
      } else if (value.is_array() && !value.empty()) {
        for (const auto& k : value) {
          if (!k.is_string()) return Bad(path + ".primaryKey", "expected column names.");
          out->key.push_back(k.get<std::string>());
        }
      } else {
        return Bad(path + ".primaryKey", "expected a column name or a non-empty array of them.");
      }
      for (const auto& k : out->key)
        if (!protocol::IsIdentifier(k)) return Bad(path + ".primaryKey", "\"" + k + "\" is not a valid column name.");
    } else if (key == "policy") {
      if (!value.is_string()) return Bad(path + ".policy", "expected a policy name.");
      Status s = merge::ParsePolicy(value.get<std::string>(), &out->policy.table);
      if (!s.ok()) return Bad(path + ".policy", s.message());
    } else if (key == "columns") {
      if (!value.is_object()) return Bad(path + ".columns", "expected {\"column\": \"policy\"}.");
      for (const auto& [col, policy] : value.items()) {
        if (!protocol::IsIdentifier(col)) return Bad(path + ".columns", "\"" + col + "\" is not a valid column name.");
        if (!policy.is_string()) return Bad(path + ".columns." + col, "expected a policy name.");
        merge::Policy p;
        Status s = merge::ParsePolicy(policy.get<std::string>(), &p);
        if (!s.ok()) return Bad(path + ".columns." + col, s.message());
        out->policy.columns[col] = p;
      }
    } else {
      return Bad(path + "." + key, "unknown field (expected primaryKey, policy, columns).");
    }
  }
  if (out->key.empty()) return Bad(path + ".primaryKey", "required: name the primary-key column(s).");
  for (const auto& k : out->key)
    if (out->policy.columns.count(k)) return Bad(path + ".columns." + k, "a primary-key column has no policy.");
  if (Status s = out->policy.Validate(); !s.ok()) return Bad(path, s.message());
  return Status::OK();
}

}  // namespace

Status SyncConfig::FromJson(const std::string& text, SyncConfig* out) {
  Json root;
  if (Status s = pj::Parse(text, protocol::Limits{}, &root); !s.ok()) return Bad("", s.message());
  if (!root.is_object()) return Bad("", "expected a JSON object.");
  SyncConfig c;
  for (const auto& [key, v] : root.items()) {
    Status s;
    if (key == "url" || key == "token") {
      continue;  // the JS transport's
    } else if (key == "clientId") {
      if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>().size() > protocol::kMaxClientIdLength)
        return Bad(key, "expected 1-128 characters from A-Z a-z 0-9 . _ : -");
      c.client_id = v.get<std::string>();
    } else if (key == "tables") {
      if (!v.is_object()) return Bad(key, "expected {\"table\": {primaryKey, policy?, columns?}}.");
      for (const auto& [name, table] : v.items()) {
        TrackedTable t;
        OUTPOST_RETURN_IF_ERROR(ParseTable(name, table, &t));
        c.tables[name] = std::move(t);
      }
    } else if (key == "scopes") {
      if (!v.is_array()) return Bad(key, "expected an array of scope strings.");
      for (const auto& scope : v) {
        if (!scope.is_string()) return Bad(key, "expected an array of scope strings.");
        c.scopes.push_back(scope.get<std::string>());
      }
    } else if (key == "paused") {
      if (!v.is_boolean()) return Bad(key, "expected true or false.");
      c.paused = v.get<bool>();
    } else if (key == "retry") {
      if (!v.is_object()) return Bad(key, "expected {baseMs, factor, capMs, maxAttempts}.");
      for (const auto& [rk, rv] : v.items()) {
        const std::string path = "retry." + rk;
        if (rk == "baseMs") s = GetMs(rv, path, 0, &c.retry.base_ms);
        else if (rk == "capMs") s = GetMs(rv, path, 0, &c.retry.cap_ms);
        else if (rk == "factor") {
          if (!rv.is_number() || rv.get<double>() < 1.0 || rv.get<double>() > 100.0)
            return Bad(path, "expected a number in [1, 100].");
          c.retry.factor = rv.get<double>();
        } else if (rk == "maxAttempts") {
          int64_t n;
          s = GetMs(rv, path, 0, &n);
          c.retry.max_attempts = static_cast<int>(std::min<int64_t>(n, std::numeric_limits<int>::max()));
        } else {
          return Bad(path, "unknown field (expected baseMs, factor, capMs, maxAttempts).");
        }
        if (!s.ok()) return s;
      }
    } else if (key == "batchSize") {
      s = GetSize(v, key, 1, &c.batch_size);
      if (s.ok() && c.batch_size > protocol::Limits{}.max_ops)
        return Bad(key, "at most " + std::to_string(protocol::Limits{}.max_ops) + " operations per request.");
    } else if (key == "maxInflightPushes") {
      s = GetSize(v, key, 1, &c.max_inflight_pushes);
      if (s.ok() && c.max_inflight_pushes > 4) return Bad(key, "at most 4 push requests in flight.");
    } else if (key == "pullPageSize") s = GetSize(v, key, 1, &c.pull_page_size);
    else if (key == "maxOutboxOps") s = GetSize(v, key, 1, &c.max_outbox_ops);
    else if (key == "maxOutboxBytes") s = GetSize(v, key, 1, &c.max_outbox_bytes);
    else if (key == "pullIntervalMs") s = GetMs(v, key, 0, &c.pull_interval_ms);
    else if (key == "inflightTimeoutMs") s = GetMs(v, key, 1, &c.inflight_timeout_ms);
    else if (key == "requestTimeoutMs") s = GetMs(v, key, 1, &c.request_timeout_ms);
    else if (key == "doneRetentionMs") s = GetMs(v, key, 0, &c.done_retention_ms);
    else if (key == "transitioningMs") s = GetMs(v, key, 0, &c.transitioning_ms);
    else if (key == "heartbeatOnlineMs") s = GetMs(v, key, 1, &c.heartbeat_online_ms);
    else if (key == "heartbeatOfflineMinMs") s = GetMs(v, key, 1, &c.heartbeat_offline_min_ms);
    else if (key == "heartbeatOfflineMaxMs") s = GetMs(v, key, 1, &c.heartbeat_offline_max_ms);
    else if (key == "degradedLatencyMs") s = GetMs(v, key, 0, &c.degraded_latency_ms);
    else if (key == "staleAfterMs") s = GetMs(v, key, 0, &c.stale_after_ms);
    else if (key == "maxDriftMs") s = GetMs(v, key, 0, &c.max_drift_ms);
    else return Bad(key, "unknown field; see docs/sync.md for the options.");
    if (!s.ok()) return s;
  }
  if (c.heartbeat_offline_max_ms < c.heartbeat_offline_min_ms)
    return Bad("heartbeatOfflineMaxMs", "must be >= heartbeatOfflineMinMs.");
  *out = std::move(c);
  return Status::OK();
}

}  // namespace outpost
