// Sync protocol v1, push: the operations a client uploads and the per-operation results (docs/protocol.md).
// The building blocks (values, keys, columns, strict parsing) live in protocol_json.cc.
#include <set>
#include <vector>

#include "outpost/op_id.h"
#include "outpost/protocol.h"
#include "protocol_json.h"

namespace outpost::protocol {
namespace {

using json::Element;
using json::Invalid;
using json::Json;
using json::kClientIdExtra;
using json::kCodeExtra;
using json::Member;
using json::Start;
using json::Versioned;

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

// What json::Dump(EncodeOperation(op)) writes, without the tree for row operations (a push body holds
// hundreds). Keys in sorted order, as Dump writes them.
void AppendOperation(std::string* out, const Operation& op) {
  if (!op.is_row_op()) {
    out->append(json::Dump(EncodeOperation(op)));
    return;
  }
  out->push_back('{');
  if (op.base_version) {
    out->append("\"baseVersion\":");
    out->append(std::to_string(*op.base_version));
    out->push_back(',');
  }
  if (op.kind != kDelete) {
    out->append("\"columns\":");
    json::AppendColumns(out, op.columns);
    out->push_back(',');
  }
  out->append("\"hlc\":");
  json::AppendString(out, Hlc::Encode(op.hlc));
  out->append(",\"id\":");
  json::AppendString(out, op.id);
  out->append(",\"key\":");
  json::AppendKey(out, op.key);
  out->append(",\"kind\":");
  json::AppendString(out, op.kind);
  out->append(",\"priority\":");
  json::AppendString(out, PriorityName(op.priority));
  out->append(",\"table\":");
  json::AppendString(out, op.table);
  out->push_back('}');
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
    OUTPOST_RETURN_IF_ERROR(
        with_id ? json::ExpectObject(j, path, {"id", "status", "version", "deleted", "columns", "refused"})
                : json::ExpectObject(j, path, {"status", "version", "deleted", "columns", "refused"}));
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
  // Optional (servers before it sent none): the refused column names.
  auto refused = j.find("refused");
  if (refused == j.end()) return Status::OK();
  const std::string refused_path = Member(path, "refused");
  if (!refused->is_array()) return Invalid(refused_path, "expected an array of column names");
  if (refused->size() > limits.max_columns)
    return Invalid(refused_path, "at most " + std::to_string(limits.max_columns) + " columns");
  for (size_t i = 0; i < refused->size(); ++i) {
    std::string name;
    OUTPOST_RETURN_IF_ERROR(json::GetIdentifier((*refused)[i], refused_path + "[" + std::to_string(i) + "]", &name));
    out->refused.push_back(std::move(name));
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
      if (!o.refused.empty()) (*j)["refused"] = o.refused;
      return;
    default:
      (*j)["status"] = "applied";
      (*j)["version"] = o.version;
      return;
  }
}

// The exact bytes Encode writes, read without a JSON tree (a batch is hundreds of operations): a push of row
// operations whose values are plain (json::CanonicalReader), and an answer whose results are all `applied`.
// Anything else, every error included, returns false and the strict decoder decides, so these accept a
// subset of what it accepts, with the same result (the fuzzer compares them: tests/fuzz).
constexpr size_t kCanonicalPushDepth = 5;    // body { ops [ op { columns { column {
constexpr size_t kCanonicalAnswerDepth = 3;  // body { results [ result {

bool DecodeCanonical(std::string_view text, const Limits& limits, PushRequest* out) {
  if (!limits.canonical_fast_path || text.size() > limits.max_body_bytes || limits.max_depth < kCanonicalPushDepth)
    return false;
  json::CanonicalReader r(text);
  PushRequest m;
  if (!r.Lit("{\"clientId\":") || !r.String(&m.client_id) ||
      !json::IsToken(m.client_id, kMaxClientIdLength, kClientIdExtra) || !r.Lit(",\"ops\":["))
    return false;
  std::set<std::string_view> ids;
  do {
    Operation op;
    int64_t base = 0;
    std::string text_field;
    if (!r.Lit('{')) return false;
    if (r.Lit("\"baseVersion\":")) {
      if (!r.UInt(&base) || !r.Lit(',')) return false;
      op.base_version = base;
    }
    const bool upsert = r.Lit("\"columns\":");
    if (upsert && (!r.Columns(limits, &op.columns) || !r.Lit(','))) return false;
    if (!r.Lit("\"hlc\":") || !r.String(&text_field) || !Hlc::Decode(text_field, &op.hlc).ok()) return false;
    if (!r.Lit(",\"id\":") || !r.String(&op.id) || !ParseOpId(op.id).ok()) return false;
    if (!r.Lit(",\"key\":") || !r.Key(limits, &op.key) || !r.Lit(",\"kind\":")) return false;
    if (!r.Lit(upsert ? "\"upsert\"" : "\"delete\"")) return false;
    op.kind = std::string(upsert ? kUpsert : kDelete);
    if (!r.Lit(",\"priority\":") || !r.String(&text_field) || !ParsePriority(text_field, &op.priority)) return false;
    if (!r.Lit(",\"table\":") || !r.String(&op.table) || !IsIdentifier(op.table) || !r.Lit('}')) return false;
    m.ops.push_back(std::move(op));
    if (m.ops.size() > limits.max_ops) return false;
  } while (r.Lit(','));
  if (!r.Lit("],\"protocol\":1}") || !r.AtEnd()) return false;
  static_assert(kVersion == 1);
  for (const Operation& op : m.ops)
    if (!ids.insert(op.id).second) return false;
  *out = std::move(m);
  return true;
}

bool DecodeCanonical(std::string_view text, const Limits& limits, PushResponse* out) {
  if (!limits.canonical_fast_path || text.size() > limits.max_body_bytes || limits.max_depth < kCanonicalAnswerDepth)
    return false;
  json::CanonicalReader r(text);
  if (!r.Lit("{\"protocol\":1,\"results\":[")) return false;
  std::vector<OpResult> results;
  std::set<std::string_view> ids;
  if (!r.Lit(']')) {
    do {
      OpResult result;
      if (!r.Lit("{\"id\":") || !r.String(&result.id) || !ParseOpId(result.id).ok() ||
          !r.Lit(",\"status\":\"applied\",\"version\":") || !r.UInt(&result.outcome.version) || !r.Lit('}'))
        return false;
      results.push_back(std::move(result));  // status applied is the default
      if (results.size() > limits.max_ops) return false;
    } while (r.Lit(','));
    if (!r.Lit(']')) return false;
  }
  if (!r.Lit('}') || !r.AtEnd()) return false;
  for (const OpResult& result : results)
    if (!ids.insert(result.id).second) return false;
  out->results = std::move(results);
  return true;
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
  std::string out = "{\"clientId\":";
  json::AppendString(&out, m.client_id);
  out.append(",\"ops\":[");
  for (size_t i = 0; i < m.ops.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendOperation(&out, m.ops[i]);
  }
  out.append("],\"protocol\":");
  out.append(std::to_string(kVersion));
  out.push_back('}');
  return out;
}

Status Decode(std::string_view text, const Limits& limits, PushRequest* out) {
  if (DecodeCanonical(text, limits, out)) return Status::OK();
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
  // An answer holds a result per operation: the common one (applied) is written directly, the others as
  // trees; the bytes are what json::Dump writes for the whole tree.
  std::string out = "{\"protocol\":" + std::to_string(kVersion) + ",\"results\":[";
  for (size_t i = 0; i < m.results.size(); ++i) {
    const OpResult& r = m.results[i];
    if (i > 0) out.push_back(',');
    if (!r.duplicate && r.outcome.status == OpStatus::kApplied) {
      out.append("{\"id\":");
      json::AppendString(&out, r.id);
      out.append(",\"status\":\"applied\",\"version\":");
      out.append(std::to_string(r.outcome.version));
      out.push_back('}');
      continue;
    }
    Json item{{"id", r.id}};
    if (r.duplicate) {
      item["status"] = "duplicate";
      Json original = Json::object();
      EncodeOutcome(r.outcome, &original);
      item["original"] = std::move(original);
    } else {
      EncodeOutcome(r.outcome, &item);
    }
    out.append(json::Dump(item));
  }
  out.append("]}");
  return out;
}

Status Decode(std::string_view text, const Limits& limits, PushResponse* out) {
  if (DecodeCanonical(text, limits, out)) return Status::OK();
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

}  // namespace outpost::protocol
