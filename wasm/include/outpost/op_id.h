// Operation ids: every outbox operation carries a client-generated UUIDv7 (RFC 9562) as its idempotency key.
// UUIDv7 rather than ULID because it is a standard UUID (servers, PostgreSQL's uuid type and tooling accept
// it) while sorting by creation time just the same. Sans-IO: the caller passes the Unix ms and the random
// bytes (crypto.getRandomValues in the worker); nothing here reads a clock or a random source.
//
// Invariants:
//  - An id is the canonical 36-character lowercase form: 8-4-4-4-12 hex digits, version 7, variant 0b10.
//  - Its first 48 bits are the Unix ms it was generated for (after the monotonicity adjustments below).
//  - The ids of one OpIdGenerator are strictly increasing, as strings and as 128-bit numbers, even within one
//    millisecond and even if the given time goes backwards (RFC 9562 §6.2, method 1): a 42-bit counter in
//    rand_a and the top 30 bits of rand_b, seeded from the random bytes at each new millisecond with its top
//    bit clear, is incremented within a millisecond; the last 32 bits are fresh random bits in every id.
//  - Counter rollover (more than 2^41 ids in one ms) moves the id to the next millisecond, as the RFC allows.
//  - Not thread-safe.
#ifndef OUTPOST_OP_ID_H_
#define OUTPOST_OP_ID_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "outpost/status.h"

namespace outpost {

class OpIdGenerator {
 public:
  static constexpr size_t kRandomBytes = 10;
  static constexpr size_t kLength = 36;
  static constexpr int64_t kMaxUnixMs = (int64_t{1} << 48) - 1;

  // Stores in *id a new id for time `unix_ms`, using `random` (kRandomBytes fresh random bytes). Returns
  // INVALID_ARGUMENT, *id untouched, if unix_ms is outside [0, kMaxUnixMs]. If the time went backwards, the
  // id continues from the last one's millisecond, so order is kept.
  Status Next(int64_t unix_ms, std::span<const uint8_t, kRandomBytes> random, std::string* id);

  // Continues after `last_id` (the greatest id generated before a restart), so ids stay increasing across
  // restarts even if the clock went backwards. INVALID_ARGUMENT if it is not a valid UUIDv7.
  Status Restore(std::string_view last_id);

 private:
  bool started_ = false;
  int64_t last_ms_ = 0;
  uint64_t counter_ = 0;  // 42 bits
};

// Validates `text` as a canonical (lowercase) UUIDv7 and, if unix_ms is given, stores its timestamp field.
// INVALID_ARGUMENT, with what is wrong, otherwise. Uppercase is rejected: ids are compared as strings.
Status ParseOpId(std::string_view text, int64_t* unix_ms = nullptr);

}  // namespace outpost

#endif  // OUTPOST_OP_ID_H_
