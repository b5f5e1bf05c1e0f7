// Sync protocol v1, pull, health and error bodies: encoding and strict decoding (docs/protocol.md). Push
// messages are in protocol_push.cc; the building blocks (values, keys, columns, strict parsing) in
// protocol_json.cc.
#include "outpost/protocol.h"

#include <set>
#include <vector>

#include "protocol_json.h"

namespace outpost::protocol {
namespace {

using json::Element;
using json::Invalid;
using json::Json;
using json::kClientIdExtra;
using json::kCodeExtra;
using json::kCursorExtra;
using json::kScopeExtra;
using json::Member;
using json::Start;
using json::Versioned;

Status DecodeChange(const Json& j, const std::string& path, const Limits& limits, Change* c) {
  OUTPOST_RETURN_IF_ERROR(json::ExpectObject(j, path, {"table", "key", "version", "kind", "columns", "hlc"}));
  const Json* f;
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "table", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetIdentifier(*f, Member(path, "table"), &c->table));
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "key", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetKey(*f, Member(path, "key"), limits, &c->key));
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "version", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetInt(*f, Member(path, "version"), 0, kMaxSafeInteger, &c->version));
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "kind", &f));
  const std::string kind = f->is_string() ? f->get<std::string>() : "";
  if (kind != kUpsert && kind != kDelete) return Invalid(Member(path, "kind"), "expected \"upsert\" or \"delete\"");
  c->deleted = kind == kDelete;
  if (c->deleted) {
    if (json::Find(j, "columns") != nullptr) return Invalid(Member(path, "columns"), "not allowed in a tombstone");
    OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "hlc", &f));
    return json::GetHlc(*f, Member(path, "hlc"), &c->hlc);
  }
  if (json::Find(j, "hlc") != nullptr) return Invalid(Member(path, "hlc"), "only tombstones carry a row HLC");
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "columns", &f));
  return json::GetColumns(*f, Member(path, "columns"), limits, &c->columns);
}

}  // namespace

std::string Encode(const PullRequest& m) {
  Json j = Versioned();
  j["clientId"] = m.client_id;
  if (!m.cursor.empty()) j["cursor"] = m.cursor;
  if (m.limit) j["limit"] = *m.limit;
  if (!m.scopes.empty()) j["scopes"] = m.scopes;
  return json::Dump(j);
}

Status Decode(std::string_view text, const Limits& limits, PullRequest* out) {
  Json root;
  OUTPOST_RETURN_IF_ERROR(Start(text, limits, &root));
  OUTPOST_RETURN_IF_ERROR(json::ExpectObject(root, "", {"protocol", "clientId", "cursor", "limit", "scopes"}));
  const Json* f;
  OUTPOST_RETURN_IF_ERROR(json::Require(root, "", "clientId", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetToken(*f, "clientId", kMaxClientIdLength, kClientIdExtra, &out->client_id));
  out->cursor.clear();
  if ((f = json::Find(root, "cursor")) != nullptr) {
    OUTPOST_RETURN_IF_ERROR(json::GetToken(*f, "cursor", kMaxCursorLength, kCursorExtra, &out->cursor));
  }
  out->limit.reset();
  if ((f = json::Find(root, "limit")) != nullptr) {
    int64_t limit;  // a hint: the server answers at most min(limit, its page size) changes
    OUTPOST_RETURN_IF_ERROR(json::GetInt(*f, "limit", 1, kMaxSafeInteger, &limit));
    out->limit = limit;
  }
  out->scopes.clear();
  if ((f = json::Find(root, "scopes")) != nullptr) {
    if (!f->is_array()) return Invalid("scopes", "expected an array of scope names");
    if (f->size() > limits.max_scopes) return json::TooLarge("scopes", f->size(), limits.max_scopes);
    std::set<std::string> seen;
    for (size_t i = 0; i < f->size(); ++i) {
      std::string scope;
      OUTPOST_RETURN_IF_ERROR(json::GetToken((*f)[i], Element("scopes", i), kMaxScopeLength, kScopeExtra, &scope));
      if (!seen.insert(scope).second) return Invalid(Element("scopes", i), scope + " is listed twice");
      out->scopes.push_back(std::move(scope));
    }
  }
  return Status::OK();
}

std::string Encode(const PullResponse& m) {
  Json j = Versioned();
  if (m.resync_required) {
    j["status"] = "resync-required";
    return json::Dump(j);
  }
  j["status"] = "ok";
  Json changes = Json::array();
  for (const Change& c : m.changes) {
    Json item{{"table", c.table}, {"key", json::KeyToJson(c.key)}, {"version", c.version}};
    if (c.deleted) {
      item["kind"] = kDelete;
      item["hlc"] = Hlc::Encode(c.hlc);
    } else {
      item["kind"] = kUpsert;
      item["columns"] = json::ColumnsToJson(c.columns);
    }
    changes.push_back(std::move(item));
  }
  j["changes"] = std::move(changes);
  j["cursor"] = m.cursor;
  j["hasMore"] = m.has_more;
  return json::Dump(j);
}

Status Decode(std::string_view text, const Limits& limits, PullResponse* out) {
  Json root;
  OUTPOST_RETURN_IF_ERROR(Start(text, limits, &root));
  const Json* f;
  OUTPOST_RETURN_IF_ERROR(json::Require(root, "", "status", &f));
  const std::string status = f->is_string() ? f->get<std::string>() : "";
  *out = PullResponse{};
  if (status == "resync-required") {
    out->resync_required = true;
    return json::ExpectObject(root, "", {"protocol", "status"});
  }
  if (status != "ok") return Invalid("status", "expected \"ok\" or \"resync-required\"");
  OUTPOST_RETURN_IF_ERROR(json::ExpectObject(root, "", {"protocol", "status", "changes", "cursor", "hasMore"}));
  OUTPOST_RETURN_IF_ERROR(json::Require(root, "", "cursor", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetToken(*f, "cursor", kMaxCursorLength, kCursorExtra, &out->cursor));
  OUTPOST_RETURN_IF_ERROR(json::Require(root, "", "hasMore", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetBool(*f, "hasMore", &out->has_more));
  OUTPOST_RETURN_IF_ERROR(json::Require(root, "", "changes", &f));
  if (!f->is_array()) return Invalid("changes", "expected an array of changes");
  if (f->size() > limits.max_page_size) return json::TooLarge("changes", f->size(), limits.max_page_size);
  out->changes.assign(f->size(), Change{});
  for (size_t i = 0; i < f->size(); ++i) {
    OUTPOST_RETURN_IF_ERROR(DecodeChange((*f)[i], Element("changes", i), limits, &out->changes[i]));
  }
  return Status::OK();
}

std::string Encode(const HealthResponse& m) {
  Json j = Versioned();
  j["status"] = m.status;
  j["protocols"] = m.protocols;
  j["serverTimeMs"] = m.server_time_ms;
  j["store"] = m.store;
  j["counts"] = m.counts;
  return json::Dump(j);
}

Status Decode(std::string_view text, const Limits& limits, HealthResponse* out) {
  Json root;
  OUTPOST_RETURN_IF_ERROR(Start(text, limits, &root));
  OUTPOST_RETURN_IF_ERROR(
      json::ExpectObject(root, "", {"protocol", "status", "protocols", "serverTimeMs", "store", "counts"}));
  const Json* f;
  OUTPOST_RETURN_IF_ERROR(json::Require(root, "", "status", &f));
  if (!f->is_string() || (*f != "ok" && *f != "unavailable")) {
    return Invalid("status", "expected \"ok\" or \"unavailable\"");
  }
  out->status = f->get<std::string>();
  OUTPOST_RETURN_IF_ERROR(json::Require(root, "", "protocols", &f));
  if (!f->is_array() || f->empty() || f->size() > 16) return Invalid("protocols", "expected 1..16 version numbers");
  out->protocols.clear();
  for (size_t i = 0; i < f->size(); ++i) {
    int64_t v;
    OUTPOST_RETURN_IF_ERROR(json::GetInt((*f)[i], Element("protocols", i), 1, 1000000, &v));
    out->protocols.push_back(v);
  }
  OUTPOST_RETURN_IF_ERROR(json::Require(root, "", "serverTimeMs", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetInt(*f, "serverTimeMs", 0, kMaxSafeInteger, &out->server_time_ms));
  OUTPOST_RETURN_IF_ERROR(json::Require(root, "", "store", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetString(*f, "store", 0, kMaxIdentifierLength, &out->store));
  OUTPOST_RETURN_IF_ERROR(json::Require(root, "", "counts", &f));
  if (!f->is_object()) return Invalid("counts", "expected an object of counters");
  if (f->size() > limits.max_columns) return json::TooLarge("counts", f->size(), limits.max_columns);
  out->counts.clear();
  for (auto it = f->begin(); it != f->end(); ++it) {
    const std::string path = Member("counts", it.key());
    std::string name;
    OUTPOST_RETURN_IF_ERROR(json::GetIdentifier(Json(it.key()), path, &name));
    int64_t v;
    OUTPOST_RETURN_IF_ERROR(json::GetInt(it.value(), path, 0, kMaxSafeInteger, &v));
    out->counts.emplace(std::move(name), v);
  }
  return Status::OK();
}

std::string Encode(const ErrorBody& m) {
  return json::Dump(Json{{"error", Json{{"code", m.code}, {"message", m.message}}}});
}

Status Decode(std::string_view text, const Limits& limits, ErrorBody* out) {
  Json root;
  OUTPOST_RETURN_IF_ERROR(json::Parse(text, limits, &root));  // unversioned: any version's errors read alike
  OUTPOST_RETURN_IF_ERROR(json::ExpectObject(root, "", {"error"}));
  const Json* error;
  OUTPOST_RETURN_IF_ERROR(json::Require(root, "", "error", &error));
  OUTPOST_RETURN_IF_ERROR(json::ExpectObject(*error, "error", {"code", "message"}));
  const Json* f;
  OUTPOST_RETURN_IF_ERROR(json::Require(*error, "error", "code", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetToken(*f, "error.code", kMaxCodeLength, kCodeExtra, &out->code));
  OUTPOST_RETURN_IF_ERROR(json::Require(*error, "error", "message", &f));
  return json::GetString(*f, "error.message", 0, kMaxMessageLength, &out->message);
}

ErrorBody ErrorFor(const Status& status) {
  if (status.ok()) return ErrorBody{"INTERNAL", "An error was reported without a cause."};
  return ErrorBody{status.code(), status.message()};
}

int HttpStatusFor(std::string_view code) {
  struct Entry {
    std::string_view code;
    int http;
  };
  static constexpr Entry kTable[] = {
      {"INVALID_JSON", 400},
      {"INVALID_ARGUMENT", 400},
      {"UNAUTHENTICATED", 401},
      {"FORBIDDEN", 403},
      {"NOT_FOUND", 404},
      {"METHOD_NOT_ALLOWED", 405},
      {"TOO_LARGE", 413},
      {"UNSUPPORTED_MEDIA_TYPE", 415},
      {"UNSUPPORTED_VERSION", 426},
      {"RATE_LIMITED", 429},
      {"INTERNAL", 500},
      {"UNAVAILABLE", 503},
  };
  for (const Entry& e : kTable) {
    if (e.code == code) return e.http;
  }
  return 400;
}

}  // namespace outpost::protocol
