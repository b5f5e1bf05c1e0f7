// capture_native: the capture case of bench/sync.mjs without a browser, to see where a tracked write's CPU
// goes. One engine over the in-memory VFS backend (relaxed durability, as the worker's slot VFS but without
// OPFS) runs N single-row transactions (BEGIN; INSERT; COMMIT, three Exec calls as the worker makes) on a
// tracked table and the same on an untracked twin, alternating in blocks, and prints the time per transaction
// of each and the ratio. Deterministic enough for `valgrind --tool=callgrind` (instruction counts per phase).
// Built on demand: `cmake --build build/native --target capture_native`.
//
//   capture_native [N=20000] [insert|update|bulk]   (bulk: one statement of N rows into each table)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/resource.h>

#include "engine_transport.h"

namespace {

using namespace outpost;
using Clock = std::chrono::steady_clock;

int Fail(const std::string& what, const Status& s) {
  fprintf(stderr, "capture_native: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 1;
}

// Never called: the engine stays paused and only captures.
class NoTransport final : public integration::Transport {
 public:
  TransportResult Perform(const Action&) override { return TransportResult{}; }
};

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  const bool update = argc > 2 && std::strcmp(argv[2], "update") == 0;
  const bool bulk = argc > 2 && std::strcmp(argv[2], "bulk") == 0;
  const char* filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut";
  SyncConfig config;
  config.tables["notes"] = TrackedTable{{"id"}, merge::TablePolicy{}};
  config.pull_interval_ms = 0;
  config.paused = true;
  NoTransport transport;
  integration::Device device("bench-device", config,
                             "CREATE TABLE notes(id TEXT PRIMARY KEY, title TEXT, body TEXT, updated INTEGER);"
                             "CREATE TABLE plain(id TEXT PRIMARY KEY, title TEXT, body TEXT, updated INTEGER);",
                             &transport, 1'763'700'000'000);
  if (!device.status().ok()) return Fail("device", device.status());
  auto row = [&](const char* prefix, int i, int64_t stamp) {
    return Params{{std::string(prefix) + std::to_string(i), "Note " + std::to_string(i),
                   "#" + std::to_string(i) + " " + filler, stamp},
                  {}};
  };
  if (update)
    for (const char* table : {"notes", "plain"})
      for (int i = 0; i < n; ++i)
        if (Status s = device.Exec(std::string("INSERT INTO ") + table + " VALUES (?, ?, ?, ?)", row("n", i, i));
            !s.ok())
          return Fail("fill", s);
  if (bulk) {
    // One statement of n rows into each table (an import): its time, and the peak memory after it (capture
    // holds the statement's operations until it ends).
    double bulk_ms[2];
    long peak_kib[2];
    for (int tracked = 0; tracked < 2; ++tracked) {
      const auto t0 = Clock::now();
      Status s = device.Exec(std::string("WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ") +
                             std::to_string(n - 1) + ") INSERT INTO " + (tracked ? "notes" : "plain") +
                             " SELECT 'b' || i, 'Note ' || i, '#' || i || ' " + filler + "', i FROM c");
      if (!s.ok()) return Fail("bulk", s);
      bulk_ms[tracked] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      rusage usage;
      getrusage(RUSAGE_SELF, &usage);
      peak_kib[tracked] = usage.ru_maxrss;
    }
    printf("{\"n\": %d, \"case\": \"bulk\", \"untrackedMs\": %.1f, \"trackedMs\": %.1f, \"peakKiBAfterUntracked\": %ld, "
           "\"peakKiBAfterTracked\": %ld, \"pending\": %lld}\n",
           n, bulk_ms[0], bulk_ms[1], peak_kib[0], peak_kib[1],
           static_cast<long long>(device.engine().GetStatus().pending));
    return 0;
  }
  double ms[2] = {0, 0};         // untracked, tracked
  int64_t bytes[2] = {0, 0};     // written to storage (WAL appends and checkpoints)
  const int block = 500;
  for (int start = 0; start < n; start += block) {
    for (int tracked = 0; tracked < 2; ++tracked) {
      const std::string table = tracked ? "notes" : "plain";
      const std::string sql = update ? "UPDATE " + table + " SET title = ?2, updated = ?4 WHERE id = ?1"
                                     : "INSERT INTO " + table + "(id, title, body, updated) VALUES (?1, ?2, ?3, ?4)";
      device.backend().ResetCounters();
      const auto t0 = Clock::now();
      for (int i = start; i < std::min(n, start + block); ++i) {
        Status s = device.Exec("BEGIN");
        if (s.ok()) s = device.Exec(sql, row("n", i, 1'000'000 + i));
        if (s.ok()) s = device.Exec("COMMIT");
        if (!s.ok()) return Fail(table, s);
        ++device.now;
      }
      ms[tracked] += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      bytes[tracked] += device.backend().counters().bytes_written;
    }
  }
  printf(
      "{\"n\": %d, \"case\": \"%s\", \"untrackedUs\": %.2f, \"trackedUs\": %.2f, \"ratio\": %.3f, "
      "\"untrackedBytesPerTx\": %.0f, \"trackedBytesPerTx\": %.0f, \"pending\": %lld}\n",
      n, update ? "update" : "insert", ms[0] * 1000 / n, ms[1] * 1000 / n, ms[0] / ms[1],
      static_cast<double>(bytes[0]) / n, static_cast<double>(bytes[1]) / n,
      static_cast<long long>(device.engine().GetStatus().pending));
  return 0;
}
