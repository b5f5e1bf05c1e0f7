// Retry backoff: the exponential ceiling, full jitter, the cap, Retry-After as a floor, and hostile inputs.
#include "outpost/backoff.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

namespace outpost {
namespace {

constexpr double kAlmostOne = 0.9999999999;

TEST(Backoff, TheCeilingGrowsByTheFactorUpToTheCap) {
  const RetryPolicy p;  // 1 s, x2, 5 min
  const int64_t ceilings[] = {1000, 2000, 4000, 8000, 16'000, 32'000, 64'000, 128'000, 256'000, 300'000, 300'000};
  for (int attempt = 1; attempt <= 11; ++attempt) {
    const int64_t ceiling = ceilings[attempt - 1];
    EXPECT_EQ(RetryDelay(p, attempt, 0.0), 0) << attempt;  // full jitter: as early as now
    EXPECT_EQ(RetryDelay(p, attempt, 0.5), ceiling / 2) << attempt;
    const int64_t top = RetryDelay(p, attempt, kAlmostOne);
    EXPECT_LT(top, ceiling) << attempt;
    EXPECT_GE(top, ceiling - 1) << attempt;
  }
  // Far past the cap, no overflow.
  EXPECT_EQ(RetryDelay(p, 5000, 0.5), 150'000);
  EXPECT_EQ(RetryDelay(p, std::numeric_limits<int>::max(), 0.5), 150'000);
}

TEST(Backoff, UsesThePolicysBaseFactorAndCap) {
  RetryPolicy p;
  p.base_ms = 100;
  p.factor = 3;
  p.cap_ms = 2000;
  EXPECT_EQ(RetryDelay(p, 1, 0.5), 50);
  EXPECT_EQ(RetryDelay(p, 2, 0.5), 150);
  EXPECT_EQ(RetryDelay(p, 3, 0.5), 450);
  EXPECT_EQ(RetryDelay(p, 4, 0.5), 1000);  // 2700 capped at 2000
}

TEST(Backoff, RetryAfterIsAFloorEvenBeyondTheCap) {
  const RetryPolicy p;
  EXPECT_EQ(RetryDelay(p, 1, 0.0, 10'000), 10'000);
  EXPECT_EQ(RetryDelay(p, 1, 0.5, 100), 500);               // the jittered delay is later already
  EXPECT_EQ(RetryDelay(p, 20, 0.5, 3'600'000), 3'600'000);  // the server knows best
  EXPECT_EQ(RetryDelay(p, 1, 0.5, 0), 500);
  EXPECT_EQ(RetryDelay(p, 1, 0.5, -5), 500);
}

TEST(Backoff, HostileInputsGiveSaneDelays) {
  RetryPolicy p;
  EXPECT_EQ(RetryDelay(p, 0, 0.5), 500);  // attempt < 1 counts as 1
  EXPECT_EQ(RetryDelay(p, -3, 0.5), 500);
  EXPECT_EQ(RetryDelay(p, 1, -1.0), 0);  // random clamped into [0, 1)
  EXPECT_LT(RetryDelay(p, 1, 7.0), 1000);
  EXPECT_EQ(RetryDelay(p, 1, std::nan("")), 0);
  p.factor = 0.5;  // shrinking backoff makes no sense: constant
  EXPECT_EQ(RetryDelay(p, 10, 0.5), 500);
  p.factor = std::nan("");
  EXPECT_EQ(RetryDelay(p, 10, 0.5), 500);
  p.factor = std::numeric_limits<double>::infinity();
  EXPECT_EQ(RetryDelay(p, 3, 0.5), 150'000);
  p.base_ms = -1000;
  EXPECT_EQ(RetryDelay(p, 3, 0.5), 0);
  p = RetryPolicy{};
  p.cap_ms = -1;
  EXPECT_EQ(RetryDelay(p, 3, 0.5, 42), 42);
}

TEST(Backoff, UnitFractionMapsRandomBitsIntoTheUnitInterval) {
  EXPECT_EQ(UnitFraction(0), 0.0);
  EXPECT_LT(UnitFraction(std::numeric_limits<uint64_t>::max()), 1.0);
  EXPECT_EQ(UnitFraction(uint64_t{1} << 63), 0.5);
  EXPECT_LT(UnitFraction(uint64_t{1} << 62), UnitFraction(uint64_t{1} << 63));
}

}  // namespace
}  // namespace outpost
