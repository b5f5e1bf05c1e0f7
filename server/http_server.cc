// HttpServer (http_server.h): routes, the order of checks, CORS, static files and the request log, on
// cpp-httplib 0.11. Handlers for the sync endpoints live in sync_handlers.cc.
#include "http_server.h"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "http_internal.h"

namespace outpost::server {

using httplib::Request;
using httplib::Response;
using HandlerResponse = httplib::Server::HandlerResponse;

namespace {

thread_local RequestContext t_context;

std::string LogSafe(std::string_view s, size_t max) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s.substr(0, max)) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '%') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  if (s.size() > max) out += "...";
  return out.empty() ? "-" : out;
}

// A status httplib produced on its own (unmatched route, unparsable request, oversized body) as an error body.
Status StatusForHttp(const Request& req, int http) {
  switch (http) {
    case 404:
      return Status::Error("NOT_FOUND", "No endpoint " + LogSafe(req.method, 16) + " " + LogSafe(req.path, 200) +
                                            "; the sync API is POST /sync/v1/push, GET or POST /sync/v1/pull and "
                                            "GET /sync/v1/health (docs/protocol.md).");
    case 405:
      return Status::Error("METHOD_NOT_ALLOWED", "Method not allowed here; see docs/protocol.md.");
    case 413:
      return Status::Error("TOO_LARGE", "The request body is too large; send smaller batches.");
    case 414:
      return Status::Error("TOO_LARGE", "The request URI is too long; use POST /sync/v1/pull for long requests.");
    case 415:
      return Status::Error("UNSUPPORTED_MEDIA_TYPE", "Unsupported request body encoding; send JSON, optionally gzip.");
    case 416:
      return Status::Error("INVALID_ARGUMENT", "The requested byte range is not satisfiable.");
    case 500:
      return Status::Error("INTERNAL", "The server failed while handling the request; retry with backoff.");
    case 503:
      return Status::Error("UNAVAILABLE", "The server is unavailable; retry later.");
    default:
      return Status::Error("INVALID_ARGUMENT", "The HTTP request is malformed (status " + std::to_string(http) +
                                                   "); send a valid HTTP/1.1 request.");
  }
}

// An Accept-Encoding value without brotli. httplib 0.11 picks brotli whenever the value contains "br"
// anywhere, so every such coding goes.
std::string WithoutBrotli(const std::string& accept) {
  std::string out;
  size_t start = 0;
  while (start <= accept.size()) {
    size_t comma = accept.find(',', start);
    if (comma == std::string::npos) comma = accept.size();
    std::string coding = accept.substr(start, comma - start);
    coding.erase(0, coding.find_first_not_of(" \t"));
    if (!coding.empty() && coding.find("br") == std::string::npos) out += (out.empty() ? "" : ", ") + coding;
    start = comma + 1;
  }
  return out;
}

std::string IsoNow() {
  auto now = std::chrono::system_clock::now();
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  time_t seconds = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&seconds, &tm);
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

RequestContext& CurrentRequest() { return t_context; }

void SendError(Response& res, const Status& status) {
  protocol::ErrorBody body = protocol::ErrorFor(status);
  res.status = protocol::HttpStatusFor(body.code);
  res.set_content(protocol::Encode(body), "application/json");
  if (res.status == 503) res.set_header("Retry-After", "1");
}

void SendErrorKeepStatus(Response& res, const Status& status) {
  res.set_content(protocol::Encode(protocol::ErrorFor(status)), "application/json");
}

void SendJson(Response& res, int http, const std::string& json) {
  res.status = http;
  res.set_content(json, "application/json");
}

void Warn(const std::string& message) {
  std::string line = IsoNow() + " WARN " + message + "\n";
  fputs(line.c_str(), stderr);
}

class HttpServer::Impl {
 public:
  Impl(Store* store, const TokenAuthority* auth, HttpOptions options)
      : options_(std::move(options)), handlers_(store, auth, options_) {}

  ~Impl() { Stop(); }

  Status Start();
  int port() const { return port_; }
  void Stop();
  void Wait();

 private:
  bool OriginAllowed(const std::string& origin) const;
  HandlerResponse PreRouting(const Request& req, Response& res);
  void Preflight(const Request& req, Response& res);
  void LogRequest(const Request& req, const Response& res);
  void CloseLog();
  void MethodNotAllowed(Response& res, const char* allow);
  void Routes();

  HttpOptions options_;
  SyncHandlers handlers_;
  httplib::Server svr_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;  // GUARDED_BY(mu_)
  std::mutex stop_mu_;    // one Stop() at a time (a signal thread and a destructor may race)
  bool used_ = false;     // Start() was called (an httplib::Server cannot be set up twice)
  bool started_ = false;  // GUARDED_BY(stop_mu_) after Start()
  FILE* log_ = nullptr;
  bool own_log_ = false;
  std::mutex log_mu_;
};

bool HttpServer::Impl::OriginAllowed(const std::string& origin) const {
  if (origin.empty()) return false;
  for (const std::string& o : options_.cors_origins) {
    if (o == "*" || o == origin) return true;
  }
  return false;
}

HandlerResponse HttpServer::Impl::PreRouting(const Request& req, Response& res) {
  RequestContext& ctx = t_context;
  ctx = RequestContext{};
  ctx.start = std::chrono::steady_clock::now();
  ctx.active = true;
  // httplib inflates a Content-Encoding: gzip body into memory without any cap while it reads it. Take the
  // header off before the body is read (the Request object is the non-const local of httplib's
  // process_request, handed to us as const) and inflate it ourselves, capped (sync_handlers.cc).
  Request& mutable_req = const_cast<Request&>(req);
  auto range = mutable_req.headers.equal_range("Content-Encoding");
  for (auto it = range.first; it != range.second; ++it) {
    ctx.content_encoding += (ctx.content_encoding.empty() ? "" : ", ") + it->second;
  }
  mutable_req.headers.erase(range.first, range.second);
  // Answers are gzip, never brotli: httplib's brotli runs at quality 11 on every response, ~40 ms of CPU for a
  // 500-result push answer (the whole push takes ~14 ms with gzip) and as much again for each script the
  // demo loads.
  auto accept = mutable_req.headers.find("Accept-Encoding");
  if (accept != mutable_req.headers.end()) accept->second = WithoutBrotli(accept->second);
  // Byte ranges make sense for static files only; httplib would otherwise cut JSON answers.
  if (req.path.rfind("/sync/", 0) == 0 || req.path.rfind("/dev/", 0) == 0) {
    mutable_req.ranges.clear();
    // A pull answer is fresh once: no HTTP or service-worker cache may replay it (nor a token from /dev).
    res.set_header("Cache-Control", "no-store");
  }
  std::string origin = req.get_header_value("Origin");
  if (OriginAllowed(origin)) {
    res.set_header("Access-Control-Allow-Origin", origin);
    res.set_header("Access-Control-Expose-Headers", "Retry-After");
  }
  if (!options_.cors_origins.empty()) res.set_header("Vary", "Origin");
  return HandlerResponse::Unhandled;
}

void HttpServer::Impl::Preflight(const Request& req, Response& res) {
  std::string origin = req.get_header_value("Origin");
  if (!origin.empty() && !OriginAllowed(origin)) {
    Warn("CORS preflight from origin " + LogSafe(origin, 200) + " refused (allow it with --cors ORIGIN)");
    SendError(res, Status::Error("FORBIDDEN", "Origin " + LogSafe(origin, 200) +
                                                  " may not call this server; start it with --cors " +
                                                  LogSafe(origin, 200) + " to allow it."));
    return;
  }
  res.status = 204;
  res.set_header("Allow", "GET, POST, OPTIONS");
  if (!origin.empty()) {
    res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding");
    res.set_header("Access-Control-Max-Age", "600");
  }
}

void HttpServer::Impl::LogRequest(const Request& req, const Response& res) {
  RequestContext& ctx = t_context;
  double ms = 0;
  if (ctx.active) {
    ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - ctx.start).count();
  }
  char took[32];
  snprintf(took, sizeof took, "%.1fms", ms);
  std::string line = IsoNow() + " " + LogSafe(req.method, 16) + " " + LogSafe(req.path, 512) + " " +
                     std::to_string(res.status) + " " + took + " " + LogSafe(ctx.device, 128) + "\n";
  {
    std::lock_guard<std::mutex> lock(log_mu_);
    if (log_ != nullptr) {
      fputs(line.c_str(), log_);
      fflush(log_);
    }
  }
  ctx = RequestContext{};
}

void HttpServer::Impl::MethodNotAllowed(Response& res, const char* allow) {
  res.set_header("Allow", allow);
  SendError(res, Status::Error("METHOD_NOT_ALLOWED",
                               std::string("This endpoint accepts ") + allow + " only (docs/protocol.md)."));
}

void HttpServer::Impl::Routes() {
  using httplib::ContentReader;
  svr_.Post("/sync/v1/push", [this](const Request& req, Response& res, const ContentReader& reader) {
    handlers_.Push(req, res, reader);
  });
  svr_.Post("/sync/v1/pull", [this](const Request& req, Response& res, const ContentReader& reader) {
    handlers_.PullPost(req, res, reader);
  });
  svr_.Get("/sync/v1/pull", [this](const Request& req, Response& res) { handlers_.PullGet(req, res); });
  svr_.Get("/sync/v1/health", [this](const Request&, Response& res) { handlers_.Health(res); });
  if (options_.dev_tokens) {
    svr_.Post("/dev/token", [this](const Request& req, Response& res, const ContentReader& reader) {
      handlers_.DevToken(req, res, reader);
    });
  }
  // Other methods on the known paths: 405 with Allow. httplib reads (and discards) their bodies first.
  struct Path {
    const char* pattern;
    const char* allow;
    bool get, post;
  };
  static constexpr Path kPaths[] = {
      {"/sync/v1/push", "POST, OPTIONS", false, true},
      {"/sync/v1/pull", "GET, POST, OPTIONS", true, true},
      {"/sync/v1/health", "GET, OPTIONS", true, false},
      {"/dev/token", "POST, OPTIONS", false, true},
  };
  for (const Path& p : kPaths) {
    if (std::string_view(p.pattern) == "/dev/token" && !options_.dev_tokens) continue;
    auto not_allowed = [this, allow = p.allow](const Request&, Response& res) { MethodNotAllowed(res, allow); };
    if (!p.get) svr_.Get(p.pattern, not_allowed);
    if (!p.post) svr_.Post(p.pattern, not_allowed);
    svr_.Put(p.pattern, not_allowed);
    svr_.Patch(p.pattern, not_allowed);
    svr_.Delete(p.pattern, not_allowed);
  }
  // Another protocol major version in the path: the client is newer (or older) than this server.
  auto other_version = [](const Request& req, Response& res) {
    SendError(res, Status::Error("UNSUPPORTED_VERSION",
                                 "This server speaks sync protocol v1 only (" + LogSafe(req.path, 100) +
                                     " asks for another); update the client or the server so they match."));
  };
  svr_.Get(R"(/sync/v(0|[2-9]|[1-9][0-9]+)/.*)", other_version);
  svr_.Post(R"(/sync/v(0|[2-9]|[1-9][0-9]+)/.*)", other_version);
  svr_.Options(".*", [this](const Request& req, Response& res) { Preflight(req, res); });
}

Status HttpServer::Impl::Start() {
  if (used_) return Status::Error("INVALID_ARGUMENT", "An HttpServer starts once; create a new one.");
  used_ = true;
  if (options_.log_file == "-") {
    log_ = stdout;
  } else if (!options_.log_file.empty()) {
    log_ = fopen(options_.log_file.c_str(), "a");
    if (log_ == nullptr) {
      return Status::Error("INVALID_ARGUMENT", "Cannot open the request log \"" + options_.log_file +
                                                   "\" for appending; check the path and its permissions.");
    }
    own_log_ = true;
  }
  if (!options_.static_dir.empty()) {
    httplib::Headers headers = {{"Cache-Control", "no-cache"}, {"X-Content-Type-Options", "nosniff"}};
    if (!svr_.set_mount_point("/", options_.static_dir, headers)) {
      return Status::Error("INVALID_ARGUMENT",
                           "The static directory \"" + options_.static_dir + "\" is not a readable directory.");
    }
    static constexpr std::pair<const char*, const char*> kTypes[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"wasm", "application/wasm"},
        {"webmanifest", "application/manifest+json"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"ico", "image/x-icon"},
        {"txt", "text/plain; charset=utf-8"},
        {"woff2", "font/woff2"},
    };
    for (const auto& [ext, type] : kTypes) svr_.set_file_extension_and_mimetype_mapping(ext, type);
  }
  int threads = std::max(1, options_.threads);
  svr_.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  svr_.set_payload_max_length(handlers_.raw_body_cap());
  // httplib's default is SO_REUSEPORT, which lets a second server bind the same port and silently take half
  // of the connections (to another store, perhaps). SO_REUSEADDR only: quick restarts, exclusive ports.
  svr_.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  svr_.set_keep_alive_max_count(100);
  svr_.set_keep_alive_timeout(5);  // also how long Stop() may wait for an idle kept-alive connection
  svr_.set_tcp_nodelay(true);      // answers leave at once (no Nagle delay behind the client's ACK)
  svr_.set_pre_routing_handler([this](const Request& req, Response& res) { return PreRouting(req, res); });
  svr_.set_error_handler(httplib::Server::HandlerWithResponse([](const Request& req, Response& res) {
    if (!res.body.empty()) return HandlerResponse::Unhandled;
    SendErrorKeepStatus(res, StatusForHttp(req, res.status));
    return HandlerResponse::Handled;
  }));
  svr_.set_exception_handler([](const Request&, Response& res, std::exception_ptr) {
    SendError(res, Status::Error("INTERNAL", "The server failed while handling the request; retry with backoff."));
  });
  svr_.set_logger([this](const Request& req, const Response& res) { LogRequest(req, res); });
  Routes();
  if (options_.dev_tokens) {
    Warn(
        "POST /dev/token is enabled (--dev-tokens): anyone who can reach this server can get a token for any "
        "user, device and scope. Development only.");
  }
  if (options_.port == 0) {
    port_ = svr_.bind_to_any_port(options_.host);
  } else {
    port_ = svr_.bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0) {
    return Status::Error("UNAVAILABLE", "Cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                                            " (address in use or not local?); pick another --host/--port.");
  }
  started_ = true;
  thread_ = std::thread([this] {
    svr_.listen_after_bind();
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  });
  // stop() before listen_after_bind marked the server running would be lost; wait for it.
  while (!svr_.is_running()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return Status::Error("UNAVAILABLE", "The HTTP listener stopped as it started.");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Status::OK();
}

void HttpServer::Impl::CloseLog() {
  std::lock_guard<std::mutex> lock(log_mu_);
  if (own_log_ && log_ != nullptr) fclose(log_);
  log_ = nullptr;
}

void HttpServer::Impl::Stop() {
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  if (!started_) {
    CloseLog();  // a Start() that failed after opening it
    return;
  }
  svr_.stop();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }
  CloseLog();
  started_ = false;
}

void HttpServer::Impl::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return stopped_; });
}

HttpServer::HttpServer(Store* store, const TokenAuthority* auth, HttpOptions options)
    : impl_(std::make_unique<Impl>(store, auth, std::move(options))) {}
HttpServer::~HttpServer() = default;
Status HttpServer::Start() { return impl_->Start(); }
int HttpServer::port() const { return impl_->port(); }
void HttpServer::Stop() { impl_->Stop(); }
void HttpServer::Wait() { impl_->Wait(); }

}  // namespace outpost::server
