// UUIDv7 (RFC 9562 §5.7) with a dedicated counter (§6.2, method 1). Bit layout of the 128 bits, high first:
//   unix_ts_ms:48 | ver:4 = 7 | counter[41:30]:12 (rand_a) | var:2 = 0b10 | counter[29:0]:30 | random:32
#include "outpost/op_id.h"

#include "hex.h"

namespace outpost {
namespace {

constexpr int kCounterBits = 42;
constexpr uint64_t kCounterMax = (uint64_t{1} << kCounterBits) - 1;

uint64_t Load(std::span<const uint8_t, OpIdGenerator::kRandomBytes> random, size_t from, size_t count) {
  uint64_t v = 0;
  for (size_t i = from; i < from + count; ++i) v = (v << 8) | random[i];
  return v;
}

std::string Render(int64_t unix_ms, uint64_t counter, uint32_t tail) {
  const uint64_t hi = (static_cast<uint64_t>(unix_ms) << 16) | (uint64_t{7} << 12) | (counter >> 30);
  const uint64_t lo = (uint64_t{0b10} << 62) | ((counter & ((uint64_t{1} << 30) - 1)) << 32) | tail;
  std::string out;
  out.reserve(OpIdGenerator::kLength);
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
    const uint64_t word = i < 16 ? hi : lo;
    out.push_back(hex::kDigits[(word >> (4 * (15 - i % 16))) & 0xf]);
  }
  return out;
}

Status Invalid(std::string_view text, const char* why) {
  return Status::Error("INVALID_ARGUMENT",
                       "Invalid operation id '" + std::string(text.substr(0, 64)) + "': " + why +
                           ". Expected a lowercase UUIDv7 such as 0190a6f2-7c3e-7abc-8def-0123456789ab.");
}

// Parses the canonical form into its two 64-bit halves.
Status ParseUuid(std::string_view text, uint64_t* hi, uint64_t* lo) {
  if (text.size() != OpIdGenerator::kLength) return Invalid(text, "not 36 characters long");
  uint64_t words[2] = {0, 0};
  int digit_index = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return Invalid(text, "hyphens must be at positions 9, 14, 19 and 24");
      continue;
    }
    const int digit = hex::Digit(c);
    if (digit < 0) return Invalid(text, "only lowercase hex digits are allowed");
    uint64_t& word = words[digit_index / 16];
    word = (word << 4) | static_cast<uint64_t>(digit);
    ++digit_index;
  }
  if (((words[0] >> 12) & 0xf) != 7) return Invalid(text, "not version 7");
  if ((words[1] >> 62) != 0b10) return Invalid(text, "not the RFC 9562 variant");
  *hi = words[0];
  *lo = words[1];
  return Status::OK();
}

}  // namespace

Status OpIdGenerator::Next(int64_t unix_ms, std::span<const uint8_t, kRandomBytes> random, std::string* id) {
  if (unix_ms < 0 || unix_ms > kMaxUnixMs) {
    return Status::Error("INVALID_ARGUMENT", "Operation id time " + std::to_string(unix_ms) +
                                                 " ms is outside the UUIDv7 range [0, 2^48); pass Date.now().");
  }
  // Bytes 0-3: the random tail of this id. Bytes 4-9: the counter seed when a new millisecond starts.
  const uint32_t tail = static_cast<uint32_t>(Load(random, 0, 4));
  const uint64_t seed = Load(random, 4, 6) & (kCounterMax >> 1);  // top bit clear: >= 2^41 ids per ms
  int64_t ms = unix_ms;
  uint64_t counter;
  if (!started_ || ms > last_ms_) {
    counter = seed;
  } else {
    ms = last_ms_;  // same millisecond, or the clock went backwards: continue the last millisecond
    if (counter_ == kCounterMax) {
      if (ms == kMaxUnixMs) {
        return Status::Error("ID_SPACE_EXHAUSTED", "No operation id is left after the last one (year 10889).");
      }
      ++ms;  // counter rollover: borrow the next millisecond
      counter = seed;
    } else {
      counter = counter_ + 1;
    }
  }
  started_ = true;
  last_ms_ = ms;
  counter_ = counter;
  *id = Render(ms, counter, tail);
  return Status::OK();
}

Status OpIdGenerator::Restore(std::string_view last_id) {
  uint64_t hi = 0, lo = 0;
  Status s = ParseUuid(last_id, &hi, &lo);
  if (!s.ok()) return s;
  const int64_t ms = static_cast<int64_t>(hi >> 16);
  const uint64_t counter = ((hi & 0xfff) << 30) | ((lo >> 32) & ((uint64_t{1} << 30) - 1));
  if (!started_ || ms > last_ms_ || (ms == last_ms_ && counter > counter_)) {
    started_ = true;
    last_ms_ = ms;
    counter_ = counter;
  }
  return Status::OK();
}

Status ParseOpId(std::string_view text, int64_t* unix_ms) {
  uint64_t hi = 0, lo = 0;
  Status s = ParseUuid(text, &hi, &lo);
  if (s.ok() && unix_ms != nullptr) *unix_ms = static_cast<int64_t>(hi >> 16);
  return s;
}

}  // namespace outpost
