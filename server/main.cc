// outpost-server: the reference sync server's command line (docs/server.md). `serve` opens a store, loads
// the schema and the token secret and runs HttpServer until SIGINT/SIGTERM, pruning tombstones
// periodically; `token` issues a device token; `secret` writes a new random secret file.
#include <fcntl.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "auth.h"
#include "http_server.h"
#include "store.h"

namespace outpost::server {
namespace {

constexpr char kUsage[] =
    R"(usage:
  outpost-server serve --store sqlite:PATH|postgres:CONNINFO --schema FILE --secret-file FILE
                       [--port N (8787; 0: any)] [--host ADDR (127.0.0.1)] [--static DIR] [--cors ORIGIN]...
                       [--log FILE (default: stdout)] [--tombstone-retention 30d] [--dev-tokens]
                       [--threads N (32)] [--page-size N (1000)] [--max-body BYTES (4194304)]
                       [--rate-limit PER_SECOND] [--rate-burst N]
  outpost-server token --secret-file FILE --user U --device D --scope S [--scope S2]... [--ttl 30d]
  outpost-server verify --secret-file FILE TOKEN    prints the token's claims, or why it is refused (exit 1)
  outpost-server secret FILE        writes 32 random bytes (hex) to a new file, mode 0600
See docs/server.md.
)";

// Exit codes: 0 success, 1 failure at run time, 2 bad command line.
int Usage(const std::string& problem) {
  std::cerr << "outpost-server: " << problem << "\n\n" << kUsage;
  return 2;
}

int Fail(const Status& s) {
  std::cerr << "outpost-server: " << s.code() << ": " << s.message() << "\n";
  return 1;
}

// Flags of the form --name VALUE (repeatable ones collect every value) and --name for booleans.
class Flags {
 public:
  Flags(std::vector<std::string> value_flags, std::vector<std::string> bool_flags)
      : value_flags_(std::move(value_flags)), bool_flags_(std::move(bool_flags)) {}

  // An empty string on success, else the problem.
  std::string Parse(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
      std::string arg = argv[i];
      std::string value;
      bool inline_value = false;
      if (size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        inline_value = true;
      }
      if (Contains(bool_flags_, arg) && !inline_value) {
        values_[arg].push_back("1");
      } else if (Contains(value_flags_, arg)) {
        if (!inline_value) {
          if (i + 1 >= argc) return arg + " needs a value";
          value = argv[++i];
        }
        values_[arg].push_back(value);
      } else {
        return "unknown argument \"" + arg + "\"";
      }
    }
    return "";
  }
  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second.back();
  }
  std::vector<std::string> All(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
  }
  // The names given more than once among `single`, else "".
  std::string Repeated(const std::vector<std::string>& single) const {
    for (const std::string& n : single) {
      if (Has(n) && values_.at(n).size() > 1) return n;
    }
    return "";
  }

 private:
  static bool Contains(const std::vector<std::string>& v, const std::string& s) {
    for (const std::string& x : v) {
      if (x == s) return true;
    }
    return false;
  }
  std::vector<std::string> value_flags_, bool_flags_;
  std::map<std::string, std::vector<std::string>> values_;
};

bool ParseCount(const std::string& text, int64_t min, int64_t max, int64_t* out) {
  if (text.empty() || text.size() > 12) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  *out = std::stoll(text);
  return *out >= min && *out <= max;
}

bool ParseRate(const std::string& text, double* out) {
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return !text.empty() && end == text.c_str() + text.size() && *out > 0 && *out < 1e6;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int TokenCommand(int argc, char** argv) {
  Flags flags({"--secret-file", "--user", "--device", "--scope", "--ttl"}, {});
  if (std::string p = flags.Parse(argc, argv, 2); !p.empty()) return Usage("token: " + p);
  if (std::string r = flags.Repeated({"--secret-file", "--user", "--device", "--ttl"}); !r.empty()) {
    return Usage("token: " + r + " given more than once");
  }
  for (const char* required : {"--secret-file", "--user", "--device", "--scope"}) {
    if (!flags.Has(required)) return Usage(std::string("token: ") + required + " is required");
  }
  int64_t ttl_ms = 0;
  if (Status s = ParseDuration(flags.Get("--ttl", "30d"), &ttl_ms); !s.ok())
    return Usage("token: --ttl: " + s.message());
  std::unique_ptr<TokenAuthority> auth;
  if (Status s = TokenAuthority::FromSecretFile(flags.Get("--secret-file"), &auth); !s.ok()) return Fail(s);
  TokenClaims claims;
  claims.user = flags.Get("--user");
  claims.device = flags.Get("--device");
  claims.scopes = flags.All("--scope");
  claims.issued_at_ms = NowMs();
  claims.expires_at_ms = claims.issued_at_ms + ttl_ms;
  std::string token;
  if (Status s = auth->Issue(claims, &token); !s.ok()) return Usage("token: " + s.message());
  std::cout << token << "\n";
  return 0;
}

int VerifyCommand(int argc, char** argv) {
  std::string secret_file, token;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--secret-file" && i + 1 < argc) {
      secret_file = argv[++i];
    } else if (arg.rfind("--", 0) != 0 && token.empty()) {
      token = arg;
    } else {
      return Usage("verify: unexpected argument \"" + arg + "\"");
    }
  }
  if (secret_file.empty() || token.empty()) return Usage("verify: give --secret-file FILE and the token");
  std::unique_ptr<TokenAuthority> auth;
  if (Status s = TokenAuthority::FromSecretFile(secret_file, &auth); !s.ok()) return Fail(s);
  TokenClaims claims;
  TokenFailure failure = TokenFailure::kNone;
  if (Status s = auth->Verify(token, NowMs(), &claims, &failure); !s.ok()) {
    std::cerr << "outpost-server: token refused (" << TokenFailureName(failure) << "): " << s.message() << "\n";
    return 1;
  }
  std::cout << "user " << claims.user << "\ndevice " << claims.device << "\nscopes";
  for (const std::string& scope : claims.scopes) std::cout << " " << scope;
  std::cout << "\nissued_at_ms " << claims.issued_at_ms << "\nexpires_at_ms " << claims.expires_at_ms << "\n";
  return 0;
}

int SecretCommand(int argc, char** argv) {
  if (argc != 3 || argv[2][0] == '-') return Usage("secret: give the path of the file to create");
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return Fail(Status::Error("INTERNAL", "OpenSSL has no randomness."));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : bytes) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  hex += "\n";
  int fd = open(argv[2], O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    return Fail(Status::Error("INVALID_ARGUMENT", std::string("Cannot create \"") + argv[2] + "\": " + strerror(errno) +
                                                      " (an existing secret is never overwritten)."));
  }
  bool ok = write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
  ok = close(fd) == 0 && ok;
  if (!ok) return Fail(Status::Error("INTERNAL", std::string("Writing \"") + argv[2] + "\" failed."));
  return 0;
}

Status ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error("INVALID_ARGUMENT", "Cannot read \"" + path + "\".");
  std::ostringstream buf;
  buf << in.rdbuf();
  *out = buf.str();
  return Status::OK();
}

// Calls PruneTombstones at start and then every `interval_ms` until stopped.
class Pruner {
 public:
  Pruner(Store* store, int64_t interval_ms) : store_(store), interval_ms_(interval_ms) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Pruner() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      if (Status s = store_->PruneTombstones(NowMs()); !s.ok()) {
        std::cerr << "outpost-server: pruning tombstones failed (will retry): " << s.ToString() << "\n";
      }
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; });
    }
  }
  Store* store_;
  int64_t interval_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

int ServeCommand(int argc, char** argv) {
  Flags flags({"--store", "--schema", "--port", "--host", "--static", "--cors", "--secret-file", "--log",
               "--tombstone-retention", "--threads", "--page-size", "--max-body", "--rate-limit", "--rate-burst"},
              {"--dev-tokens"});
  if (std::string p = flags.Parse(argc, argv, 2); !p.empty()) return Usage("serve: " + p);
  if (std::string r = flags.Repeated({"--store", "--schema", "--port", "--host", "--static", "--secret-file", "--log",
                                      "--tombstone-retention", "--threads", "--page-size", "--max-body", "--rate-limit",
                                      "--rate-burst", "--dev-tokens"});
      !r.empty()) {
    return Usage("serve: " + r + " given more than once");
  }
  for (const char* required : {"--store", "--schema", "--secret-file"}) {
    if (!flags.Has(required)) return Usage(std::string("serve: ") + required + " is required");
  }
  HttpOptions http;
  StoreOptions store_options;
  int64_t n = 0;
  http.host = flags.Get("--host", "127.0.0.1");
  if (!ParseCount(flags.Get("--port", "8787"), 0, 65535, &n)) return Usage("serve: --port must be 0-65535");
  http.port = static_cast<int>(n);
  if (!ParseCount(flags.Get("--threads", "32"), 1, 1024, &n)) return Usage("serve: --threads must be 1-1024");
  http.threads = static_cast<int>(n);
  if (!ParseCount(flags.Get("--page-size", "1000"), 1, 10000, &n)) return Usage("serve: --page-size must be 1-10000");
  http.default_page_size = static_cast<size_t>(n);
  http.max_page_size = std::max<size_t>(http.max_page_size, http.default_page_size);
  if (!ParseCount(flags.Get("--max-body", std::to_string(http.limits.max_body_bytes)), 1024, int64_t{1} << 30, &n)) {
    return Usage("serve: --max-body must be 1024 to 1073741824 bytes");
  }
  http.limits.max_body_bytes = static_cast<size_t>(n);
  if (flags.Has("--rate-limit") && !ParseRate(flags.Get("--rate-limit"), &http.rate_per_second)) {
    return Usage("serve: --rate-limit must be a positive number of requests per second per device");
  }
  if (flags.Has("--rate-burst") && !ParseRate(flags.Get("--rate-burst"), &http.rate_burst)) {
    return Usage("serve: --rate-burst must be a positive number of requests");
  }
  if (Status s = ParseDuration(flags.Get("--tombstone-retention", "30d"), &store_options.tombstone_retention_ms);
      !s.ok()) {
    return Usage("serve: --tombstone-retention: " + s.message());
  }
  http.static_dir = flags.Get("--static");
  http.cors_origins = flags.All("--cors");
  http.dev_tokens = flags.Has("--dev-tokens");
  http.log_file = flags.Get("--log", "-");

  std::string store_spec = flags.Get("--store");
  std::string kind, target;
  if (size_t colon = store_spec.find(':'); colon != std::string::npos) {
    kind = store_spec.substr(0, colon);
    target = store_spec.substr(colon + 1);
  }
  if ((kind != "sqlite" && kind != "postgres" && kind != "postgresql") || target.empty()) {
    return Usage("serve: --store must be sqlite:PATH or postgres:CONNINFO");
  }

  std::unique_ptr<TokenAuthority> auth;
  if (Status s = TokenAuthority::FromSecretFile(flags.Get("--secret-file"), &auth); !s.ok()) return Fail(s);
  std::string schema_text;
  if (Status s = ReadFile(flags.Get("--schema"), &schema_text); !s.ok()) return Fail(s);
  Schema schema;
  if (Status s = Schema::FromJson(schema_text, &schema); !s.ok()) {
    return Fail(Status::Error(s.code(), flags.Get("--schema") + ": " + s.message()));
  }
  std::unique_ptr<Store> store;
  Status opened = kind == "sqlite" ? OpenSqliteStore(target, schema, store_options, &store)
                                   : OpenPostgresStore(target, schema, store_options, &store);
  if (!opened.ok()) return Fail(opened);

  // SIGINT/SIGTERM are taken by one thread with sigwait (blocked everywhere else, before any thread starts).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  HttpServer server(store.get(), auth.get(), http);
  if (Status s = server.Start(); !s.ok()) return Fail(s);
  std::cerr << "outpost-server: listening on http://" << http.host << ":" << server.port() << " (store "
            << store->name() << ", " << schema.tables.size() << " synced tables"
            << (http.static_dir.empty() ? "" : ", static " + http.static_dir) << ")" << std::endl;
  int64_t retention = store_options.tombstone_retention_ms;
  Pruner pruner(store.get(), std::clamp<int64_t>(retention / 10, 1000, 3600 * 1000));
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    server.Stop();
  });
  server.Wait();
  kill(getpid(), SIGTERM);  // wakes the waiter if the listener stopped on its own; blocked, so not fatal
  waiter.join();
  server.Stop();
  std::cerr << "outpost-server: stopped" << std::endl;
  return 0;
}

}  // namespace
}  // namespace outpost::server

int main(int argc, char** argv) {
  using namespace outpost::server;
  if (argc < 2) return Usage("no command");
  std::string command = argv[1];
  if (command == "serve") return ServeCommand(argc, argv);
  if (command == "token") return TokenCommand(argc, argv);
  if (command == "verify") return VerifyCommand(argc, argv);
  if (command == "secret") return SecretCommand(argc, argv);
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return 0;
  }
  return Usage("unknown command \"" + command + "\"");
}
