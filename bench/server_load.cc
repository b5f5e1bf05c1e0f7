// server_load: load on outpost-server. N simulated devices (threads, one kept-alive httplib client per
// server each) push batches of row upserts for a fixed time against one or several server URLs, round robin,
// and the tool prints applied operations per second, latency percentiles and errors as one JSON object.
// bench/server-load.sh runs it against SQLite, PostgreSQL and two instances on one PostgreSQL.
//
//   server_load --url http://127.0.0.1:8787 [--url ...] --secret-file F [--devices 16] [--batch 100]
//               [--duration 10s] [--table records] [--scope-column project] [--scope load] [--gzip]
//
// Tokens are minted from the servers' secret file, one per device (the device is the clientId). Every
// operation is a fresh upsert of the device's own row (no conflicts: the cost measured is the store's).
#include <httplib.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "auth.h"
#include "outpost/hlc.h"
#include "outpost/op_id.h"
#include "outpost/protocol.h"
#include "request_body.h"

namespace {

using namespace outpost;
using Clock = std::chrono::steady_clock;

struct Config {
  std::vector<std::string> urls;
  std::string secret_file;
  int devices = 16;
  int batch = 100;
  int64_t duration_ms = 10000;
  std::string table = "records";
  std::string scope_column = "project";
  std::string scope = "load";
  bool gzip = false;
};

struct Totals {
  std::mutex mu;
  std::vector<double> latencies_ms;
  int64_t requests = 0;
  int64_t applied = 0;
  int64_t errors = 0;
  std::vector<std::string> samples;  // the first few errors
  void Error(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    ++errors;
    if (samples.size() < 5) samples.push_back(what.substr(0, 300));
  }
};

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Splits "http://host:port" into host and port.
bool ParseUrl(const std::string& url, std::string* host, int* port) {
  std::string rest = url.rfind("http://", 0) == 0 ? url.substr(7) : url;
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos) return false;
  *host = rest.substr(0, colon);
  *port = std::atoi(rest.c_str() + colon + 1);
  return *port > 0;
}

void Device(const Config& config, int index, const std::string& device, const std::string& token,
            Clock::time_point deadline, Totals* totals) {
  std::vector<std::unique_ptr<httplib::Client>> clients;
  for (const std::string& url : config.urls) {
    std::string host;
    int port = 0;
    ParseUrl(url, &host, &port);
    auto c = std::make_unique<httplib::Client>(host, port);
    c->set_keep_alive(true);
    c->set_read_timeout(60, 0);
    c->set_write_timeout(60, 0);
    clients.push_back(std::move(c));
  }
  uint64_t node = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&node), sizeof node);
  Hlc hlc(node);
  OpIdGenerator ids;
  httplib::Headers headers = {{"Authorization", "Bearer " + token}};
  if (config.gzip) headers.emplace("Content-Encoding", "gzip");
  std::vector<double> latencies;
  int64_t requests = 0, applied = 0, row = 0;
  for (size_t k = static_cast<size_t>(index); Clock::now() < deadline; ++k) {
    protocol::PushRequest push;
    push.client_id = device;
    for (int i = 0; i < config.batch; ++i) {
      protocol::Operation op;
      std::array<uint8_t, OpIdGenerator::kRandomBytes> random;
      RAND_bytes(random.data(), static_cast<int>(random.size()));
      ids.Next(UnixMs(), random, &op.id);
      op.kind = std::string(protocol::kUpsert);
      op.hlc = hlc.Now(UnixMs());
      op.table = config.table;
      op.key["id"] = Value(device + "-" + std::to_string(row++));
      op.columns["title"] = protocol::ColumnValue{Value(std::string("load test row")), op.hlc};
      op.columns["status"] = protocol::ColumnValue{Value(std::string("open")), op.hlc};
      if (!config.scope_column.empty()) {
        op.columns[config.scope_column] = protocol::ColumnValue{Value(config.scope), op.hlc};
      }
      push.ops.push_back(std::move(op));
    }
    std::string body = protocol::Encode(push);
    if (config.gzip) body = server::Gzip(body);
    httplib::Client& client = *clients[k % clients.size()];
    auto start = Clock::now();
    auto res = client.Post("/sync/v1/push", headers, body, "application/json");
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    ++requests;
    if (!res) {
      totals->Error(config.urls[k % clients.size()] + ": " + httplib::to_string(res.error()));
      continue;
    }
    if (res->status != 200) {
      totals->Error(config.urls[k % clients.size()] + ": HTTP " + std::to_string(res->status) + " " + res->body);
      continue;
    }
    protocol::PushResponse response;
    protocol::Limits limits;
    limits.max_ops = std::max<size_t>(limits.max_ops, static_cast<size_t>(config.batch));
    if (Status s = protocol::Decode(res->body, limits, &response); !s.ok()) {
      totals->Error("undecodable response: " + s.ToString());
      continue;
    }
    if (Status s = protocol::CheckResultsMatch(push, response); !s.ok()) {
      totals->Error("mismatched results: " + s.ToString());
      continue;
    }
    latencies.push_back(ms);
    for (const protocol::OpResult& r : response.results) {
      if (r.status() == protocol::OpStatus::kApplied) {
        ++applied;
      } else {
        totals->Error("op " + r.id + " not applied: " + protocol::Encode(response).substr(0, 200));
      }
    }
  }
  std::lock_guard<std::mutex> lock(totals->mu);
  totals->latencies_ms.insert(totals->latencies_ms.end(), latencies.begin(), latencies.end());
  totals->requests += requests;
  totals->applied += applied;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

int Usage(const std::string& problem) {
  std::cerr << "server_load: " << problem
            << "\nusage: server_load --url http://HOST:PORT [--url ...] --secret-file F [--devices 16] "
               "[--batch 100] [--duration 10s] [--table records] [--scope-column project] [--scope load] "
               "[--gzip]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--url") {
      config.urls.push_back(value());
    } else if (arg == "--secret-file") {
      config.secret_file = value();
    } else if (arg == "--devices") {
      config.devices = std::atoi(value().c_str());
    } else if (arg == "--batch") {
      config.batch = std::atoi(value().c_str());
    } else if (arg == "--duration") {
      if (!server::ParseDuration(value(), &config.duration_ms).ok()) return Usage("bad --duration");
    } else if (arg == "--table") {
      config.table = value();
    } else if (arg == "--scope-column") {
      config.scope_column = value();
    } else if (arg == "--scope") {
      config.scope = value();
    } else if (arg == "--gzip") {
      config.gzip = true;
    } else {
      return Usage("unknown argument " + arg);
    }
  }
  if (config.urls.empty() || config.secret_file.empty()) return Usage("--url and --secret-file are required");
  if (config.devices < 1 || config.batch < 1) return Usage("--devices and --batch must be positive");
  for (const std::string& url : config.urls) {
    std::string host;
    int port;
    if (!ParseUrl(url, &host, &port)) return Usage("bad --url " + url);
  }
  std::unique_ptr<server::TokenAuthority> auth;
  if (Status s = server::TokenAuthority::FromSecretFile(config.secret_file, &auth); !s.ok()) {
    return Usage(s.message());
  }
  Totals totals;
  std::vector<std::string> tokens, devices;
  const std::string run = std::to_string(UnixMs());  // fresh rows and devices on every run
  for (int i = 0; i < config.devices; ++i) {
    server::TokenClaims claims;
    claims.user = "load";
    claims.device = "load-" + run + "-" + std::to_string(i);
    devices.push_back(claims.device);
    claims.scopes = {config.scope};
    claims.issued_at_ms = UnixMs();
    claims.expires_at_ms = claims.issued_at_ms + config.duration_ms + 3600 * 1000;
    std::string token;
    if (Status s = auth->Issue(claims, &token); !s.ok()) return Usage(s.message());
    tokens.push_back(token);
  }
  auto start = Clock::now();
  auto deadline = start + std::chrono::milliseconds(config.duration_ms);
  std::vector<std::thread> threads;
  for (int i = 0; i < config.devices; ++i) {
    threads.emplace_back(Device, std::cref(config), i, devices[static_cast<size_t>(i)], tokens[static_cast<size_t>(i)],
                         deadline, &totals);
  }
  for (std::thread& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double>& lat = totals.latencies_ms;
  double p50 = Percentile(lat, 0.50), p99 = Percentile(lat, 0.99), max = lat.empty() ? 0 : lat.back();
  std::string urls;
  for (const std::string& u : config.urls) urls += (urls.empty() ? "" : ",") + JsonString(u);
  std::string samples;
  for (const std::string& s : totals.samples) samples += (samples.empty() ? "" : ",") + JsonString(s);
  printf(
      "{\"urls\":[%s],\"devices\":%d,\"batch\":%d,\"gzip\":%s,\"seconds\":%.2f,\"requests\":%lld,"
      "\"appliedOps\":%lld,\"opsPerSecond\":%.0f,\"latencyMs\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
      "\"errors\":%lld,\"errorSamples\":[%s]}\n",
      urls.c_str(), config.devices, config.batch, config.gzip ? "true" : "false", seconds,
      static_cast<long long>(totals.requests), static_cast<long long>(totals.applied),
      static_cast<double>(totals.applied) / seconds, p50, p99, max, static_cast<long long>(totals.errors),
      samples.c_str());
  return totals.errors == 0 ? 0 : 1;
}
