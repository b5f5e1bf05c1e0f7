// Hybrid logical clock: monotonicity, merge rules, the drift clamp, persistence (encoding and restore) and
// counter overflow. All time is simulated: the clock is sans-IO.
#include "outpost/hlc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace outpost {
namespace {

using Ts = HlcTimestamp;

constexpr uint64_t kNodeA = 0x0a0a0a0a0a0a0a0aULL;
constexpr uint64_t kNodeB = 0x0b0b0b0b0b0b0b0bULL;
constexpr uint32_t kMaxCounter = std::numeric_limits<uint32_t>::max();
constexpr int64_t kNow = 1'720'000'000'000;  // 2024-07-03, Unix ms
constexpr int64_t kMinute = 60 * 1000;
constexpr int64_t kFourYears = 4 * 36525LL * 24 * 60 * 60 * 1000 / 100;

TEST(Hlc, NowFollowsTheWallClockAndCountsWithinAMillisecond) {
  Hlc clock(kNodeA);
  EXPECT_EQ(clock.Now(kNow), (Ts{kNow, 0, kNodeA}));
  EXPECT_EQ(clock.Now(kNow), (Ts{kNow, 1, kNodeA}));
  EXPECT_EQ(clock.Now(kNow), (Ts{kNow, 2, kNodeA}));
  EXPECT_EQ(clock.Now(kNow + 1), (Ts{kNow + 1, 0, kNodeA}));
  EXPECT_EQ(clock.last(), (Ts{kNow + 1, 0, kNodeA}));
}

TEST(Hlc, NowIsMonotonicWhenTheWallClockGoesBackwards) {
  Hlc clock(kNodeA);
  EXPECT_EQ(clock.Now(kNow), (Ts{kNow, 0, kNodeA}));
  // NTP steps the clock back 3 s: the wall part holds, the counter keeps order.
  EXPECT_EQ(clock.Now(kNow - 3000), (Ts{kNow, 1, kNodeA}));
  EXPECT_EQ(clock.Now(kNow - 2999), (Ts{kNow, 2, kNodeA}));
  EXPECT_EQ(clock.Now(kNow + 5), (Ts{kNow + 5, 0, kNodeA}));

  // A seeded random walk with frequent backward steps: strictly increasing, wall = the highest reading.
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> step(-2000, 1000);
  int64_t wall = kNow + 5, highest = wall;
  Ts prev = clock.last();
  for (int i = 0; i < 100000; ++i) {
    wall += step(rng);
    highest = std::max(highest, wall);
    Ts ts = clock.Now(wall);
    ASSERT_GT(ts, prev) << "step " << i;
    ASSERT_EQ(ts.wall_ms, highest) << "step " << i;
    ASSERT_EQ(ts.node, kNodeA);
    prev = ts;
  }
}

TEST(Hlc, NowClampsWallReadingsOutsideTheEncodableRange) {
  Hlc clock(kNodeA);
  EXPECT_EQ(clock.Now(-5), (Ts{0, 0, kNodeA}));
  EXPECT_EQ(clock.Now(-1), (Ts{0, 1, kNodeA}));
  EXPECT_EQ(clock.Now(std::numeric_limits<int64_t>::max()), (Ts{Hlc::kMaxWallMs, 0, kNodeA}));
}

TEST(Hlc, ReceiveMergeRules) {
  // (local state, remote, wall reading) -> receive timestamp. Walls within the drift bound.
  struct Case {
    const char* name;
    Ts local;
    Ts remote;
    int64_t wall;
    Ts want;
  } cases[] = {
      {"wall clock ahead of both: counter resets",
       {kNow, 7, kNodeA},
       {kNow + 10, 3, kNodeB},
       kNow + 20,
       {kNow + 20, 0, kNodeA}},
      {"remote ahead: adopt its wall, remote counter + 1",
       {kNow, 7, kNodeA},
       {kNow + 10, 3, kNodeB},
       kNow + 5,
       {kNow + 10, 4, kNodeA}},
      {"local ahead: keep wall, local counter + 1",
       {kNow + 10, 7, kNodeA},
       {kNow, 30, kNodeB},
       kNow + 5,
       {kNow + 10, 8, kNodeA}},
      {"local and remote tie ahead of wall: max counter + 1 (remote larger)",
       {kNow, 2, kNodeA},
       {kNow, 9, kNodeB},
       kNow - 100,
       {kNow, 10, kNodeA}},
      {"local and remote tie ahead of wall: max counter + 1 (local larger)",
       {kNow, 12, kNodeA},
       {kNow, 9, kNodeB},
       kNow - 100,
       {kNow, 13, kNodeA}},
      {"all three equal: max counter + 1", {kNow, 4, kNodeA}, {kNow, 4, kNodeB}, kNow, {kNow, 5, kNodeA}},
      {"remote ties wall reading, local behind", {kNow - 50, 4, kNodeA}, {kNow, 6, kNodeB}, kNow, {kNow, 7, kNodeA}},
      {"local ties wall reading, remote behind", {kNow, 4, kNodeA}, {kNow - 50, 60, kNodeB}, kNow, {kNow, 5, kNodeA}},
      {"remote ahead within the drift bound is adopted",
       {kNow, 0, kNodeA},
       {kNow + 4 * kMinute, 2, kNodeB},
       kNow,
       {kNow + 4 * kMinute, 3, kNodeA}},
      {"remote exactly at the drift bound is adopted",
       {kNow, 0, kNodeA},
       {kNow + 5 * kMinute, 0, kNodeB},
       kNow,
       {kNow + 5 * kMinute, 1, kNodeA}},
      {"local counter overflow carries into wall",
       {kNow, kMaxCounter, kNodeA},
       {kNow - 1, 0, kNodeB},
       kNow,
       {kNow + 1, 0, kNodeA}},
      {"remote counter overflow carries into wall",
       {kNow - 1, 0, kNodeA},
       {kNow, kMaxCounter, kNodeB},
       kNow,
       {kNow + 1, 0, kNodeA}},
  };
  for (const Case& c : cases) {
    Hlc clock(kNodeA);
    clock.Restore(c.local);
    Ts out;
    Status s = clock.Receive(c.remote, c.wall, &out);
    EXPECT_TRUE(s.ok()) << c.name << ": " << s.ToString();
    EXPECT_EQ(out, c.want) << c.name << ": got " << Hlc::Encode(out);
    EXPECT_GT(out, c.remote) << c.name;
    EXPECT_GT(out, c.local) << c.name;
    EXPECT_EQ(clock.last(), out) << c.name;
  }
}

TEST(Hlc, ReceiveOnAFreshClock) {
  Hlc clock(kNodeA);
  Ts out;
  ASSERT_TRUE(clock.Receive({kNow, 3, kNodeB}, kNow - 10, &out).ok());
  EXPECT_EQ(out, (Ts{kNow, 4, kNodeA}));
  Hlc fresh(kNodeA);
  ASSERT_TRUE(fresh.Receive({kNow - 10, 3, kNodeB}, kNow, &out).ok());
  EXPECT_EQ(out, (Ts{kNow, 0, kNodeA}));
}

TEST(Hlc, MessagesBetweenNodesKeepCausalOrder) {
  // Three nodes with skewed clocks (within the drift bound) exchange messages in a seeded random schedule:
  // every receive event is after the send, and every node's timestamps strictly increase.
  std::mt19937_64 rng(7);
  const int64_t skew[3] = {0, 90 * 1000, -120 * 1000};
  std::vector<Hlc> nodes = {Hlc(1), Hlc(2), Hlc(3)};
  std::vector<Ts> last(3);
  int64_t real = kNow;
  for (int i = 0; i < 20000; ++i) {
    real += static_cast<int64_t>(rng() % 3);
    const int from = static_cast<int>(rng() % 3), to = static_cast<int>(rng() % 3);
    Ts sent = nodes[from].Now(real + skew[from]);
    ASSERT_GT(sent, last[from]);
    last[from] = sent;
    if (from == to) continue;
    Ts received;
    Status s = nodes[to].Receive(sent, real + skew[to], &received);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_GT(received, sent);
    ASSERT_GT(received, last[to]);
    last[to] = received;
  }
}

TEST(Hlc, DeviceFourYearsAheadIsClampedAndReported) {
  Hlc server(kNodeA);
  Ts before = server.Now(kNow);
  const Ts future{kNow + kFourYears, 0, kNodeB};  // the device's clock says 2028

  Ts out;
  Status s = server.Receive(future, kNow + 1, &out);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), "CLOCK_DRIFT");
  EXPECT_NE(s.message().find("ahead of the local clock"), std::string::npos) << s.message();
  // Still a usable timestamp: after everything local, on our own time, not the remote's.
  EXPECT_GT(out, before);
  EXPECT_EQ(out, (Ts{kNow + 1, 0, kNodeA}));
  EXPECT_LT(out, future);
  EXPECT_EQ(server.last(), out);

  // The clock was not poisoned: later local events stay on real time, and a write made after the future
  // device's write, stamped by an honest clock, orders by real time, not by the device's claim.
  Ts later = server.Now(kNow + 2);
  EXPECT_EQ(later, (Ts{kNow + 2, 0, kNodeA}));
  Hlc honest(kNodeB);
  Ts honest_write = honest.Now(kNow + 3);
  EXPECT_GT(honest_write, out);  // the re-stamped far-future change loses to a later honest write

  // Just past the bound is rejected too.
  Hlc clock(kNodeA);
  s = clock.Receive({kNow + 5 * kMinute + 1, 0, kNodeB}, kNow, &out);
  EXPECT_EQ(s.code(), "CLOCK_DRIFT");
  EXPECT_EQ(out.wall_ms, kNow);
}

TEST(Hlc, MaxDriftIsConfigurable) {
  Hlc strict(kNodeA, /*max_drift_ms=*/1000);
  Ts out;
  EXPECT_TRUE(strict.Receive({kNow + 1000, 0, kNodeB}, kNow, &out).ok());
  EXPECT_EQ(strict.Receive({kNow + 2001, 0, kNodeB}, kNow, &out).code(), "CLOCK_DRIFT");
  Hlc negative(kNodeA, -10);  // treated as 0
  EXPECT_EQ(negative.max_drift_ms(), 0);
  EXPECT_TRUE(negative.Receive({kNow, 0, kNodeB}, kNow, &out).ok());
  EXPECT_EQ(negative.Receive({kNow + 1, 0, kNodeB}, kNow, &out).code(), "CLOCK_DRIFT");
}

TEST(Hlc, ReceiveRejectsTimestampsOutsideTheRange) {
  Hlc clock(kNodeA);
  Ts out;
  Status s = clock.Receive({-1, 0, kNodeB}, kNow, &out);
  EXPECT_EQ(s.code(), "INVALID_ARGUMENT");
  EXPECT_EQ(out, (Ts{kNow, 0, kNodeA}));
  s = clock.Receive({Hlc::kMaxWallMs + 1, 0, kNodeB}, Hlc::kMaxWallMs, &out);
  EXPECT_EQ(s.code(), "INVALID_ARGUMENT");
  EXPECT_EQ(out, (Ts{Hlc::kMaxWallMs, 0, kNodeA}));
}

TEST(Hlc, LocalClockJumpsAreFollowedButReported) {
  Hlc clock(kNodeA);
  Status report;
  clock.Now(kNow, &report);
  EXPECT_TRUE(report.ok()) << report.ToString();  // a fresh clock has nothing to compare with
  clock.Now(kNow + 5 * kMinute, &report);
  EXPECT_TRUE(report.ok()) << report.ToString();  // within the bound

  // The local clock is set four years ahead: followed (an offline device cannot tell this from a long sleep)
  // but reported, so the engine can check the time against the server before syncing.
  Ts ts = clock.Now(kNow + kFourYears, &report);
  EXPECT_EQ(report.code(), "CLOCK_DRIFT");
  EXPECT_NE(report.message().find("jumped"), std::string::npos) << report.message();
  EXPECT_EQ(ts.wall_ms, kNow + kFourYears);

  // The clock is corrected: timestamps stay monotonic on the state, and that is reported at every reading.
  ts = clock.Now(kNow + 6 * kMinute, &report);
  EXPECT_EQ(report.code(), "CLOCK_DRIFT");
  EXPECT_NE(report.message().find("clock state is"), std::string::npos) << report.message();
  EXPECT_EQ(ts, (Ts{kNow + kFourYears, 1, kNodeA}));
}

TEST(Hlc, EncodingIsFixedWidthLowercaseHex) {
  EXPECT_EQ(Hlc::Encode({0, 0, 0}), "000000000000-00000000-0000000000000000");
  EXPECT_EQ(Hlc::Encode({0x0190a6f27c3e, 0x1f, 0xfedcba9876543210ULL}), "0190a6f27c3e-0000001f-fedcba9876543210");
  EXPECT_EQ(Hlc::Encode({Hlc::kMaxWallMs, kMaxCounter, ~uint64_t{0}}), "ffffffffffff-ffffffff-ffffffffffffffff");
  EXPECT_EQ(Hlc::Encode({kNow, 1, 2}).size(), Hlc::kEncodedLength);
}

TEST(Hlc, EncodeDecodeRoundTripAndOrderMatchesTimestampOrder) {
  std::mt19937_64 rng(20240703);
  // Values cluster on few walls and counters so that ties in the leading fields are common.
  auto random_ts = [&rng]() {
    Ts ts;
    switch (rng() % 4) {
      case 0:
        ts.wall_ms = static_cast<int64_t>(rng() % 4);
        break;
      case 1:
        ts.wall_ms = Hlc::kMaxWallMs - static_cast<int64_t>(rng() % 4);
        break;
      case 2:
        ts.wall_ms = kNow + static_cast<int64_t>(rng() % 8);
        break;
      default:
        ts.wall_ms = static_cast<int64_t>(rng() & static_cast<uint64_t>(Hlc::kMaxWallMs));
        break;
    }
    ts.counter = rng() % 2 ? static_cast<uint32_t>(rng() % 3) : static_cast<uint32_t>(rng());
    ts.node = rng() % 2 ? rng() % 3 : rng();
    return ts;
  };
  std::vector<Ts> all;
  for (int i = 0; i < 5000; ++i) {
    Ts a = random_ts(), b = random_ts();
    std::string ea = Hlc::Encode(a), eb = Hlc::Encode(b);
    ASSERT_EQ(ea.size(), Hlc::kEncodedLength);
    Ts decoded;
    ASSERT_TRUE(Hlc::Decode(ea, &decoded).ok()) << ea;
    ASSERT_EQ(decoded, a) << ea;
    ASSERT_EQ(a <=> b, ea <=> eb) << ea << " vs " << eb;
    all.push_back(a);
  }
  // Sorting the encodings sorts the timestamps.
  std::vector<std::string> encoded;
  for (const Ts& ts : all) encoded.push_back(Hlc::Encode(ts));
  std::sort(all.begin(), all.end());
  std::sort(encoded.begin(), encoded.end());
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(encoded[i], Hlc::Encode(all[i]));
}

TEST(Hlc, DecodeRejectsMalformedInput) {
  const std::string good = "0190a6f27c3e-0000001f-fedcba9876543210";
  Ts ts;
  ASSERT_TRUE(Hlc::Decode(good, &ts).ok());
  const char* bad[] = {
      "",
      "0190a6f27c3e-0000001f-fedcba987654321",      // one digit short
      "0190a6f27c3e-0000001f-fedcba98765432100",    // one digit long
      "0190A6F27C3E-0000001F-FEDCBA9876543210",     // uppercase sorts differently
      "0190a6f27c3e_0000001f-fedcba9876543210",     // wrong separator
      "0190a6f27c3e-0000001f_fedcba9876543210",     // wrong separator
      "0190a6f27c3e00000001f-fedcba9876543210",     // separator replaced by a digit
      "0190a6f27c3-e0000001f-fedcba9876543210",     // separator misplaced
      "0190a6f27c3g-0000001f-fedcba9876543210",     // not hex
      " 190a6f27c3e-0000001f-fedcba9876543210",     // space
      "+190a6f27c3e-0000001f-fedcba9876543210",     // sign
      "0190a6f27c3e-0000001f-fedcba987654321\xc3",  // non-ASCII
      "1720000000000",                              // plain ms
  };
  for (const char* text : bad) {
    Ts untouched{1, 2, 3};
    Status s = Hlc::Decode(text, &untouched);
    EXPECT_EQ(s.code(), "INVALID_ARGUMENT") << text;
    EXPECT_NE(s.message().find("Malformed HLC timestamp"), std::string::npos) << s.message();
    EXPECT_EQ(untouched, (Ts{1, 2, 3})) << text;
  }
  // An embedded NUL makes it malformed too.
  std::string with_nul = good;
  with_nul[5] = '\0';
  EXPECT_EQ(Hlc::Decode(with_nul, &ts).code(), "INVALID_ARGUMENT");
}

TEST(Hlc, RestoreKeepsTheClockMonotonicAcrossRestarts) {
  std::string persisted;
  Ts before_restart;
  {
    Hlc clock(kNodeA);
    for (int i = 0; i < 10; ++i) clock.Now(kNow + 60 * 1000);  // wall clock was ahead before the restart
    Ts out;
    ASSERT_TRUE(clock.Receive({kNow + 61 * 1000, 5, kNodeB}, kNow + 60 * 1000, &out).ok());
    before_restart = clock.last();
    persisted = Hlc::Encode(clock.last());
  }
  // After the restart the wall clock reads a minute earlier (NTP corrected it).
  Hlc clock(kNodeA);
  Ts restored;
  ASSERT_TRUE(Hlc::Decode(persisted, &restored).ok());
  clock.Restore(restored);
  EXPECT_EQ(clock.last(), before_restart);
  Ts first = clock.Now(kNow);
  EXPECT_GT(first, before_restart);
  EXPECT_EQ(first, (Ts{kNow + 61 * 1000, 7, kNodeA}));

  // Restore never moves the clock backwards (e.g. restoring an older persisted value).
  clock.Restore({kNow, 0, kNodeA});
  EXPECT_EQ(clock.last(), first);
  EXPECT_GT(clock.Now(kNow), first);

  // Without the restore, the restarted clock would have issued an older timestamp.
  Hlc forgetful(kNodeA);
  EXPECT_LT(forgetful.Now(kNow), before_restart);
}

TEST(Hlc, CounterOverflowCarriesIntoTheWall) {
  Hlc clock(kNodeA);
  clock.Restore({kNow, kMaxCounter - 1, kNodeA});
  EXPECT_EQ(clock.Now(kNow), (Ts{kNow, kMaxCounter, kNodeA}));
  // 2^32 events in one millisecond: the clock borrows the next millisecond instead of wrapping.
  EXPECT_EQ(clock.Now(kNow), (Ts{kNow + 1, 0, kNodeA}));
  EXPECT_EQ(clock.Now(kNow), (Ts{kNow + 1, 1, kNodeA}));
  // The borrowed millisecond is absorbed when the wall clock catches up.
  EXPECT_EQ(clock.Now(kNow + 1), (Ts{kNow + 1, 2, kNodeA}));
  EXPECT_EQ(clock.Now(kNow + 2), (Ts{kNow + 2, 0, kNodeA}));
}

TEST(Hlc, ExhaustedClockIsReported) {
  Hlc clock(kNodeA);
  clock.Restore({Hlc::kMaxWallMs, kMaxCounter, kNodeA});
  Status report;
  Ts ts = clock.Now(kNow, &report);
  EXPECT_EQ(report.code(), "CLOCK_EXHAUSTED");
  EXPECT_EQ(ts, (Ts{Hlc::kMaxWallMs, kMaxCounter, kNodeA}));
  Ts out;
  EXPECT_EQ(clock.Receive({Hlc::kMaxWallMs, 0, kNodeB}, Hlc::kMaxWallMs, &out).code(), "CLOCK_EXHAUSTED");
  EXPECT_EQ(out, ts);
}

}  // namespace
}  // namespace outpost
