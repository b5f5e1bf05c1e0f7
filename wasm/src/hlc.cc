// Hybrid logical clock: the merge rules of Kulkarni et al. ("Logical Physical Clocks", 2014) with a drift
// bound on received timestamps, a counter carry instead of an overflow error, and an order-preserving text
// encoding for SQLite.
#include "outpost/hlc.h"

#include <algorithm>
#include <limits>

#include "hex.h"

namespace outpost {
namespace {

constexpr uint32_t kMaxCounter = std::numeric_limits<uint32_t>::max();

int64_t ClampWall(int64_t wall_ms) { return std::clamp<int64_t>(wall_ms, 0, Hlc::kMaxWallMs); }

// Parses `text` as lowercase hex digits only; false on any other character.
bool ParseHex(std::string_view text, uint64_t* value) {
  uint64_t v = 0;
  for (char c : text) {
    const int digit = hex::Digit(c);
    if (digit < 0) return false;
    v = (v << 4) | static_cast<uint64_t>(digit);
  }
  *value = v;
  return true;
}

Status Exhausted() {
  return Status::Error("CLOCK_EXHAUSTED",
                       "The hybrid logical clock reached its maximum (year 10889); the wall clock or a restored "
                       "timestamp is wrong. Fix the device clock and reset the clock state.");
}

}  // namespace

Hlc::Hlc(uint64_t node, int64_t max_drift_ms) : node_(node), max_drift_ms_(std::max<int64_t>(max_drift_ms, 0)) {
  last_.node = node;
}

bool Hlc::Advance(int64_t wall, bool bump, uint32_t counter_base) {
  uint32_t counter = 0;
  if (bump) {
    if (counter_base == kMaxCounter) {
      // 2^32 events within one millisecond: borrow the next millisecond rather than break monotonicity.
      if (wall >= kMaxWallMs) return false;
      ++wall;
    } else {
      counter = counter_base + 1;
    }
  }
  last_ = HlcTimestamp{wall, counter, node_};
  started_ = true;
  return true;
}

HlcTimestamp Hlc::Now(int64_t wall_ms, Status* report) {
  const int64_t physical = ClampWall(wall_ms);
  Status status;
  if (started_ && physical - last_.wall_ms > max_drift_ms_) {
    status = Status::Error("CLOCK_DRIFT", "The local wall clock jumped " + std::to_string(physical - last_.wall_ms) +
                                              " ms ahead of the last timestamp; it is followed. If the device clock "
                                              "is wrong, compare it with the server time before syncing.");
  } else if (started_ && last_.wall_ms - physical > max_drift_ms_) {
    status = Status::Error("CLOCK_DRIFT", "The clock state is " + std::to_string(last_.wall_ms - physical) +
                                              " ms ahead of the local wall clock; timestamps continue from the state "
                                              "to stay monotonic. The wall clock was set back or was wrong earlier.");
  }
  bool advanced;
  if (!started_ || physical > last_.wall_ms) {
    advanced = Advance(physical, /*bump=*/false, 0);
  } else {
    advanced = Advance(last_.wall_ms, /*bump=*/true, last_.counter);
  }
  if (!advanced) status = Exhausted();
  if (report != nullptr) *report = std::move(status);
  return last_;
}

Status Hlc::Receive(const HlcTimestamp& remote, int64_t wall_ms, HlcTimestamp* out) {
  const int64_t physical = ClampWall(wall_ms);
  if (remote.wall_ms < 0 || remote.wall_ms > kMaxWallMs) {
    *out = Now(wall_ms);
    return Status::Error("INVALID_ARGUMENT", "Received timestamp has wall_ms " + std::to_string(remote.wall_ms) +
                                                 " outside [0, 2^48); it was not merged.");
  }
  if (remote.wall_ms - physical > max_drift_ms_) {
    // Not adopted: the receive event is stamped from our own clock, as if the remote said nothing about time.
    *out = Now(wall_ms);
    return Status::Error("CLOCK_DRIFT", "Received timestamp is " + std::to_string(remote.wall_ms - physical) +
                                            " ms ahead of the local clock (the limit is " +
                                            std::to_string(max_drift_ms_) +
                                            " ms); its time was not adopted. The "
                                            "sender's clock is wrong: re-stamp or reject its change.");
  }
  const int64_t local_wall = started_ ? last_.wall_ms : -1;
  const int64_t wall = std::max({local_wall, remote.wall_ms, physical});
  bool advanced;
  if (wall == local_wall && wall == remote.wall_ms) {
    advanced = Advance(wall, /*bump=*/true, std::max(last_.counter, remote.counter));
  } else if (wall == local_wall) {
    advanced = Advance(wall, /*bump=*/true, last_.counter);
  } else if (wall == remote.wall_ms) {
    advanced = Advance(wall, /*bump=*/true, remote.counter);
  } else {
    advanced = Advance(wall, /*bump=*/false, 0);
  }
  *out = last_;
  return advanced ? Status::OK() : Exhausted();
}

void Hlc::Restore(const HlcTimestamp& last) {
  HlcTimestamp restored = last;
  restored.wall_ms = ClampWall(restored.wall_ms);
  if (!started_ || restored > last_) {
    last_ = restored;
    started_ = true;
  }
}

void Hlc::EncodeTo(const Timestamp& ts, char* out) {
  // Runs per column of every captured, sent and acknowledged operation: no allocation here.
  auto put = [out](size_t at, uint64_t value, int digits) {
    for (int i = digits - 1; i >= 0; --i, value >>= 4) out[at + i] = hex::kDigits[value & 0xf];
  };
  put(0, static_cast<uint64_t>(ClampWall(ts.wall_ms)), 12);
  out[12] = '-';
  put(13, ts.counter, 8);
  out[21] = '-';
  put(22, ts.node, 16);
}

std::string Hlc::Encode(const Timestamp& ts) {
  char buf[kEncodedLength];
  EncodeTo(ts, buf);
  return std::string(buf, kEncodedLength);
}

Status Hlc::Decode(std::string_view text, Timestamp* ts) {
  uint64_t wall = 0, counter = 0, node = 0;
  if (text.size() != kEncodedLength || text[12] != '-' || text[21] != '-' || !ParseHex(text.substr(0, 12), &wall) ||
      !ParseHex(text.substr(13, 8), &counter) || !ParseHex(text.substr(22, 16), &node)) {
    return Status::Error("INVALID_ARGUMENT",
                         "Malformed HLC timestamp '" + std::string(text.substr(0, 64)) +
                             "': expected 38 characters, 12 + 8 + 16 lowercase hex digits separated by '-'.");
  }
  *ts = HlcTimestamp{static_cast<int64_t>(wall), static_cast<uint32_t>(counter), node};
  return Status::OK();
}

}  // namespace outpost
