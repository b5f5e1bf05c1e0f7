// Retry delays: exponential growth, full jitter, Retry-After as a floor (wasm/include/outpost/backoff.h).
#include "outpost/backoff.h"

#include <algorithm>
#include <cmath>

namespace outpost {

int64_t RetryDelay(const RetryPolicy& policy, int attempt, double random, std::optional<int64_t> retry_after_ms) {
  const double cap = static_cast<double>(std::max<int64_t>(policy.cap_ms, 0));
  const double base = static_cast<double>(std::max<int64_t>(policy.base_ms, 0));
  const double factor = policy.factor >= 1 ? policy.factor : 1;  // NaN fails the comparison too
  // base * factor^(attempt-1), capped; pow may overflow to infinity, which the cap absorbs (a zero base
  // stays zero rather than 0 * inf = NaN).
  const double ceiling = base == 0 ? 0 : std::min(cap, base * std::pow(factor, std::max(attempt, 1) - 1));
  const double fraction = random >= 0 && random < 1 ? random : (random >= 1 ? std::nextafter(1.0, 0.0) : 0.0);
  int64_t delay = static_cast<int64_t>(ceiling * fraction);
  if (retry_after_ms) delay = std::max(delay, *retry_after_ms);
  return std::max<int64_t>(delay, 0);
}

double UnitFraction(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

}  // namespace outpost
