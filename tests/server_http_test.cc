// outpost-server over HTTP (server/http_server.h), in-process on an ephemeral port over the real SQLite store:
// the bad-input suite (each hostile request gets its 4xx and the protocol's error body, the server keeps
// serving, the store is unchanged), the happy paths (push/pull round trips, gzip both ways, CORS, static
// files, dev tokens, the request log, rate limiting) and the token CLI round trip through the binary.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include "auth.h"
#include "http_server.h"
#include "outpost/protocol.h"
#include "request_body.h"
#include "store.h"

namespace outpost::server {
namespace {

namespace fs = std::filesystem;
using protocol::Limits;

constexpr char kSchema[] = R"({"tables": {
  "records": {"key": ["id"], "columns": ["title", "notes", "status", "quantity", "project"],
              "scopeColumn": "project", "columnPolicies": {"quantity": "counter"}}}})";
constexpr char kSecret[] = "http-test-secret-http-test-secret-0123456789";
constexpr char kHlc[] = "0190a6f27c3e-0000001f-fedcba9876543210";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A canonical UUIDv7 operation id, distinct per n.
std::string OpId(int n) {
  char buf[40];
  snprintf(buf, sizeof buf, "0190a6f2-7c3e-7abc-8def-%012x", n);
  return buf;
}

// One upsert of records(id) in `project` with a title, as protocol JSON.
std::string UpsertJson(int n, const std::string& id, const std::string& project, const std::string& title) {
  return R"({"id":")" + OpId(n) + R"(","kind":"upsert","priority":"normal","hlc":")" + kHlc +
         R"(","table":"records","key":{"id":")" + id + R"("},"columns":{"title":{"value":")" + title + R"(","hlc":")" +
         kHlc + R"("},"project":{"value":")" + project + R"(","hlc":")" + kHlc + R"("}}})";
}

std::string PushJson(const std::string& client, const std::vector<std::string>& ops) {
  std::string body = R"({"protocol":1,"clientId":")" + client + R"(","ops":[)";
  for (size_t i = 0; i < ops.size(); ++i) body += (i ? "," : "") + ops[i];
  return body + "]}";
}

std::string TempDir() {
  std::string pattern = ::testing::TempDir() + "/outpost-http-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  EXPECT_NE(mkdtemp(buf.data()), nullptr);
  return buf.data();
}

// Sends raw bytes on a fresh connection and returns everything the server writes back until it closes or
// stays quiet (the answer to a request httplib's client cannot make, like a path with "..").
std::string RawRequest(int port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)!write(fd, bytes.data(), bytes.size());
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.find("\r\n\r\n") != std::string::npos) {
      // Stop at the end of the first response (Content-Length bodies only).
      size_t head = out.find("\r\n\r\n");
      size_t cl = out.find("Content-Length: ");
      if (cl != std::string::npos && cl < head) {
        size_t len = std::stoul(out.substr(cl + 16));
        if (out.size() >= head + 4 + len) break;
      }
    }
  }
  close(fd);
  return out;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    fs::create_directories(dir_ + "/static/sub");
    std::ofstream(dir_ + "/static/index.html") << "<!doctype html><title>demo</title>";
    std::ofstream(dir_ + "/static/app.js") << "export const x = 1;";
    std::ofstream(dir_ + "/static/engine.wasm", std::ios::binary) << std::string("\0asm\1\0\0\0", 8);
    std::ofstream(dir_ + "/static/manifest.webmanifest") << R"({"name":"demo"})";
    std::ofstream(dir_ + "/static/sub/page.css") << "body{}";
    std::ofstream(dir_ + "/outside-secret.txt") << "TOP-SECRET-CONTENT";
    ASSERT_TRUE(Schema::FromJson(kSchema, &schema_).ok());
    ASSERT_TRUE(OpenSqliteStore(dir_ + "/store.db", schema_, StoreOptions{}, &store_).ok());
    auth_ = std::make_unique<TokenAuthority>(kSecret);
    options_.log_file = dir_ + "/requests.log";
    options_.static_dir = dir_ + "/static";
    options_.cors_origins = {"https://app.example"};
    options_.limits.max_body_bytes = 64 * 1024;
    options_.limits.max_ops = 20;
    options_.threads = 4;
    Restart();
  }

  void TearDown() override {
    client_.reset();  // first: a server stops only after its kept-alive connections close (or time out)
    server_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void Restart() {
    client_.reset();
    server_.reset();
    server_ = std::make_unique<HttpServer>(store_.get(), auth_.get(), options_);
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  std::string Token(const std::string& device, std::vector<std::string> scopes, int64_t ttl_ms = 3600 * 1000,
                    const TokenAuthority* signer = nullptr) {
    TokenClaims c;
    c.user = "user-" + device;
    c.device = device;
    c.scopes = std::move(scopes);
    // A negative ttl makes a token that expired -ttl_ms ago (issued two hours before).
    c.issued_at_ms = ttl_ms > 0 ? NowMs() : NowMs() - 2 * 3600 * 1000;
    c.expires_at_ms = NowMs() + ttl_ms;
    std::string token;
    Status s = (signer ? signer : auth_.get())->Issue(c, &token);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return token;
  }

  httplib::Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

  // GETs `path` without httplib's decompression, accepting `accept`; the test fails unless the answer is a
  // 200 in gzip. Returns the body gunzipped ("" on failure); `wire_bytes` gets its compressed size.
  std::string GetGzipped(const std::string& path, httplib::Headers headers, const std::string& accept,
                         size_t* wire_bytes = nullptr) {
    httplib::Client raw("127.0.0.1", server_->port());
    raw.set_decompress(false);
    headers.emplace("Accept-Encoding", accept);
    auto res = raw.Get(path.c_str(), headers);
    if (!res) {
      ADD_FAILURE() << "GET " << path << " failed";
      return "";
    }
    EXPECT_EQ(res->status, 200) << path;
    EXPECT_EQ(res->get_header_value("Content-Encoding"), "gzip") << path;
    std::string text;
    EXPECT_TRUE(GunzipCapped(res->body, 1 << 20, &text).ok()) << path;
    if (wire_bytes) *wire_bytes = res->body.size();
    return text;
  }

  httplib::Result Post(const std::string& path, const std::string& body, httplib::Headers headers,
                       const std::string& type = "application/json") {
    return client_->Post(path.c_str(), headers, body, type.c_str());
  }

  // Everything a client could observe of the store: its counts and every row a full-access pull returns.
  std::string Snapshot(bool with_ops = true) {
    std::map<std::string, int64_t> counts;
    EXPECT_TRUE(store_->Counts(&counts).ok());
    if (!with_ops) counts.erase("ops");
    std::string out;
    for (const auto& [k, v] : counts) out += k + "=" + std::to_string(v) + " ";
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      std::string path = "/sync/v1/pull?clientId=auditor&limit=50" + (cursor.empty() ? "" : "&cursor=" + cursor);
      auto res = client_->Get(path.c_str(), Bearer(Token("auditor", {"*"})));
      EXPECT_TRUE(res && res->status == 200);
      if (!res || res->status != 200) break;
      protocol::PullResponse pull;
      EXPECT_TRUE(protocol::Decode(res->body, Limits{}, &pull).ok());
      for (const protocol::Change& c : pull.changes)
        out += protocol::Encode(protocol::PullResponse{false, {c}, "x", false});
      cursor = pull.cursor;
      if (!pull.has_more) break;
    }
    return out;
  }

  void ExpectError(const httplib::Result& res, int http, const std::string& code, const std::string& what) {
    ASSERT_TRUE(res) << what << ": no response (" << httplib::to_string(res.error()) << ")";
    EXPECT_EQ(res->status, http) << what << ": " << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << what;
    protocol::ErrorBody body;
    Status s = protocol::Decode(res->body, Limits{}, &body);
    ASSERT_TRUE(s.ok()) << what << ": not an error body: " << res->body;
    EXPECT_EQ(body.code, code) << what << ": " << body.message;
    EXPECT_FALSE(body.message.empty()) << what;
  }

  void ExpectServing(const std::string& what) {
    httplib::Client fresh("127.0.0.1", server_->port());
    auto res = fresh.Get("/sync/v1/health");
    ASSERT_TRUE(res) << "after " << what;
    EXPECT_EQ(res->status, 200) << "after " << what;
  }

  // Pushes one applied row so the snapshots have something to lose.
  void Seed() {
    auto res = Post("/sync/v1/push", PushJson("seeder", {UpsertJson(1, "r1", "team-7", "Pump 4")}),
                    Bearer(Token("seeder", {"team-7"})));
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    ASSERT_NE(res->body.find("\"applied\""), std::string::npos) << res->body;
  }

  std::vector<std::string> LogLines() {
    std::ifstream in(options_.log_file);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  std::string dir_;
  Schema schema_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<TokenAuthority> auth_;
  HttpOptions options_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

// ---------------------------------------------------------------------------------------------------------
// Bad input: every case answers its status and error code, the server keeps serving, nothing changes.

struct BadCase {
  std::string name;
  std::function<httplib::Result()> send;
  int http;
  std::string code;
};

TEST_F(HttpServerTest, BadRequestsGetTheirErrorAndChangeNothing) {
  Seed();
  const std::string good = Token("phone", {"team-7"});
  const std::string ok_push = PushJson("phone", {UpsertJson(100, "r2", "team-7", "x")});
  TokenAuthority other("some-other-secret-some-other-secret-0123");
  std::string claims_of_star = Token("phone", {"*"}, 3600 * 1000, &other);
  claims_of_star = claims_of_star.substr(4, claims_of_star.rfind('.') - 4);
  const std::string swapped = "ot1." + claims_of_star + good.substr(good.rfind('.'));
  auto push = [&](std::string body, std::string token = "", std::string type = "application/json",
                  httplib::Headers extra = {}) {
    return [=, this]() {
      httplib::Headers h = extra;
      if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
      return Post("/sync/v1/push", body, h, type);
    };
  };
  auto pull_post = [&](std::string body) { return [=, this]() { return Post("/sync/v1/pull", body, Bearer(good)); }; };
  auto get = [&](std::string path, std::string token) {
    return [=, this]() { return client_->Get(path.c_str(), token.empty() ? httplib::Headers{} : Bearer(token)); };
  };
  std::string big_ops;
  for (int i = 0; i < 21; ++i) big_ops += (i ? "," : "") + UpsertJson(200 + i, "b" + std::to_string(i), "team-7", "x");
  const std::string too_many = R"({"protocol":1,"clientId":"phone","ops":[)" + big_ops + "]}";
  const std::string over_limit = R"({"protocol":1,"clientId":"phone","ops":[)" +
                                 UpsertJson(300, "big", "team-7", std::string(70 * 1024, 'x')) + "]}";
  const std::string over_raw_cap = std::string(200 * 1024, ' ') + ok_push;
  const std::string bomb = Gzip(std::string(32 << 20, ' ') + ok_push);
  std::string nested = R"({"protocol":1,"clientId":"phone","ops":[{"id":")" + OpId(400) +
                       R"(","kind":"http.post","priority":"normal","hlc":")" + kHlc + R"(","entity":"e","payload":)" +
                       std::string(100, '[') + std::string(100, ']') + "}]}";
  auto op_with = [&](int n, const std::string& table, const std::string& column, const std::string& key_col) {
    return R"({"id":")" + OpId(n) + R"(","kind":"upsert","priority":"normal","hlc":")" + kHlc + R"(","table":)" +
           table + R"(,"key":{)" + key_col + R"(:"k"},"columns":{)" + column + R"(:{"value":"v","hlc":")" + kHlc +
           R"("}}})";
  };

  const BadCase cases[] = {
      // Malformed and mistyped bodies.
      {"malformed JSON", push(R"({"protocol":1,"clientId":)", good), 400, "INVALID_JSON"},
      {"not JSON at all", push("hello", good), 400, "INVALID_JSON"},
      {"empty body", push("", good), 400, "INVALID_JSON"},
      {"duplicate keys", push(R"({"protocol":1,"protocol":1,"clientId":"phone","ops":[]})", good), 400, "INVALID_JSON"},
      {"nesting too deep", push(nested, good), 400, "INVALID_JSON"},
      {"wrong type clientId", push(R"({"protocol":1,"clientId":5,"ops":[]})", good), 400, "INVALID_ARGUMENT"},
      {"ops not an array", push(R"({"protocol":1,"clientId":"phone","ops":{}})", good), 400, "INVALID_ARGUMENT"},
      {"no ops", push(R"({"protocol":1,"clientId":"phone","ops":[]})", good), 400, "INVALID_ARGUMENT"},
      {"protocol missing", push(R"({"clientId":"phone","ops":[]})", good), 400, "INVALID_ARGUMENT"},
      {"protocol as string", push(R"({"protocol":"1","clientId":"phone","ops":[]})", good), 400, "INVALID_ARGUMENT"},
      {"unknown field", push(R"({"protocol":1,"clientId":"phone","ops":[],"extra":1})", good), 400, "INVALID_ARGUMENT"},
      {"bad op id",
       push(PushJson("phone", {R"({"id":"1","kind":"delete","priority":"normal","hlc":")" + std::string(kHlc) +
                               R"(","table":"records","key":{"id":"r1"}})"}),
            good),
       400, "INVALID_ARGUMENT"},
      {"boolean value",
       push(PushJson("phone", {R"({"id":")" + OpId(101) + R"(","kind":"upsert","priority":"normal","hlc":")" + kHlc +
                               R"(","table":"records","key":{"id":"r1"},"columns":{"title":{"value":true,"hlc":")" +
                               kHlc + R"("}}})"}),
            good),
       400, "INVALID_ARGUMENT"},
      {"duplicate op ids in a batch",
       push(PushJson("phone", {UpsertJson(102, "d", "team-7", "a"), UpsertJson(102, "d", "team-7", "b")}), good), 400,
       "INVALID_ARGUMENT"},
      // SQL-injection-shaped identifiers never reach the store.
      {"table with SQL",
       push(PushJson("phone", {op_with(103, R"("records; DROP TABLE records")", R"("title")", R"("id")")}), good), 400,
       "INVALID_ARGUMENT"},
      {"quoted column", push(PushJson("phone", {op_with(104, R"("records")", R"("\"title\"")", R"("id")")}), good), 400,
       "INVALID_ARGUMENT"},
      {"key column with SQL",
       push(PushJson("phone", {op_with(105, R"("records")", R"("title")", R"("id) --")")}), good), 400,
       "INVALID_ARGUMENT"},
      {"column with space", push(PushJson("phone", {op_with(106, R"("records")", R"("a b")", R"("id")")}), good), 400,
       "INVALID_ARGUMENT"},
      // Sizes.
      {"too many ops", push(too_many, good), 413, "TOO_LARGE"},
      {"body over the limit", push(over_limit, good), 413, "TOO_LARGE"},
      {"body over the raw cap", push(over_raw_cap, good), 413, "TOO_LARGE"},
      {"gzip bomb", push(bomb, good, "application/json", {{"Content-Encoding", "gzip"}}), 413, "TOO_LARGE"},
      {"corrupt gzip", push(ok_push, good, "application/json", {{"Content-Encoding", "gzip"}}), 400,
       "INVALID_ARGUMENT"},
      // Tokens.
      {"missing token", push(ok_push), 401, "UNAUTHENTICATED"},
      {"malformed token", push(ok_push, "not-a-token"), 401, "UNAUTHENTICATED"},
      {"forged token", push(ok_push, Token("phone", {"team-7"}, 3600 * 1000, &other)), 401, "UNAUTHENTICATED"},
      {"claims swapped", push(ok_push, swapped), 401, "UNAUTHENTICATED"},
      {"expired token", push(ok_push, Token("phone", {"team-7"}, -60 * 1000)), 401, "UNAUTHENTICATED"},
      {"basic auth", [&, this]() { return Post("/sync/v1/push", ok_push, {{"Authorization", "Basic YTpi"}}); }, 401,
       "UNAUTHENTICATED"},
      {"pull without token", get("/sync/v1/pull?clientId=phone", ""), 401, "UNAUTHENTICATED"},
      // Scopes and devices.
      {"pull of a forbidden scope", get("/sync/v1/pull?clientId=phone&scope=team-8", good), 403, "FORBIDDEN"},
      {"POST pull of a forbidden scope", pull_post(R"({"protocol":1,"clientId":"phone","scopes":["team-7","team-8"]})"),
       403, "FORBIDDEN"},
      {"push as another device", push(PushJson("tablet", {UpsertJson(107, "r9", "team-7", "x")}), good), 403,
       "FORBIDDEN"},
      {"pull as another device", get("/sync/v1/pull?clientId=tablet", good), 403, "FORBIDDEN"},
      // Versions.
      {"protocol 2 push", push(R"({"protocol":2,"clientId":"phone","ops":[]})", good), 426, "UNSUPPORTED_VERSION"},
      {"protocol 2 pull", pull_post(R"({"protocol":2,"clientId":"phone"})"), 426, "UNSUPPORTED_VERSION"},
      {"protocol 2 GET pull", get("/sync/v1/pull?clientId=phone&protocol=2", good), 426, "UNSUPPORTED_VERSION"},
      {"v2 path", [&, this]() { return Post("/sync/v2/push", ok_push, Bearer(good)); }, 426, "UNSUPPORTED_VERSION"},
      // Methods and paths.
      {"GET push", get("/sync/v1/push", good), 405, "METHOD_NOT_ALLOWED"},
      {"DELETE pull", [&, this]() { return client_->Delete("/sync/v1/pull", Bearer(good)); }, 405,
       "METHOD_NOT_ALLOWED"},
      {"PUT push", [&, this]() { return client_->Put("/sync/v1/push", Bearer(good), ok_push, "application/json"); },
       405, "METHOD_NOT_ALLOWED"},
      {"POST health", [&, this]() { return Post("/sync/v1/health", "{}", {}); }, 405, "METHOD_NOT_ALLOWED"},
      {"unknown path", get("/sync/v1/pushes", good), 404, "NOT_FOUND"},
      {"unknown POST path", [&, this]() { return Post("/sync/v1/nope", ok_push, Bearer(good)); }, 404, "NOT_FOUND"},
      {"dev token endpoint is off", [&, this]() { return Post("/dev/token", R"({"user":"u"})", {}); }, 404,
       "NOT_FOUND"},
      // Media types and encodings.
      {"text/plain", push(ok_push, good, "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE"},
      {"form encoded", push(ok_push, good, "application/x-www-form-urlencoded"), 415, "UNSUPPORTED_MEDIA_TYPE"},
      {"brotli body", push(ok_push, good, "application/json", {{"Content-Encoding", "br"}}), 415,
       "UNSUPPORTED_MEDIA_TYPE"},
      {"latin1 charset", push(ok_push, good, "application/json; charset=latin1"), 415, "UNSUPPORTED_MEDIA_TYPE"},
      // GET pull queries.
      {"unknown query parameter", get("/sync/v1/pull?clientId=phone&sql=1", good), 400, "INVALID_ARGUMENT"},
      {"limit not a number", get("/sync/v1/pull?clientId=phone&limit=ten", good), 400, "INVALID_ARGUMENT"},
      {"limit zero", get("/sync/v1/pull?clientId=phone&limit=0", good), 400, "INVALID_ARGUMENT"},
      {"no clientId", get("/sync/v1/pull", good), 400, "INVALID_ARGUMENT"},
      {"repeated cursor", get("/sync/v1/pull?clientId=phone&cursor=a&cursor=b", good), 400, "INVALID_ARGUMENT"},
      {"bad cursor characters", get("/sync/v1/pull?clientId=phone&cursor=%27%3B--", good), 400, "INVALID_ARGUMENT"},
  };
  const std::string before = Snapshot();
  for (const BadCase& c : cases) {
    auto res = c.send();
    ExpectError(res, c.http, c.code, c.name);
    if (c.http == 401) {
      ASSERT_TRUE(res);
      EXPECT_EQ(res->get_header_value("WWW-Authenticate"), "Bearer") << c.name;
    }
    if (c.http == 405) {
      ASSERT_TRUE(res);
      EXPECT_FALSE(res->get_header_value("Allow").empty()) << c.name;
    }
    ExpectServing(c.name);
    EXPECT_EQ(Snapshot(), before) << "the store changed after: " << c.name;
  }
}

TEST_F(HttpServerTest, PerOperationRejectionsApplyNothing) {
  Seed();
  const std::string before = Snapshot(/*with_ops=*/false);
  const std::string good = Token("phone", {"team-7"});
  auto op = [&](int n, const std::string& table, const std::string& column, const std::string& project) {
    return R"({"id":")" + OpId(n) + R"(","kind":"upsert","priority":"normal","hlc":")" + kHlc + R"(","table":")" +
           table + R"(","key":{"id":"r1"},"columns":{")" + column + R"(":{"value":"v","hlc":")" + kHlc +
           R"("},"project":{"value":")" + project + R"(","hlc":")" + kHlc + R"("}}})";
  };
  struct Case {
    std::string name, op, code;
  } cases[] = {
      {"unknown table", op(500, "notes", "title", "team-7"), "UNKNOWN_TABLE"},
      {"unknown column", op(501, "records", "colour", "team-7"), "UNKNOWN_COLUMN"},
      {"column named like SQL but valid", op(502, "records", "DROP_TABLE_records", "team-7"), "UNKNOWN_COLUMN"},
      {"row in a forbidden scope", op(503, "records", "title", "team-8"), "FORBIDDEN"},
  };
  for (const Case& c : cases) {
    auto res = Post("/sync/v1/push", PushJson("phone", {c.op}), Bearer(good));
    ASSERT_TRUE(res) << c.name;
    ASSERT_EQ(res->status, 200) << c.name << ": " << res->body;
    protocol::PushResponse response;
    ASSERT_TRUE(protocol::Decode(res->body, Limits{}, &response).ok()) << res->body;
    ASSERT_EQ(response.results.size(), 1u);
    EXPECT_EQ(response.results[0].status(), protocol::OpStatus::kRejected) << c.name;
    EXPECT_EQ(response.results[0].outcome.code, c.code) << c.name << ": " << res->body;
    EXPECT_EQ(Snapshot(false), before) << c.name;
  }
}

TEST_F(HttpServerTest, ReplayedOperationIsDuplicateAndChangesNothing) {
  const std::string token = Token("phone", {"team-7"});
  const std::string body = PushJson("phone", {UpsertJson(7, "r7", "team-7", "first")});
  auto first = Post("/sync/v1/push", body, Bearer(token));
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  protocol::PushResponse r1;
  ASSERT_TRUE(protocol::Decode(first->body, Limits{}, &r1).ok());
  ASSERT_EQ(r1.results[0].status(), protocol::OpStatus::kApplied);
  const std::string after_first = Snapshot();
  // The same id again, even with different content: duplicate, original outcome, nothing applied.
  for (const std::string& replay : {body, PushJson("phone", {UpsertJson(7, "r7", "team-7", "changed")})}) {
    auto again = Post("/sync/v1/push", replay, Bearer(token));
    ASSERT_TRUE(again);
    ASSERT_EQ(again->status, 200) << again->body;
    protocol::PushResponse r2;
    ASSERT_TRUE(protocol::Decode(again->body, Limits{}, &r2).ok());
    ASSERT_EQ(r2.results.size(), 1u);
    EXPECT_TRUE(r2.results[0].duplicate);
    EXPECT_EQ(r2.results[0].outcome, r1.results[0].outcome);
    EXPECT_EQ(Snapshot(), after_first);
  }
}

TEST_F(HttpServerTest, RejectedRequestWithABodyLeavesTheConnectionUsable) {
  client_->set_keep_alive(true);
  const std::string body = PushJson("phone", {UpsertJson(9, "r9", "team-7", std::string(20000, 'z'))});
  for (int i = 0; i < 3; ++i) {
    ExpectError(Post("/sync/v1/push", body, {}), 401, "UNAUTHENTICATED", "no token");
    ExpectError(Post("/sync/v1/push", body, Bearer(Token("phone", {"team-7"})), "text/plain"), 415,
                "UNSUPPORTED_MEDIA_TYPE", "text/plain");
    auto ok = Post("/sync/v1/push", body, Bearer(Token("phone", {"team-7"})));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << ok->body;
  }
}

// Seeded byte mutations of valid requests: every answer is a decodable success or a 4xx error body, and
// the server keeps serving. (The codec itself is fuzzed in tests/fuzz; this covers the HTTP path around it.)
TEST_F(HttpServerTest, MutatedRequestsGetWellFormedAnswers) {
  const std::string token = Token("phone", {"team-7"});
  const std::string seeds[] = {
      PushJson("phone", {UpsertJson(70, "m1", "team-7", "mutant"), UpsertJson(71, "m2", "team-7", "other")}),
      R"({"protocol":1,"clientId":"phone","cursor":"v1.0","limit":5,"scopes":["team-7"]})",
  };
  const char* paths[] = {"/sync/v1/push", "/sync/v1/pull"};
  std::mt19937 rng(20261122);
  const char alphabet[] = "{}[]\":,0123456789.-eE\\ tfnul\x01\xff\xc3";
  for (int i = 0; i < 400; ++i) {
    const int which = i % 2;
    std::string body = seeds[which];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % body.size();
      switch (rng() % 3) {
        case 0:
          body[at] = alphabet[rng() % (sizeof alphabet - 1)];
          break;
        case 1:
          body.erase(at, 1 + rng() % 8);
          break;
        default:
          body.insert(at, 1, alphabet[rng() % (sizeof alphabet - 1)]);
          break;
      }
      if (body.empty()) body = "{";
    }
    auto res = Post(paths[which], body, Bearer(token));
    ASSERT_TRUE(res) << body;
    if (res->status == 200) {
      if (which == 0) {
        protocol::PushResponse r;
        EXPECT_TRUE(protocol::Decode(res->body, Limits{}, &r).ok()) << body << " -> " << res->body;
      } else {
        protocol::PullResponse r;
        EXPECT_TRUE(protocol::Decode(res->body, Limits{}, &r).ok()) << body << " -> " << res->body;
      }
      continue;
    }
    EXPECT_TRUE(res->status == 400 || res->status == 403 || res->status == 413 || res->status == 426)
        << res->status << " for " << body;
    protocol::ErrorBody error;
    EXPECT_TRUE(protocol::Decode(res->body, Limits{}, &error).ok()) << body << " -> " << res->body;
  }
  ExpectServing("mutated requests");
}

// Chunked request bodies have no Content-Length for httplib to check: they are cut at the cap while read.
TEST_F(HttpServerTest, ChunkedBodiesAreReadAndCapped) {
  auto chunked = [](const std::string& body) {
    std::string out;
    for (size_t i = 0; i < body.size(); i += 4096) {
      std::string part = body.substr(i, 4096);
      char size[16];
      snprintf(size, sizeof size, "%zx\r\n", part.size());
      out += size + part + "\r\n";
    }
    return out + "0\r\n\r\n";
  };
  auto request = [&](const std::string& body, const std::string& extra_headers) {
    return RawRequest(server_->port(), "POST /sync/v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                           Token("phone", {"team-7"}) + "\r\nContent-Type: application/json\r\n" +
                                           extra_headers + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
                                           chunked(body));
  };
  const std::string push = PushJson("phone", {UpsertJson(60, "c1", "team-7", "chunked")});
  std::string ok = request(push, "");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  EXPECT_NE(ok.find("\"applied\""), std::string::npos) << ok;
  const std::string before = Snapshot();
  std::string big = request(std::string(300 * 1024, ' ') + push, "");
  EXPECT_EQ(big.rfind("HTTP/1.1 413", 0), 0u) << big.substr(0, 200);
  EXPECT_NE(big.find("TOO_LARGE"), std::string::npos);
  std::string bomb = request(Gzip(std::string(32 << 20, ' ') + push), "Content-Encoding: gzip\r\n");
  EXPECT_EQ(bomb.rfind("HTTP/1.1 413", 0), 0u) << bomb.substr(0, 200);
  EXPECT_NE(bomb.find("TOO_LARGE"), std::string::npos);
  ExpectServing("chunked bodies");
  EXPECT_EQ(Snapshot(), before);
}

// ---------------------------------------------------------------------------------------------------------
// Happy paths.

TEST_F(HttpServerTest, PushThenPullRoundTripsOverBothPullForms) {
  const std::string token = Token("phone", {"team-7", "team-9"});
  std::vector<std::string> ops;
  for (int i = 0; i < 5; ++i)
    ops.push_back(UpsertJson(10 + i, "r" + std::to_string(i), i < 3 ? "team-7" : "team-9", "t" + std::to_string(i)));
  auto res = Post("/sync/v1/push", PushJson("phone", ops), Bearer(token));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  protocol::PushRequest request;
  ASSERT_TRUE(protocol::Decode(PushJson("phone", ops), Limits{}, &request).ok());
  protocol::PushResponse pushed;
  ASSERT_TRUE(protocol::Decode(res->body, Limits{}, &pushed).ok());
  ASSERT_TRUE(protocol::CheckResultsMatch(request, pushed).ok());
  for (const auto& r : pushed.results) EXPECT_EQ(r.status(), protocol::OpStatus::kApplied);

  // GET, two per page: pages chain by cursor and end with hasMore false.
  std::vector<std::string> keys;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    std::string path =
        "/sync/v1/pull?clientId=phone&limit=2&scope=team-7" + (cursor.empty() ? "" : "&cursor=" + cursor);
    auto got = client_->Get(path.c_str(), Bearer(token));
    ASSERT_TRUE(got);
    ASSERT_EQ(got->status, 200) << got->body;
    EXPECT_EQ(got->get_header_value("Cache-Control"), "no-store");
    protocol::PullResponse pull;
    ASSERT_TRUE(protocol::Decode(got->body, Limits{}, &pull).ok());
    EXPECT_LE(pull.changes.size(), 2u);
    for (const auto& c : pull.changes) keys.push_back(std::get<std::string>(c.key.at("id")));
    cursor = pull.cursor;
    if (!pull.has_more) break;
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"r0", "r1", "r2"}));

  // POST, every allowed scope: all five, with the values pushed.
  auto all = Post("/sync/v1/pull", R"({"protocol":1,"clientId":"phone"})", Bearer(token));
  ASSERT_TRUE(all);
  ASSERT_EQ(all->status, 200) << all->body;
  protocol::PullResponse pull;
  ASSERT_TRUE(protocol::Decode(all->body, Limits{}, &pull).ok());
  ASSERT_EQ(pull.changes.size(), 5u);
  EXPECT_EQ(std::get<std::string>(pull.changes[4].columns.at("title").value), "t4");
  EXPECT_FALSE(pull.has_more);

  // A device that may read team-9 only sees team-9.
  auto other = client_->Get("/sync/v1/pull?clientId=tablet", Bearer(Token("tablet", {"team-9"})));
  ASSERT_TRUE(other);
  ASSERT_TRUE(protocol::Decode(other->body, Limits{}, &pull).ok());
  EXPECT_EQ(pull.changes.size(), 2u);
}

TEST_F(HttpServerTest, GzipBothWays) {
  const std::string token = Token("phone", {"team-7"});
  const std::string body = PushJson("phone", {UpsertJson(20, "g1", "team-7", std::string(5000, 'g'))});
  httplib::Headers headers = Bearer(token);
  headers.emplace("Content-Encoding", "gzip");
  auto res = Post("/sync/v1/push", Gzip(body), headers);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_NE(res->body.find("\"applied\""), std::string::npos);

  size_t wire_bytes = 0;
  const std::string json = GetGzipped("/sync/v1/pull?clientId=phone", Bearer(token), "gzip", &wire_bytes);
  protocol::PullResponse pull;
  ASSERT_TRUE(protocol::Decode(json, Limits{}, &pull).ok()) << json;
  ASSERT_EQ(pull.changes.size(), 1u);
  EXPECT_EQ(std::get<std::string>(pull.changes[0].columns.at("title").value), std::string(5000, 'g'));
  EXPECT_LT(wire_bytes, json.size());
}

// Browsers accept brotli; httplib's runs at quality 11 (tens of ms for a batch answer or a script), so answers
// are gzip: sync answers and static files alike.
TEST_F(HttpServerTest, AnswersAreGzipNotBrotli) {
  const std::string token = Token("phone", {"team-7"});
  httplib::Client raw("127.0.0.1", server_->port());
  raw.set_decompress(false);
  httplib::Headers headers = Bearer(token);
  headers.emplace("Accept-Encoding", "gzip, deflate, br");
  const std::string body = PushJson("phone", {UpsertJson(21, "b1", "team-7", std::string(5000, 'b'))});
  auto res = raw.Post("/sync/v1/push", headers, body, "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Encoding"), "gzip");
  std::string json;
  ASSERT_TRUE(GunzipCapped(res->body, 1 << 20, &json).ok());
  EXPECT_NE(json.find("\"applied\""), std::string::npos) << json;

  httplib::Headers only_br = Bearer(token);
  only_br.emplace("Accept-Encoding", "br");
  auto pulled = raw.Get("/sync/v1/pull?clientId=phone", only_br);
  ASSERT_TRUE(pulled);
  ASSERT_EQ(pulled->status, 200);
  EXPECT_EQ(pulled->get_header_value("Content-Encoding"), "");
  protocol::PullResponse pull;
  EXPECT_TRUE(protocol::Decode(pulled->body, Limits{}, &pull).ok()) << pulled->body;
  EXPECT_EQ(GetGzipped("/app.js", {}, "gzip, deflate, br, zstd"), "export const x = 1;");
}

TEST_F(HttpServerTest, HealthReportsTheStore) {
  Seed();
  auto res = client_->Get("/sync/v1/health");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  protocol::HealthResponse health;
  ASSERT_TRUE(protocol::Decode(res->body, Limits{}, &health).ok()) << res->body;
  EXPECT_EQ(health.status, "ok");
  EXPECT_EQ(health.store, "sqlite");
  EXPECT_EQ(health.protocols, std::vector<int64_t>{1});
  EXPECT_EQ(health.counts.at("changes"), 1);
  EXPECT_GT(health.server_time_ms, 0);
}

TEST_F(HttpServerTest, CorsPreflightAndHeaders) {
  auto pre = client_->Options("/sync/v1/push", {{"Origin", "https://app.example"},
                                                {"Access-Control-Request-Method", "POST"},
                                                {"Access-Control-Request-Headers", "authorization, content-type"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Headers").find("Authorization"), std::string::npos);
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Headers").find("Content-Type"), std::string::npos);
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);

  auto refused = client_->Options("/sync/v1/push",
                                  {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  ExpectError(refused, 403, "FORBIDDEN", "preflight from another origin");
  EXPECT_FALSE(refused->has_header("Access-Control-Allow-Origin"));

  auto allowed = client_->Get("/sync/v1/health", {{"Origin", "https://app.example"}});
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
  auto error = client_->Get("/sync/v1/pull?clientId=x", {{"Origin", "https://app.example"}});
  ASSERT_TRUE(error);
  EXPECT_EQ(error->status, 401);
  EXPECT_EQ(error->get_header_value("Access-Control-Allow-Origin"), "https://app.example");  // readable error
  auto other = client_->Get("/sync/v1/health", {{"Origin", "https://evil.example"}});
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->has_header("Access-Control-Allow-Origin"));
}

TEST_F(HttpServerTest, StaticFilesWithTypesAndNoTraversal) {
  struct File {
    std::string path, type, starts;
  } files[] = {
      {"/", "text/html; charset=utf-8", "<!doctype html>"},
      {"/index.html", "text/html; charset=utf-8", "<!doctype html>"},
      {"/app.js", "text/javascript; charset=utf-8", "export"},
      {"/engine.wasm", "application/wasm", std::string("\0asm", 4)},
      {"/manifest.webmanifest", "application/manifest+json", "{"},
      {"/sub/page.css", "text/css; charset=utf-8", "body"},
  };
  for (const File& f : files) {
    auto res = client_->Get(f.path.c_str());
    ASSERT_TRUE(res) << f.path;
    EXPECT_EQ(res->status, 200) << f.path;
    EXPECT_EQ(res->get_header_value("Content-Type"), f.type) << f.path;
    EXPECT_EQ(res->body.substr(0, f.starts.size()), f.starts) << f.path;
  }
  ExpectError(client_->Get("/missing.js"), 404, "NOT_FOUND", "missing static file");
  for (const char* path : {"/../outside-secret.txt", "/%2e%2e/outside-secret.txt", "/sub/../../outside-secret.txt",
                           "/..%2foutside-secret.txt", "//..//outside-secret.txt"}) {
    std::string answer =
        RawRequest(server_->port(), "GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(answer.find("TOP-SECRET"), std::string::npos) << path << " leaked: " << answer;
    EXPECT_EQ(answer.rfind("HTTP/1.1 4", 0), 0u) << path << ": " << answer.substr(0, 80);
  }
  ExpectServing("traversal attempts");
}

TEST_F(HttpServerTest, DevTokenEndpointWhenEnabled) {
  options_.dev_tokens = true;
  Restart();
  auto res = Post("/dev/token", R"({"user":"dana","device":"laptop","scopes":["team-7"],"ttl":"10m"})", {});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  size_t start = res->body.find("ot1.");
  ASSERT_NE(start, std::string::npos);
  std::string token = res->body.substr(start, res->body.find('"', start) - start);
  Principal who;
  ASSERT_TRUE(auth_->Authenticate("Bearer " + token, NowMs(), &who).ok());
  EXPECT_EQ(who.user, "dana");
  EXPECT_EQ(who.device, "laptop");
  EXPECT_EQ(who.scopes, std::vector<std::string>{"team-7"});
  ExpectError(Post("/dev/token", R"({"user":"dana","device":"laptop","scopes":["team-7"],"ttl":"30d"})", {}), 400,
              "INVALID_ARGUMENT", "ttl above the maximum");
  ExpectError(Post("/dev/token", R"({"user":"dana","device":"laptop","scopes":["team-7"],"admin":true})", {}), 400,
              "INVALID_ARGUMENT", "unknown field");
  ExpectError(Post("/dev/token", R"({"user":"dana","device":"a b","scopes":["team-7"]})", {}), 400, "INVALID_ARGUMENT",
              "bad device");
  ExpectError(client_->Get("/dev/token"), 405, "METHOD_NOT_ALLOWED", "GET /dev/token");
}

TEST_F(HttpServerTest, RequestLogHasOneLinePerRequest) {
  const std::string token = Token("phone", {"team-7"});
  client_->Get("/sync/v1/health");
  Post("/sync/v1/push", PushJson("phone", {UpsertJson(30, "l1", "team-7", "x")}), Bearer(token));
  client_->Get("/nowhere");
  Post("/sync/v1/push", "{}", {});
  RawRequest(server_->port(), "GARBAGE\r\n\r\n");
  server_->Stop();  // flushes and closes the log
  // A line is written after its response is sent, so lines of different connections may interleave: compare
  // them as a set. Format: <ISO time> <method> <path> <status> <ms>ms <device or ->.
  std::vector<std::string> got;
  for (const std::string& line : LogLines()) {
    std::istringstream in(line);
    std::vector<std::string> f;
    for (std::string w; in >> w;) f.push_back(w);
    ASSERT_EQ(f.size(), 6u) << line;
    EXPECT_EQ(f[0].size(), 24u) << line;
    EXPECT_EQ(f[4].substr(f[4].size() - 2), "ms") << line;
    got.push_back(f[1] + " " + f[2] + " " + f[3] + " " + f[5]);
  }
  std::vector<std::string> expected = {"GET /sync/v1/health 200 -", "POST /sync/v1/push 200 phone",
                                       "GET /nowhere 404 -", "POST /sync/v1/push 401 -", "GARBAGE - 400 -"};
  std::sort(got.begin(), got.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(got, expected);
}

TEST_F(HttpServerTest, RateLimitAnswers429WithRetryAfter) {
  // Time stands still unless the test moves it: the buckets refill only when told.
  static std::atomic<int64_t> now{0};
  now = 1'800'000'000'000;
  options_.clock = [] { return now.load(); };
  options_.rate_per_second = 1;
  options_.rate_burst = 2;
  Restart();
  TokenClaims c{"u", "phone", {"team-7"}, now.load(), now.load() + 3600 * 1000};
  std::string token;
  ASSERT_TRUE(auth_->Issue(c, &token).ok());
  auto pull = [&] { return client_->Get("/sync/v1/pull?clientId=phone", Bearer(token)); };
  auto a = pull(), b = pull(), limited = pull();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(b->status, 200);
  ExpectError(limited, 429, "RATE_LIMITED", "third request in the same instant");
  EXPECT_EQ(limited->get_header_value("Retry-After"), "1");
  // Another device has its own bucket; the first one refills with time.
  TokenClaims c2{"u", "tablet", {"team-7"}, now.load(), now.load() + 3600 * 1000};
  std::string token2;
  ASSERT_TRUE(auth_->Issue(c2, &token2).ok());
  auto other = client_->Get("/sync/v1/pull?clientId=tablet", Bearer(token2));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  now += 1000;
  auto later = pull();
  ASSERT_TRUE(later);
  EXPECT_EQ(later->status, 200);
}

// A store that is down: every call fails UNAVAILABLE.
class DownStore : public Store {
 public:
  std::string name() const override { return "down"; }
  Status Push(const Principal&, const protocol::PushRequest&, int64_t, protocol::PushResponse*) override {
    return Down();
  }
  Status Pull(const Principal&, const protocol::PullRequest&, size_t, int64_t, protocol::PullResponse*) override {
    return Down();
  }
  Status PruneTombstones(int64_t) override { return Down(); }
  Status Counts(std::map<std::string, int64_t>*) override { return Down(); }

 private:
  static Status Down() { return Status::Error("UNAVAILABLE", "The database is not reachable."); }
};

TEST_F(HttpServerTest, StoreDownIs503) {
  DownStore down;
  HttpOptions options;
  HttpServer server(&down, auth_.get(), options);
  ASSERT_TRUE(server.Start().ok());
  httplib::Client client("127.0.0.1", server.port());
  auto health = client.Get("/sync/v1/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  protocol::HealthResponse h;
  ASSERT_TRUE(protocol::Decode(health->body, Limits{}, &h).ok()) << health->body;
  EXPECT_EQ(h.status, "unavailable");
  auto push = client.Post("/sync/v1/push", Bearer(Token("phone", {"team-7"})),
                          PushJson("phone", {UpsertJson(40, "x", "team-7", "x")}), "application/json");
  ExpectError(push, 503, "UNAVAILABLE", "push to a store that is down");
  EXPECT_EQ(push->get_header_value("Retry-After"), "1");
  server.Stop();
}

TEST_F(HttpServerTest, StartFailsOnABusyPortAndBadOptions) {
  HttpOptions busy;
  busy.port = server_->port();
  HttpServer second(store_.get(), auth_.get(), busy);
  EXPECT_EQ(second.Start().code(), "UNAVAILABLE");
  HttpOptions bad_static;
  bad_static.static_dir = dir_ + "/no-such-dir";
  HttpServer third(store_.get(), auth_.get(), bad_static);
  EXPECT_EQ(third.Start().code(), "INVALID_ARGUMENT");
  EXPECT_EQ(server_->Start().code(), "INVALID_ARGUMENT");  // a server starts once
  ExpectServing("failed starts of other servers");
}

// ---------------------------------------------------------------------------------------------------------
// The binary.

int RunCommand(const std::string& command, std::string* out) {
  FILE* p = popen((command + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ServerBinaryTest, TokenCommandRoundTripsThroughTheLibrary) {
  std::string dir = TempDir();
  std::string secret = dir + "/secret";
  std::string out;
  ASSERT_EQ(RunCommand(std::string(OUTPOST_SERVER_BINARY) + " secret " + secret, &out), 0);
  ASSERT_NE(RunCommand(std::string(OUTPOST_SERVER_BINARY) + " secret " + secret, &out), 0);  // never overwrites
  out.clear();
  ASSERT_EQ(RunCommand(std::string(OUTPOST_SERVER_BINARY) + " token --secret-file " + secret +
                           " --user alice --device phone-1 --scope team-7 --scope user:alice --ttl 2h",
                       &out),
            0);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  std::unique_ptr<TokenAuthority> auth;
  ASSERT_TRUE(TokenAuthority::FromSecretFile(secret, &auth).ok());
  TokenClaims claims;
  ASSERT_TRUE(auth->Verify(out, NowMs(), &claims).ok()) << out;
  EXPECT_EQ(claims.user, "alice");
  EXPECT_EQ(claims.device, "phone-1");
  EXPECT_EQ(claims.scopes, (std::vector<std::string>{"team-7", "user:alice"}));
  EXPECT_NEAR(static_cast<double>(claims.expires_at_ms - claims.issued_at_ms), 2.0 * 3600 * 1000, 1);
  TokenFailure failure;
  EXPECT_FALSE(auth->Verify(out, claims.expires_at_ms, nullptr, &failure).ok());
  EXPECT_EQ(failure, TokenFailure::kExpired);
  // `verify` reads it back; a token from another secret is refused.
  std::string shown;
  ASSERT_EQ(RunCommand(std::string(OUTPOST_SERVER_BINARY) + " verify --secret-file " + secret + " " + out, &shown), 0);
  EXPECT_NE(shown.find("device phone-1"), std::string::npos) << shown;
  EXPECT_NE(shown.find("scopes team-7 user:alice"), std::string::npos) << shown;
  TokenAuthority other("another-secret-another-secret-another-secret");
  std::string forged;
  TokenClaims forged_claims = claims;
  ASSERT_TRUE(other.Issue(forged_claims, &forged).ok());
  EXPECT_EQ(RunCommand(std::string(OUTPOST_SERVER_BINARY) + " verify --secret-file " + secret + " " + forged, &shown),
            1);
  fs::remove_all(dir);
}

// Starts `outpost-server serve` on a free port, talks to it, stops it with SIGTERM: exit 0, log written.
TEST(ServerBinaryTest, ServeAnswersThenStopsOnSigterm) {
  std::string dir = TempDir();
  std::ofstream(dir + "/schema.json") << kSchema;
  std::ofstream(dir + "/secret") << kSecret;
  int err[2];
  ASSERT_EQ(pipe(err), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(err[1], 2);
    close(err[0]);
    close(err[1]);
    std::string store = "sqlite:" + dir + "/store.db", schema = dir + "/schema.json", secret = dir + "/secret",
                log = dir + "/requests.log";
    execl(OUTPOST_SERVER_BINARY, OUTPOST_SERVER_BINARY, "serve", "--store", store.c_str(), "--schema", schema.c_str(),
          "--secret-file", secret.c_str(), "--port", "0", "--log", log.c_str(), nullptr);
    _exit(127);
  }
  close(err[1]);
  // The first line on stderr says where it listens.
  std::string banner;
  char c;
  while (banner.find('\n') == std::string::npos && read(err[0], &c, 1) == 1) banner += c;
  size_t at = banner.find("http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << banner;
  int port = std::stoi(banner.substr(at + 17));
  httplib::Client client("127.0.0.1", port);
  auto health = client.Get("/sync/v1/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  TokenAuthority auth(kSecret);
  TokenClaims claims{"u", "phone", {"team-7"}, NowMs(), NowMs() + 60000};
  std::string token;
  ASSERT_TRUE(auth.Issue(claims, &token).ok());
  auto push = client.Post("/sync/v1/push", {{"Authorization", "Bearer " + token}},
                          PushJson("phone", {UpsertJson(1, "r1", "team-7", "via the binary")}), "application/json");
  ASSERT_TRUE(push);
  EXPECT_EQ(push->status, 200) << push->body;
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  close(err[0]);
  std::ifstream in(dir + "/requests.log");
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_EQ(lines, 2);
  fs::remove_all(dir);
}

TEST(ServerBinaryTest, BadFlagsExitTwoWithUsage) {
  const std::string bin = OUTPOST_SERVER_BINARY;
  for (const std::string& args :
       {std::string(""), std::string("frobnicate"), std::string("serve"), std::string("serve --store sqlite:x"),
        std::string("serve --store mysql:x --schema s --secret-file f"),
        std::string("serve --store sqlite:x --schema s --secret-file f --port 70000"),
        std::string("serve --store sqlite:x --schema s --secret-file f --tombstone-retention forever"),
        std::string("serve --store sqlite:x --schema s --secret-file f --bogus"),
        std::string("serve --store sqlite:x --store sqlite:y --schema s --secret-file f"),
        std::string("token --user u"), std::string("token --secret-file f --user u --device d --scope s --ttl 5y"),
        std::string("secret")}) {
    std::string out;
    EXPECT_EQ(RunCommand(bin + " " + args, &out), 2) << args;
  }
}

}  // namespace
}  // namespace outpost::server
