// Internals shared by http_server.cc (routing, CORS, static files, log) and sync_handlers.cc (the sync
// endpoints): the per-request context and the answer helpers. Not part of the server library's interface.
#ifndef OUTPOST_SERVER_HTTP_INTERNAL_H_
#define OUTPOST_SERVER_HTTP_INTERNAL_H_

#include <httplib.h>

#include <chrono>
#include <memory>
#include <string>

#include "auth.h"
#include "http_server.h"
#include "rate_limiter.h"
#include "store.h"

namespace outpost::server {

// What one request carries between the pre-routing hook, its handler and the log line. httplib runs a
// request's hook, handler and logger on one worker thread, so the context is thread-local.
struct RequestContext {
  std::chrono::steady_clock::time_point start;
  bool active = false;           // set by the pre-routing hook; the log line's duration is valid
  std::string content_encoding;  // the request's Content-Encoding, taken off before httplib read the body
  std::string device;            // the authenticated device, for the log
};
RequestContext& CurrentRequest();

// The protocol's error body with the HTTP status docs/protocol.md gives its code (Retry-After on 503).
void SendError(httplib::Response& res, const Status& status);
// The error body for a status httplib already chose.
void SendErrorKeepStatus(httplib::Response& res, const Status& status);
void SendJson(httplib::Response& res, int http, const std::string& json);
// A line on stderr: something an operator should see (forbidden scopes, dev tokens).
void Warn(const std::string& message);

// The sync endpoints. Each handler answers the request completely.
class SyncHandlers {
 public:
  SyncHandlers(Store* store, const TokenAuthority* auth, const HttpOptions& options);

  // The most raw body bytes read from a request: the decoding limit plus room for gzip's framing.
  size_t raw_body_cap() const;

  void Push(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);
  void PullPost(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);
  void PullGet(const httplib::Request& req, httplib::Response& res);
  void Health(httplib::Response& res);
  void DevToken(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);

 private:
  int64_t Now() const;
  Status ReadBody(const httplib::ContentReader& reader, httplib::Response& res, std::string* raw) const;
  // 401 or 429 answered (false), or *who set (true).
  bool Authenticate(const httplib::Request& req, httplib::Response& res, Principal* who);
  // 415 / 413 / 400 answered (false), or *json holds the (inflated) body (true).
  bool JsonBody(const httplib::Request& req, const Status& read, std::string* raw, std::string* json,
                httplib::Response& res);
  void Pull(const Principal& who, const protocol::PullRequest& request, httplib::Response& res);
  void StoreError(httplib::Response& res, const Status& status);

  Store* store_;
  const TokenAuthority* auth_;
  const HttpOptions& options_;
  std::unique_ptr<RateLimiter> limiter_;
};

}  // namespace outpost::server

#endif  // OUTPOST_SERVER_HTTP_INTERNAL_H_
