// Connectivity: the client engine's view of its link to the sync server, as a state machine fed with what
// the transport saw (request and heartbeat outcomes, navigator.onLine hints) and the time. It decides the
// state shown to the app (online | degraded | transitioning | offline), whether pushes and pulls may be sent,
// and when to probe the server with a heartbeat. Sans-IO: every input carries now_ms; jitter comes from a
// generator seeded by the caller, so a run is reproducible.
//
// Rules:
//  - online: the server answers, fast. degraded: it answers, but among the last `window` outcomes of
//    requests and heartbeats one was a timeout, a 5xx or a 429, or more than half of the successful ones
//    were slower than degraded_latency_ms. (Network errors are not outcomes of the window: they say the
//    link is gone, not that it is poor.) A 5xx/429 means degraded at once, from any state: the network
//    works, the server struggles.
//  - A network error or a timeout while online or degraded moves to transitioning; so does an offline hint.
//    transitioning absorbs brief drops: an answer within transitioning_ms goes back to online/degraded;
//    otherwise the state becomes offline at the deadline (whatever probes did in between). A hint never
//    moves straight to offline, and an online hint never changes the state by itself: it makes the next
//    probe due at once (evidence decides).
//  - Probes (heartbeats): while online or degraded, heartbeat_online_ms after the last answer (any answer
//    proves the link; an idle link is probed). While transitioning, heartbeat_offline_min_ms after entering
//    or after the last failure. While offline, after a jittered delay in [n/2, n) whose nominal n starts
//    at heartbeat_offline_min_ms and doubles with every failed heartbeat up to heartbeat_offline_max_ms; an
//    answer, an online hint or ProbeNow() resets n to the minimum.
//  - Only offline stops pushes and pulls (may_send()); heartbeats run in every state.
//  - Time-driven changes (transitioning -> offline) are applied by whichever call comes first at or after
//    the deadline; WakeAt() says when to call in if nothing else happens.
//  - Not thread-safe: one monitor per engine, used from one thread.
#ifndef OUTPOST_CONNECTIVITY_H_
#define OUTPOST_CONNECTIVITY_H_

#include <cstddef>
#include <cstdint>
#include <deque>

namespace outpost {

enum class Connectivity { kOnline, kDegraded, kTransitioning, kOffline };

// The SyncConfig fields of the same names, with the same defaults. Heartbeat intervals below 1 ms count as
// 1 ms; a maximum below the minimum means the minimum.
struct ConnectivityConfig {
  int64_t transitioning_ms = 5'000;           // brief drops absorbed before `offline`
  int64_t heartbeat_online_ms = 30'000;       // probe an idle link this often
  int64_t heartbeat_offline_min_ms = 2'000;   // offline probing starts here, x2 per failure (jittered) ...
  int64_t heartbeat_offline_max_ms = 60'000;  // ... up to here
  int64_t degraded_latency_ms = 2'000;        // slower successful answers mean `degraded`
  size_t window = 5;                          // recent answers the degraded rule looks at (at least 1)
};

// What became of a request or heartbeat.
struct RequestOutcome {
  enum Kind {
    kOk,            // an answer that shows the server works (2xx, and 4xx other than 429)
    kNetworkError,  // no answer: connection refused/reset, DNS, offline
    kTimeout,       // no answer within the request timeout
    kServerError,   // 5xx or 429: reachable, struggling
  } kind = kOk;
  int64_t latency_ms = 0;  // kOk: time from send to answer

  static RequestOutcome Ok(int64_t latency_ms) { return {kOk, latency_ms}; }
  static RequestOutcome Failed(Kind kind) { return {kind, 0}; }
};

class ConnectivityMonitor {
 public:
  // Starts in transitioning (nothing known yet) with a probe due at once; offline after transitioning_ms
  // without an answer. `seed` seeds the jitter of offline probes.
  ConnectivityMonitor(const ConnectivityConfig& config, int64_t now_ms, uint64_t seed);

  // The outcome of a push or pull (OnRequest) or of a heartbeat (OnHeartbeat). They differ in one point:
  // only a failed heartbeat while offline doubles the probe interval.
  void OnRequest(const RequestOutcome& outcome, int64_t now_ms) { Observe(outcome, now_ms, false); }
  void OnHeartbeat(const RequestOutcome& outcome, int64_t now_ms) { Observe(outcome, now_ms, true); }

  // navigator.onLine changed (a hint only, see the rules above).
  void OnOnlineHint(bool online, int64_t now_ms);

  // Makes a probe due at once and resets offline probing to its minimum interval (db.sync.now(), the
  // service worker's `sync` event).
  void ProbeNow(int64_t now_ms);

  // Applies the passage of time and returns the state.
  Connectivity Update(int64_t now_ms);
  // When to send the next heartbeat: now_ms if one is due (the caller keeps one heartbeat in flight).
  int64_t NextProbeAt(int64_t now_ms);
  // The earliest of NextProbeAt and the transitioning deadline: when to call in if nothing else happens.
  int64_t WakeAt(int64_t now_ms);

  // As of the last call.
  Connectivity state() const { return state_; }
  int64_t since_ms() const { return since_ms_; }  // when the current state began
  bool may_send() const { return state_ != Connectivity::kOffline; }

 private:
  struct Sample {
    bool ok;
    int64_t latency_ms;
  };

  void Observe(const RequestOutcome& outcome, int64_t now_ms, bool heartbeat);
  void Enter(Connectivity state, int64_t at_ms);
  void StartTransitioning(int64_t now_ms);
  void ScheduleOfflineProbe(int64_t now_ms);
  void Record(Sample sample);
  Connectivity Reachable() const;  // online or degraded, from the window
  double NextRandom();

  ConnectivityConfig config_;
  Connectivity state_ = Connectivity::kTransitioning;
  int64_t since_ms_ = 0;
  int64_t deadline_ms_ = 0;    // transitioning: when it becomes offline
  int64_t next_probe_ms_ = 0;  // when the next heartbeat is due
  int offline_failures_ = 0;   // failed heartbeats since offline probing (re)started: n = min * 2^failures
  std::deque<Sample> window_;
  uint64_t rng_;
};

}  // namespace outpost

#endif  // OUTPOST_CONNECTIVITY_H_
