// Hlc: the hybrid logical clock that stamps every change and operation the engine records, so that
// last-writer-wins merges on the client and the server agree on an order that respects causality and stays
// close to real time. It is sans-IO: the caller passes the wall-clock reading (Unix ms) into every call; the
// clock reads no time of its own. docs/clock-and-ids.md explains the rules and the choices.
//
// Invariants:
//  - Timestamps are ordered totally by (wall_ms, counter, node); Encode() preserves that order byte-wise.
//  - Every timestamp an Hlc returns is strictly greater than every timestamp it returned, merged (received
//    within the drift bound) or was restored with before, until the clock is exhausted at
//    (kMaxWallMs, UINT32_MAX), ~year 10889.
//  - wall_ms of every timestamp it returns lies in [0, kMaxWallMs]; wall readings outside are clamped.
//  - The clock never adopts a remote wall time more than max_drift_ms ahead of the local wall reading, so
//    one device whose clock says 2030 cannot make every later write lose to it. The local wall clock is
//    followed forward (it is the only time source an offline device has) and its jumps are reported.
//  - A counter that would pass UINT32_MAX carries into wall_ms (+1 ms, counter 0): monotonicity wins over
//    staying exactly on the physical clock.
//  - Not thread-safe: one Hlc per engine, used from one thread.
#ifndef OUTPOST_HLC_H_
#define OUTPOST_HLC_H_

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "outpost/status.h"

namespace outpost {

struct HlcTimestamp {
  int64_t wall_ms = 0;   // Unix ms, physical part; in [0, kMaxWallMs]
  uint32_t counter = 0;  // logical part: orders events within one wall_ms
  uint64_t node = 0;     // the issuing node (device) id; breaks ties so the order is total

  friend auto operator<=>(const HlcTimestamp&, const HlcTimestamp&) = default;
};

class Hlc {
 public:
  using Timestamp = HlcTimestamp;
  static constexpr int64_t kMaxWallMs = (int64_t{1} << 48) - 1;  // 12 hex digits in Encode()
  static constexpr int64_t kDefaultMaxDriftMs = 5 * 60 * 1000;
  static constexpr size_t kEncodedLength = 38;  // "wwwwwwwwwwww-cccccccc-nnnnnnnnnnnnnnnn"

  // `node` identifies this device for good (the caller derives it from random bytes once and persists it).
  // A negative max_drift_ms is treated as 0.
  explicit Hlc(uint64_t node, int64_t max_drift_ms = kDefaultMaxDriftMs);

  // Timestamp for a local event at wall-clock reading `wall_ms`. Strictly greater than everything before,
  // even if the wall clock went backwards. The local clock is followed forward however far it jumps (an
  // offline device cannot tell a long sleep from a wrong clock, see docs/clock-and-ids.md), but the jump is
  // not taken silently: if `report` is given, it is set to CLOCK_DRIFT when the reading is more than
  // max_drift ahead of the clock's state (forward jump: check the time against the server) or the state is
  // more than max_drift ahead of the reading (the wall clock was set back, or a far-future state was
  // restored), and to CLOCK_EXHAUSTED if the clock cannot advance any more; otherwise to OK.
  HlcTimestamp Now(int64_t wall_ms, Status* report = nullptr);

  // Merges a timestamp received from another node with the local reading `wall_ms` and stores in *out a
  // timestamp for the receive event: greater than everything before and, when OK, greater than `remote`.
  // If remote.wall_ms is more than max_drift ahead of `wall_ms`, its time is not adopted: *out is what Now()
  // would return, and the result is CLOCK_DRIFT. The caller must then not keep `remote` as the change's
  // timestamp (re-stamp the change with *out, or reject it). A remote outside [0, kMaxWallMs] gives
  // INVALID_ARGUMENT, with *out as for CLOCK_DRIFT. *out is always a usable timestamp.
  Status Receive(const HlcTimestamp& remote, int64_t wall_ms, HlcTimestamp* out);

  // Continues from the last timestamp persisted before a restart (the greatest one issued or received), so
  // the clock stays monotonic across restarts. Only ever moves the state forward; the node id is kept.
  void Restore(const HlcTimestamp& last);

  // Fixed-width lowercase hex: 12 digits wall_ms, '-', 8 digits counter, '-', 16 digits node (38 chars).
  // Lexicographic order of encodings equals timestamp order, so an SQLite TEXT column sorts correctly with
  // ORDER BY. wall_ms outside [0, kMaxWallMs] is clamped (an Hlc never produces such a timestamp).
  static std::string Encode(const Timestamp& ts);
  // The same kEncodedLength characters into `out` (no allocation: JSON writers append it directly).
  static void EncodeTo(const Timestamp& ts, char* out);

  // Parses exactly the format above; lowercase only, since uppercase hex would sort differently. Malformed
  // input gives INVALID_ARGUMENT and leaves *ts untouched.
  static Status Decode(std::string_view text, Timestamp* ts);

  // The greatest timestamp issued, received or restored so far: what to persist.
  const HlcTimestamp& last() const { return last_; }
  uint64_t node() const { return node_; }
  int64_t max_drift_ms() const { return max_drift_ms_; }

 private:
  // Moves the state to a new timestamp of this node: (wall, counter_base + 1) if `bump`, else (wall, 0). A
  // counter that would pass UINT32_MAX carries: (wall + 1, 0). Returns false, state unchanged, if that would
  // pass kMaxWallMs (the clock is exhausted).
  bool Advance(int64_t wall, bool bump, uint32_t counter_base);

  uint64_t node_;
  int64_t max_drift_ms_;
  bool started_ = false;  // false until the first Now/Receive/Restore: last_ means nothing before
  HlcTimestamp last_;
};

}  // namespace outpost

#endif  // OUTPOST_HLC_H_
