// Sync protocol v1 messages: encoding and strict decoding (docs/protocol.md). The building blocks (values,
// keys, columns, strict parsing) live in protocol_json.cc; this file knows the shape of each message.
#include "outpost/protocol.h"

#include <set>
#include <vector>

#include "protocol_json.h"

namespace outpost::protocol {
namespace {

using json::Element;
using json::Invalid;
using json::Json;
using json::Member;

constexpr std::string_view kClientIdExtra = "._:-";
constexpr std::string_view kScopeExtra = "._:-";
constexpr std::string_view kCursorExtra = "._~:-";
constexpr std::string_view kCodeExtra = "_";

#define OUTPOST_RETURN_IF_ERROR(expr)   \
  do {                                  \
    if (Status _s = (expr); !_s.ok()) { \
      return _s;                        \
    }                                   \
  } while (0)

Json Versioned() { return Json{{"protocol", kVersion}}; }

bool ParsePriority(std::string_view name, Priority* p) {
  for (Priority candidate : {Priority::kCritical, Priority::kHigh, Priority::kNormal, Priority::kLow}) {
    if (PriorityName(candidate) == name) {
      *p = candidate;
      return true;
    }
  }
  return false;
}

// A custom kind: dotted lowercase words with at least one dot ("http.post"), so it never collides with the
// built-in row kinds.
bool IsCustomKind(std::string_view kind) {
  if (kind.empty() || kind.size() > kMaxKindLength) return false;
  bool dot = false;
  bool word_start = true;
  for (char c : kind) {
    if (c == '.') {
      if (word_start) return false;
      dot = true;
      word_start = true;
    } else if ((c >= 'a' && c <= 'z') || (!word_start && ((c >= '0' && c <= '9') || c == '_'))) {
      word_start = false;
    } else {
      return false;
    }
  }
  return dot && !word_start;
}

Status DecodeOperation(const Json& j, const std::string& path, const Limits& limits, Operation* op) {
  OUTPOST_RETURN_IF_ERROR(json::ExpectObject(
      j, path,
      {"id", "kind", "priority", "hlc", "table", "key", "columns", "baseVersion", "entity", "target", "payload"}));
  const Json* f;
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "id", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetOpId(*f, Member(path, "id"), &op->id));
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "kind", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetString(*f, Member(path, "kind"), 1, kMaxKindLength, &op->kind));
  const bool row = op->is_row_op();
  if (!row && !IsCustomKind(op->kind)) {
    return Invalid(Member(path, "kind"),
                   "expected \"upsert\", \"delete\" or a custom kind of dotted lowercase "
                   "words such as \"http.post\"");
  }
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "priority", &f));
  if (!f->is_string() || !ParsePriority(f->get_ref<const std::string&>(), &op->priority)) {
    return Invalid(Member(path, "priority"), "expected \"critical\", \"high\", \"normal\" or \"low\"");
  }
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "hlc", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetHlc(*f, Member(path, "hlc"), &op->hlc));

  const std::vector<std::string_view> row_fields = {"table", "key", "columns", "baseVersion"};
  const std::vector<std::string_view> custom_fields = {"entity", "target", "payload"};
  for (std::string_view name : row ? custom_fields : row_fields) {
    if (json::Find(j, name) != nullptr) {
      return Invalid(Member(path, name), std::string("not allowed in a ") + (row ? "row" : "custom") + " operation");
    }
  }
  if (!row) {
    OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "entity", &f));
    OUTPOST_RETURN_IF_ERROR(json::GetString(*f, Member(path, "entity"), 1, kMaxEntityLength, &op->entity));
    if ((f = json::Find(j, "target")) != nullptr) {
      OUTPOST_RETURN_IF_ERROR(json::GetString(*f, Member(path, "target"), 1, kMaxTargetLength, &op->target));
    }
    if ((f = json::Find(j, "payload")) != nullptr) op->payload = json::Dump(*f);
    return Status::OK();
  }
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "table", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetIdentifier(*f, Member(path, "table"), &op->table));
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "key", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetKey(*f, Member(path, "key"), limits, &op->key));
  if ((f = json::Find(j, "baseVersion")) != nullptr) {
    int64_t v;
    OUTPOST_RETURN_IF_ERROR(json::GetInt(*f, Member(path, "baseVersion"), 0, kMaxSafeInteger, &v));
    op->base_version = v;
  }
  if (op->kind == kDelete) {
    if (json::Find(j, "columns") != nullptr) return Invalid(Member(path, "columns"), "not allowed in a delete");
    return Status::OK();
  }
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "columns", &f));
  return json::GetColumns(*f, Member(path, "columns"), limits, &op->columns);
}

Json EncodeOperation(const Operation& op) {
  Json j{{"id", op.id}, {"kind", op.kind}, {"priority", PriorityName(op.priority)}, {"hlc", Hlc::Encode(op.hlc)}};
  if (op.is_row_op()) {
    j["table"] = op.table;
    j["key"] = json::KeyToJson(op.key);
    if (op.kind != kDelete) j["columns"] = json::ColumnsToJson(op.columns);
    if (op.base_version) j["baseVersion"] = *op.base_version;
  } else {
    j["entity"] = op.entity;
    if (!op.target.empty()) j["target"] = op.target;
    if (!op.payload.empty()) {
      Json payload = Json::parse(op.payload, nullptr, /*allow_exceptions=*/false);
      j["payload"] = payload.is_discarded() ? Json(op.payload) : std::move(payload);  // not JSON: send as a string
    }
  }
  return j;
}

// An outcome: a result's own fields (`with_id`), or a duplicate's "original" (no id of its own).
Status DecodeOutcome(const Json& j, const std::string& path, bool with_id, const Limits& limits, OpOutcome* out) {
  if (!j.is_object()) return Invalid(path, "expected an object");
  const Json* f;
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "status", &f));
  const std::string status = f->is_string() ? f->get<std::string>() : "";
  if (status == "applied") {
    out->status = OpStatus::kApplied;
    OUTPOST_RETURN_IF_ERROR(with_id ? json::ExpectObject(j, path, {"id", "status", "version"})
                                    : json::ExpectObject(j, path, {"status", "version"}));
  } else if (status == "conflict") {
    out->status = OpStatus::kConflict;
    OUTPOST_RETURN_IF_ERROR(with_id ? json::ExpectObject(j, path, {"id", "status", "version", "deleted", "columns"})
                                    : json::ExpectObject(j, path, {"status", "version", "deleted", "columns"}));
  } else if (status == "rejected") {
    out->status = OpStatus::kRejected;
    OUTPOST_RETURN_IF_ERROR(with_id ? json::ExpectObject(j, path, {"id", "status", "code", "message"})
                                    : json::ExpectObject(j, path, {"status", "code", "message"}));
  } else {
    return Invalid(Member(path, "status"), with_id ? "expected \"applied\", \"duplicate\", \"conflict\" or \"rejected\""
                                                   : "expected \"applied\", \"conflict\" or \"rejected\"");
  }
  if (out->status == OpStatus::kRejected) {
    OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "code", &f));
    OUTPOST_RETURN_IF_ERROR(json::GetToken(*f, Member(path, "code"), kMaxCodeLength, kCodeExtra, &out->code));
    OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "message", &f));
    return json::GetString(*f, Member(path, "message"), 0, kMaxMessageLength, &out->message);
  }
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "version", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetInt(*f, Member(path, "version"), 0, kMaxSafeInteger, &out->version));
  if (out->status == OpStatus::kApplied) return Status::OK();
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "deleted", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetBool(*f, Member(path, "deleted"), &out->deleted));
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "columns", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetColumns(*f, Member(path, "columns"), limits, &out->current));
  if (out->deleted && !out->current.empty()) {
    return Invalid(Member(path, "columns"), "must be empty when the row is deleted");
  }
  return Status::OK();
}

Status DecodeResult(const Json& j, const std::string& path, const Limits& limits, OpResult* out) {
  if (!j.is_object()) return Invalid(path, "expected an object");
  const Json* f;
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "id", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetOpId(*f, Member(path, "id"), &out->id));
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "status", &f));
  out->duplicate = f->is_string() && f->get_ref<const std::string&>() == "duplicate";
  if (!out->duplicate) return DecodeOutcome(j, path, /*with_id=*/true, limits, &out->outcome);
  OUTPOST_RETURN_IF_ERROR(json::ExpectObject(j, path, {"id", "status", "original"}));
  OUTPOST_RETURN_IF_ERROR(json::Require(j, path, "original", &f));
  return DecodeOutcome(*f, Member(path, "original"), /*with_id=*/false, limits, &out->outcome);
}

void EncodeOutcome(const OpOutcome& o, Json* j) {
  switch (o.status) {
    case OpStatus::kRejected:
      (*j)["status"] = "rejected";
      (*j)["code"] = o.code;
      (*j)["message"] = o.message;
      return;
    case OpStatus::kConflict:
      (*j)["status"] = "conflict";
      (*j)["version"] = o.version;
      (*j)["deleted"] = o.deleted;
      (*j)["columns"] = json::ColumnsToJson(o.current);
      return;
    default:
      (*j)["status"] = "applied";
      (*j)["version"] = o.version;
      return;
  }
}

// Parses a versioned message: strict JSON, an object, "protocol" equal to kVersion.
Status Start(std::string_view text, const Limits& limits, Json* root) {
  OUTPOST_RETURN_IF_ERROR(json::Parse(text, limits, root));
  return json::CheckProtocol(*root);
}

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

std::string_view PriorityName(Priority p) {
  switch (p) {
    case Priority::kCritical:
      return "critical";
    case Priority::kHigh:
      return "high";
    case Priority::kLow:
      return "low";
    default:
      return "normal";
  }
}

std::string Encode(const PushRequest& m) {
  Json j = Versioned();
  j["clientId"] = m.client_id;
  Json ops = Json::array();
  for (const Operation& op : m.ops) ops.push_back(EncodeOperation(op));
  j["ops"] = std::move(ops);
  return json::Dump(j);
}

Status Decode(std::string_view text, const Limits& limits, PushRequest* out) {
  Json root;
  OUTPOST_RETURN_IF_ERROR(Start(text, limits, &root));
  OUTPOST_RETURN_IF_ERROR(json::ExpectObject(root, "", {"protocol", "clientId", "ops"}));
  const Json* f;
  OUTPOST_RETURN_IF_ERROR(json::Require(root, "", "clientId", &f));
  OUTPOST_RETURN_IF_ERROR(json::GetToken(*f, "clientId", kMaxClientIdLength, kClientIdExtra, &out->client_id));
  OUTPOST_RETURN_IF_ERROR(json::Require(root, "", "ops", &f));
  if (!f->is_array()) return Invalid("ops", "expected an array of operations");
  if (f->empty()) return Invalid("ops", "a push needs at least one operation");
  if (f->size() > limits.max_ops) return json::TooLarge("ops", f->size(), limits.max_ops);
  out->ops.assign(f->size(), Operation{});
  std::set<std::string_view> ids;
  for (size_t i = 0; i < f->size(); ++i) {
    OUTPOST_RETURN_IF_ERROR(DecodeOperation((*f)[i], Element("ops", i), limits, &out->ops[i]));
    if (!ids.insert(out->ops[i].id).second) {
      return Invalid(Element("ops", i) + ".id", out->ops[i].id + " appears twice in the batch; op ids are unique");
    }
  }
  return Status::OK();
}

std::string Encode(const PushResponse& m) {
  Json j = Versioned();
  Json results = Json::array();
  for (const OpResult& r : m.results) {
    Json item{{"id", r.id}};
    if (r.duplicate) {
      item["status"] = "duplicate";
      Json original = Json::object();
      EncodeOutcome(r.outcome, &original);
      item["original"] = std::move(original);
    } else {
      EncodeOutcome(r.outcome, &item);
    }
    results.push_back(std::move(item));
  }
  j["results"] = std::move(results);
  return json::Dump(j);
}

Status Decode(std::string_view text, const Limits& limits, PushResponse* out) {
  Json root;
  OUTPOST_RETURN_IF_ERROR(Start(text, limits, &root));
  OUTPOST_RETURN_IF_ERROR(json::ExpectObject(root, "", {"protocol", "results"}));
  const Json* f;
  OUTPOST_RETURN_IF_ERROR(json::Require(root, "", "results", &f));
  if (!f->is_array()) return Invalid("results", "expected an array of results");
  if (f->size() > limits.max_ops) return json::TooLarge("results", f->size(), limits.max_ops);
  out->results.assign(f->size(), OpResult{});
  std::set<std::string_view> ids;
  for (size_t i = 0; i < f->size(); ++i) {
    OUTPOST_RETURN_IF_ERROR(DecodeResult((*f)[i], Element("results", i), limits, &out->results[i]));
    if (!ids.insert(out->results[i].id).second) {
      return Invalid(Element("results", i) + ".id", out->results[i].id + " is answered twice");
    }
  }
  return Status::OK();
}

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

Status CheckResultsMatch(const PushRequest& request, const PushResponse& response) {
  if (request.ops.size() != response.results.size()) {
    return Status::Error("INVALID_ARGUMENT", "The server answered " + std::to_string(response.results.size()) +
                                                 " results for " + std::to_string(request.ops.size()) +
                                                 " operations; the batch will be retried.");
  }
  for (size_t i = 0; i < request.ops.size(); ++i) {
    if (request.ops[i].id != response.results[i].id) {
      return Status::Error("INVALID_ARGUMENT", "Result " + std::to_string(i) + " answers " + response.results[i].id +
                                                   " instead of " + request.ops[i].id + "; the batch will be retried.");
    }
  }
  return Status::OK();
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
