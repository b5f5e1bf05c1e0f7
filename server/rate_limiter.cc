// Per-device token buckets (rate_limiter.h).
#include "rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace outpost::server {
namespace {
constexpr size_t kMaxIdleBuckets = 100000;
}

RateLimiter::RateLimiter(double per_second, double burst) : per_second_(per_second), burst_(burst) {}

bool RateLimiter::Allow(const std::string& key, int64_t now_ms, int64_t* retry_after_s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (buckets_.size() > kMaxIdleBuckets) {
    // Forget buckets that have refilled: they are indistinguishable from new ones.
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      double refill = (now_ms - it->second.updated_ms) / 1000.0 * per_second_;
      it = it->second.tokens + refill >= burst_ ? buckets_.erase(it) : std::next(it);
    }
  }
  auto [it, inserted] = buckets_.try_emplace(key, Bucket{burst_, now_ms});
  Bucket& b = it->second;
  if (!inserted && now_ms > b.updated_ms) {
    b.tokens = std::min(burst_, b.tokens + (now_ms - b.updated_ms) / 1000.0 * per_second_);
    b.updated_ms = now_ms;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return true;
  }
  *retry_after_s = std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - b.tokens) / per_second_)));
  return false;
}

}  // namespace outpost::server
