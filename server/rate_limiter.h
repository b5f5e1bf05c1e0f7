// RateLimiter: a token bucket per device, so one misbehaving device (a retry loop without backoff) cannot
// starve the others. Off unless configured (outpost-server serve --rate-limit). Thread-safe.
#ifndef OUTPOST_SERVER_RATE_LIMITER_H_
#define OUTPOST_SERVER_RATE_LIMITER_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace outpost::server {

class RateLimiter {
 public:
  // `per_second` tokens are added per second up to `burst`; each request takes one.
  // REQUIRES: per_second > 0, burst >= 1.
  RateLimiter(double per_second, double burst);

  // True when `key` may make a request at `now_ms` (and takes a token). Otherwise false and *retry_after_s is
  // the whole number of seconds (>= 1) until a token is available.
  bool Allow(const std::string& key, int64_t now_ms, int64_t* retry_after_s);

 private:
  struct Bucket {
    double tokens;
    int64_t updated_ms;
  };
  const double per_second_;
  const double burst_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;  // GUARDED_BY(mu_); full buckets are dropped when it grows large
};

}  // namespace outpost::server

#endif  // OUTPOST_SERVER_RATE_LIMITER_H_
