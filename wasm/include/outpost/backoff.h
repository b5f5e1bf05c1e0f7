// Backoff: how long to wait before retrying a request that failed temporarily (network error, timeout, 5xx,
// 429). Exponential growth with "full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter",
// 2015): the delay is uniform in [0, min(cap, base * factor^(attempt-1))], so clients that failed together
// do not retry together. A server's Retry-After is a floor: never retry earlier than it says. Sans-IO: the
// random fraction comes in as an argument (the engine draws it from its seeded generator).
#ifndef OUTPOST_BACKOFF_H_
#define OUTPOST_BACKOFF_H_

#include <cstdint>
#include <optional>

namespace outpost {

struct RetryPolicy {
  int64_t base_ms = 1000;       // first retry delay (before jitter)
  double factor = 2.0;          // growth per attempt
  int64_t cap_ms = 5 * 60'000;  // ceiling of the delay
  int max_attempts = 0;         // 0: retry temporary failures for ever; else fail with RETRIES_EXHAUSTED
};

// The delay in ms before retry number `attempt` (1 = the first retry): `random` (in [0, 1); clamped) times
// min(cap_ms, base_ms * factor^(attempt-1)), then at least `retry_after_ms` if the server sent one (even
// beyond cap_ms: the server knows when it can take the request). attempt < 1 counts as 1; a negative base
// or cap counts as 0, a factor below 1 (or NaN) as 1. Never negative.
int64_t RetryDelay(const RetryPolicy& policy, int attempt, double random,
                   std::optional<int64_t> retry_after_ms = std::nullopt);

// A uniform fraction in [0, 1) from 64 random bits (the top 53), for RetryDelay's `random`.
double UnitFraction(uint64_t bits);

}  // namespace outpost

#endif  // OUTPOST_BACKOFF_H_
