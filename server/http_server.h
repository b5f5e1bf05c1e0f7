// HttpServer: outpost-server's HTTP layer (cpp-httplib). It serves the sync protocol (docs/protocol.md:
// POST /sync/v1/push, POST and GET /sync/v1/pull, GET /sync/v1/health), the development token endpoint when
// enabled, and optionally a static directory (the demo app) on the same port. The binary (main.cc), the
// tests and the load benchmark all run this class; tests start it in-process on an ephemeral port.
//
// Invariants:
//  - Every non-2xx answer carries the protocol's error body {"error": {"code", "message"}} (health's 503
//    carries a health body with status "unavailable", as docs/protocol.md specifies).
//  - A sync request is checked in this order, each failure answered before anything later runs: route and
//    method (404, 405); the bearer token (401); the device's rate (429, when configured); Content-Type and
//    Content-Encoding (415); body size, compressed and decompressed (413); protocol::Decode with the
//    configured Limits (400, 413, 426); clientId and scopes against the token (403). Only then is the Store
//    called, exactly once.
//  - The request body is always read to its end (or to the size cap) before answering, so a rejected request
//    never leaves bytes on a kept-alive connection that would be parsed as the next request.
//  - httplib never inflates a request body itself (it would do so without a cap): the Content-Encoding is
//    taken off the request before httplib reads the body, and GunzipCapped inflates it with the body limit.
//  - The request log gets exactly one line per HTTP response (format in docs/server.md); warnings (forbidden
//    scopes, dev tokens) go to stderr.
#ifndef OUTPOST_SERVER_HTTP_SERVER_H_
#define OUTPOST_SERVER_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "auth.h"
#include "outpost/protocol.h"
#include "outpost/status.h"
#include "store.h"

namespace outpost::server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: an ephemeral port; HttpServer::port() tells which
  // Decoding limits. max_body_bytes also caps the compressed body and the inflated gzip body.
  protocol::Limits limits;
  size_t default_page_size = 1000;  // pull page size when the request gives no limit
  size_t max_page_size = 5000;      // a pull's limit is clamped to this
  std::string static_dir;           // served at "/" when not empty
  // Origins allowed to call the API from a browser on another origin ("https://app.example.com"), or "*".
  std::vector<std::string> cors_origins;
  bool dev_tokens = false;  // POST /dev/token issues tokens to anyone: development only
  int64_t dev_token_max_ttl_ms = 24LL * 3600 * 1000;
  // Request log: a file appended to, "-" for stdout, empty for none.
  std::string log_file;
  // Per-device token bucket; rate_per_second 0 turns it off.
  double rate_per_second = 0;
  double rate_burst = 0;           // 0: max(1, rate_per_second)
  int threads = 32;                // worker threads = connections served at once (kept-alive ones included)
  std::function<int64_t()> clock;  // ms since the epoch; default: the system clock
};

class HttpServer {
 public:
  // `store` and `auth` must outlive the server.
  HttpServer(Store* store, const TokenAuthority* auth, HttpOptions options);
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving on a background thread. UNAVAILABLE when the address cannot be bound,
  // INVALID_ARGUMENT for bad options (unreadable static directory or log file) and for a second Start()
  // (also after Stop(): a server runs once).
  Status Start();
  // The bound port (after Start).
  int port() const;
  // Stops accepting, lets running requests finish, joins the threads. Idempotent.
  void Stop();
  // Blocks until Stop() is called (from another thread) or the listener fails.
  void Wait();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace outpost::server

#endif  // OUTPOST_SERVER_HTTP_SERVER_H_
