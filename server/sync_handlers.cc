// The sync endpoints (http_internal.h): read the body whole, authenticate, check media type and size, decode
// with the protocol codec, check clientId and scopes against the token, then one Store call.
#include <httplib.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "http_internal.h"
#include "request_body.h"

namespace outpost::server {

using httplib::ContentReader;
using httplib::Request;
using httplib::Response;

namespace {

// gzip adds a header, a trailer and ~0.03 % on incompressible input; room for that above the JSON limit.
constexpr size_t kGzipSlack = 64 * 1024;

std::string JoinScopes(const std::vector<std::string>& scopes) {
  std::string out;
  for (const std::string& s : scopes) out += (out.empty() ? "" : ",") + s;
  return out;
}

Status WrongDevice(const Principal& who, const std::string& client_id) {
  return Status::Error("FORBIDDEN", "This token is for device \"" + who.device + "\" but the request's clientId is \"" +
                                        client_id + "\"; use the token issued for this device.");
}

}  // namespace

SyncHandlers::SyncHandlers(Store* store, const TokenAuthority* auth, const HttpOptions& options)
    : store_(store), auth_(auth), options_(options) {
  if (options_.rate_per_second > 0) {
    double burst = options_.rate_burst > 0 ? options_.rate_burst : std::max(1.0, options_.rate_per_second);
    limiter_ = std::make_unique<RateLimiter>(options_.rate_per_second, burst);
  }
}

size_t SyncHandlers::raw_body_cap() const { return options_.limits.max_body_bytes + kGzipSlack; }

int64_t SyncHandlers::Now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status SyncHandlers::ReadBody(const ContentReader& reader, Response& res, std::string* raw) const {
  // httplib itself refuses (and skips) a Content-Length above raw_body_cap(); a chunked body is cut here.
  const size_t cap = raw_body_cap();
  bool over = false;
  bool ok = reader([&](const char* data, size_t n) {
    if (raw->size() + n > cap) {
      over = true;
      return false;
    }
    raw->append(data, n);
    return true;
  });
  if (over || res.status == 413) {  // 413: httplib's own Content-Length check
    return Status::Error("TOO_LARGE", "The request body exceeds " + std::to_string(options_.limits.max_body_bytes) +
                                          " bytes; send smaller batches.");
  }
  if (!ok) {
    return Status::Error("INVALID_ARGUMENT", "The request body could not be read to its end; send it again.");
  }
  return Status::OK();
}

bool SyncHandlers::Authenticate(const Request& req, Response& res, Principal* who) {
  TokenFailure failure = TokenFailure::kNone;
  Status s = auth_->Authenticate(req.get_header_value("Authorization"), Now(), who, &failure);
  if (!s.ok()) {
    SendError(res, s);
    res.set_header("WWW-Authenticate", "Bearer");
    return false;
  }
  CurrentRequest().device = who->device;
  int64_t retry_after = 0;
  if (limiter_ != nullptr && !limiter_->Allow(who->device, Now(), &retry_after)) {
    SendError(res, Status::Error("RATE_LIMITED", "Too many requests from device \"" + who->device + "\"; retry after " +
                                                     std::to_string(retry_after) + " s."));
    res.set_header("Retry-After", std::to_string(retry_after));
    return false;
  }
  return true;
}

bool SyncHandlers::JsonBody(const Request& req, const Status& read, std::string* raw, std::string* json,
                            Response& res) {
  Status s = CheckJsonContentType(req.get_header_value("Content-Type"));
  BodyEncoding encoding = BodyEncoding::kIdentity;
  if (s.ok()) s = ParseContentEncoding(CurrentRequest().content_encoding, &encoding);
  if (s.ok()) s = read;
  if (s.ok()) {
    if (encoding == BodyEncoding::kGzip) {
      s = GunzipCapped(*raw, options_.limits.max_body_bytes, json);
    } else {
      *json = std::move(*raw);
    }
  }
  if (!s.ok()) {
    SendError(res, s);
    return false;
  }
  return true;
}

void SyncHandlers::StoreError(Response& res, const Status& status) {
  // The store may refuse (FORBIDDEN, INVALID_ARGUMENT, TOO_LARGE) or be down (UNAVAILABLE); any other code is
  // a server bug as far as the client is concerned.
  const std::string& c = status.code();
  if (c == "FORBIDDEN" || c == "INVALID_ARGUMENT" || c == "TOO_LARGE" || c == "UNAVAILABLE" || c == "INTERNAL") {
    SendError(res, status);
  } else {
    SendError(res, Status::Error("INTERNAL", "The store failed (" + status.ToString() + "); retry with backoff."));
  }
  if (res.status >= 500) Warn("store " + store_->name() + ": " + status.ToString());
}

void SyncHandlers::Push(const Request& req, Response& res, const ContentReader& reader) {
  std::string raw;
  Status read = ReadBody(reader, res, &raw);
  Principal who;
  if (!Authenticate(req, res, &who)) return;
  std::string json;
  if (!JsonBody(req, read, &raw, &json, res)) return;
  protocol::PushRequest request;
  if (Status s = protocol::Decode(json, options_.limits, &request); !s.ok()) return SendError(res, s);
  if (request.client_id != who.device) {
    Warn("forbidden push: user=" + who.user + " device=" + who.device + " sent clientId=" + request.client_id);
    return SendError(res, WrongDevice(who, request.client_id));
  }
  protocol::PushResponse response;
  if (Status s = store_->Push(who, request, Now(), &response); !s.ok()) return StoreError(res, s);
  SendJson(res, 200, protocol::Encode(response));
}

void SyncHandlers::PullPost(const Request& req, Response& res, const ContentReader& reader) {
  std::string raw;
  Status read = ReadBody(reader, res, &raw);
  Principal who;
  if (!Authenticate(req, res, &who)) return;
  std::string json;
  if (!JsonBody(req, read, &raw, &json, res)) return;
  protocol::PullRequest request;
  if (Status s = protocol::Decode(json, options_.limits, &request); !s.ok()) return SendError(res, s);
  Pull(who, request, res);
}

void SyncHandlers::PullGet(const Request& req, Response& res) {
  Principal who;
  if (!Authenticate(req, res, &who)) return;
  // The query carries the pull request's fields; they are turned into the JSON body they stand for, so one
  // decoder validates both forms alike.
  nlohmann::json body = nlohmann::json::object();
  body["protocol"] = protocol::kVersion;
  nlohmann::json scopes = nlohmann::json::array();
  for (const auto& [name, value] : req.params) {
    const char* field = name == "cursor"     ? "cursor"
                        : name == "clientId" ? "clientId"
                        : name == "limit"    ? "limit"
                        : name == "protocol" ? "protocol"
                                             : nullptr;
    if (name == "scope") {
      scopes.push_back(value);
      continue;
    }
    if (field == nullptr) {
      return SendError(
          res, Status::Error("INVALID_ARGUMENT", "Unknown query parameter \"" + name.substr(0, 64) +
                                                     "\"; GET /sync/v1/pull takes clientId, cursor, limit and scope "
                                                     "(repeated)."));
    }
    if (req.params.count(name) > 1) {
      return SendError(res, Status::Error("INVALID_ARGUMENT", "Query parameter \"" + name + "\" is repeated."));
    }
    if (name == "limit" || name == "protocol") {
      bool digits = !value.empty() && value.size() <= 15 &&
                    std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits) {
        return SendError(
            res, Status::Error("INVALID_ARGUMENT", "Query parameter \"" + name + "\" must be a non-negative integer."));
      }
      body[field] = std::stoll(value);
    } else {
      body[field] = value;
    }
  }
  if (!scopes.empty()) body["scopes"] = scopes;
  protocol::PullRequest request;
  std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (Status s = protocol::Decode(text, options_.limits, &request); !s.ok()) return SendError(res, s);
  Pull(who, request, res);
}

void SyncHandlers::Pull(const Principal& who, const protocol::PullRequest& request, Response& res) {
  if (request.client_id != who.device) {
    Warn("forbidden pull: user=" + who.user + " device=" + who.device + " sent clientId=" + request.client_id);
    return SendError(res, WrongDevice(who, request.client_id));
  }
  for (const std::string& scope : request.scopes) {
    if (!who.Allows(scope)) {
      Warn("forbidden pull: user=" + who.user + " device=" + who.device + " asked for scope " + scope +
           " (token allows " + JoinScopes(who.scopes) + ")");
      return SendError(res, Status::Error("FORBIDDEN", "This token may not read scope \"" + scope +
                                                           "\"; subscribe to the token's scopes only (" +
                                                           JoinScopes(who.scopes) + ")."));
    }
  }
  size_t page = options_.default_page_size;
  if (request.limit.has_value()) page = static_cast<size_t>(*request.limit);
  page = std::max<size_t>(1, std::min(page, options_.max_page_size));
  protocol::PullResponse response;
  if (Status s = store_->Pull(who, request, page, Now(), &response); !s.ok()) return StoreError(res, s);
  SendJson(res, 200, protocol::Encode(response));
}

void SyncHandlers::Health(Response& res) {
  protocol::HealthResponse health;
  health.server_time_ms = Now();
  health.store = store_->name();
  Status s = store_->Counts(&health.counts);
  if (!s.ok()) {
    Warn("health: store " + store_->name() + " unavailable: " + s.ToString());
    health.status = "unavailable";
    health.counts.clear();
    SendJson(res, 503, protocol::Encode(health));
    res.set_header("Retry-After", "1");
    return;
  }
  SendJson(res, 200, protocol::Encode(health));
}

void SyncHandlers::DevToken(const Request& req, Response& res, const ContentReader& reader) {
  std::string raw;
  Status read = ReadBody(reader, res, &raw);
  std::string json;
  if (!JsonBody(req, read, &raw, &json, res)) return;
  auto bad = [&](const std::string& what) {
    SendError(res, Status::Error("INVALID_ARGUMENT",
                                 "POST /dev/token takes {\"user\": \"u\", \"device\": \"d\", \"scopes\": [\"s\"], "
                                 "\"ttl\": \"1h\"} (ttl optional): " +
                                     what));
  };
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return SendError(res, Status::Error("INVALID_JSON", "The body is not JSON."));
  if (!j.is_object()) return bad("the body is not an object");
  TokenClaims claims;
  int64_t ttl_ms = std::min<int64_t>(3600 * 1000, options_.dev_token_max_ttl_ms);
  for (const auto& [key, value] : j.items()) {
    if (key == "user" && value.is_string()) {
      claims.user = value.get<std::string>();
    } else if (key == "device" && value.is_string()) {
      claims.device = value.get<std::string>();
    } else if (key == "scopes" && value.is_array()) {
      for (const auto& s : value) {
        if (!s.is_string()) return bad("scopes must be strings");
        claims.scopes.push_back(s.get<std::string>());
      }
    } else if (key == "ttl" && value.is_string()) {
      if (Status s = ParseDuration(value.get<std::string>(), &ttl_ms); !s.ok()) return SendError(res, s);
      if (ttl_ms > options_.dev_token_max_ttl_ms) {
        return bad("ttl is longer than the server's maximum of " +
                   std::to_string(options_.dev_token_max_ttl_ms / 1000) + " s");
      }
    } else {
      return bad("unexpected field \"" + key.substr(0, 64) + "\" or wrong type");
    }
  }
  claims.issued_at_ms = Now();
  claims.expires_at_ms = claims.issued_at_ms + ttl_ms;
  std::string token;
  if (Status s = auth_->Issue(claims, &token); !s.ok()) return SendError(res, s);
  CurrentRequest().device = claims.device;
  Warn("dev token issued: user=" + claims.user + " device=" + claims.device + " scopes=" + JoinScopes(claims.scopes));
  nlohmann::json out = {{"token", token}, {"expiresAtMs", claims.expires_at_ms}};
  SendJson(res, 200, out.dump());
}

}  // namespace outpost::server
