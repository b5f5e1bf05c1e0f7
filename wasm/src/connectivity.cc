// Connectivity state machine (wasm/include/outpost/connectivity.h states the rules).
#include "outpost/connectivity.h"

#include <algorithm>

#include "outpost/backoff.h"

namespace outpost {

ConnectivityMonitor::ConnectivityMonitor(const ConnectivityConfig& config, int64_t now_ms, uint64_t seed)
    : config_(config), rng_(seed) {
  config_.window = std::max<size_t>(config_.window, 1);
  config_.heartbeat_online_ms = std::max<int64_t>(config_.heartbeat_online_ms, 1);
  config_.heartbeat_offline_min_ms = std::max<int64_t>(config_.heartbeat_offline_min_ms, 1);
  StartTransitioning(now_ms);
  next_probe_ms_ = now_ms;
}

void ConnectivityMonitor::Enter(Connectivity state, int64_t at_ms) {
  if (state != state_) since_ms_ = at_ms;
  state_ = state;
}

void ConnectivityMonitor::StartTransitioning(int64_t now_ms) {
  state_ = Connectivity::kTransitioning;
  since_ms_ = now_ms;
  deadline_ms_ = now_ms + config_.transitioning_ms;
  next_probe_ms_ = now_ms + config_.heartbeat_offline_min_ms;
}

void ConnectivityMonitor::ScheduleOfflineProbe(int64_t now_ms) {
  // n = min * 2^failures, capped (the loop stops doubling at the cap, so it cannot overflow).
  const int64_t max = std::max(config_.heartbeat_offline_max_ms, config_.heartbeat_offline_min_ms);
  int64_t nominal = config_.heartbeat_offline_min_ms;
  for (int i = 0; i < offline_failures_ && nominal < max; ++i) nominal = std::min(nominal * 2, max);
  const int64_t half = nominal / 2;
  next_probe_ms_ = now_ms + half + static_cast<int64_t>(static_cast<double>(nominal - half) * NextRandom());
}

void ConnectivityMonitor::Record(Sample sample) {
  window_.push_back(sample);
  while (window_.size() > config_.window) window_.pop_front();
}

Connectivity ConnectivityMonitor::Reachable() const {
  size_t ok = 0, slow = 0;
  for (const Sample& s : window_) {
    if (!s.ok) return Connectivity::kDegraded;
    ++ok;
    if (s.latency_ms > config_.degraded_latency_ms) ++slow;
  }
  return 2 * slow > ok ? Connectivity::kDegraded : Connectivity::kOnline;
}

double ConnectivityMonitor::NextRandom() {
  // splitmix64 (Steele, Lea, Flood 2014): a tiny seeded generator; the jitter needs no more.
  uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return UnitFraction(z ^ (z >> 31));
}

Connectivity ConnectivityMonitor::Update(int64_t now_ms) {
  if (state_ == Connectivity::kTransitioning && now_ms >= deadline_ms_) {
    Enter(Connectivity::kOffline, deadline_ms_);
    offline_failures_ = 0;
    ScheduleOfflineProbe(now_ms);
  }
  return state_;
}

void ConnectivityMonitor::Observe(const RequestOutcome& outcome, int64_t now_ms, bool heartbeat) {
  Update(now_ms);
  switch (outcome.kind) {
    case RequestOutcome::kOk:
    case RequestOutcome::kServerError:
      // An answer: the link works.
      Record(Sample{outcome.kind == RequestOutcome::kOk, outcome.latency_ms});
      Enter(Reachable(), now_ms);
      offline_failures_ = 0;
      next_probe_ms_ = now_ms + config_.heartbeat_online_ms;
      return;
    case RequestOutcome::kTimeout:
      Record(Sample{false, 0});  // a slow link, if it comes back
      [[fallthrough]];
    case RequestOutcome::kNetworkError:
      break;
  }
  switch (state_) {
    case Connectivity::kOnline:
    case Connectivity::kDegraded:
      StartTransitioning(now_ms);
      break;
    case Connectivity::kTransitioning:
      next_probe_ms_ = now_ms + config_.heartbeat_offline_min_ms;
      break;
    case Connectivity::kOffline:
      if (heartbeat) {
        offline_failures_ = std::min(offline_failures_ + 1, 62);  // 2^62 * min passes any max
        ScheduleOfflineProbe(now_ms);
      }
      break;
  }
}

void ConnectivityMonitor::OnOnlineHint(bool online, int64_t now_ms) {
  Update(now_ms);
  const bool reachable = state_ == Connectivity::kOnline || state_ == Connectivity::kDegraded;
  if (online && !reachable) ProbeNow(now_ms);
  if (!online && reachable) StartTransitioning(now_ms);
}

void ConnectivityMonitor::ProbeNow(int64_t now_ms) {
  Update(now_ms);
  offline_failures_ = 0;
  next_probe_ms_ = now_ms;
}

int64_t ConnectivityMonitor::NextProbeAt(int64_t now_ms) {
  Update(now_ms);
  return std::max(next_probe_ms_, now_ms);
}

int64_t ConnectivityMonitor::WakeAt(int64_t now_ms) {
  const int64_t probe = NextProbeAt(now_ms);
  return state_ == Connectivity::kTransitioning ? std::min(probe, deadline_ms_) : probe;
}

}  // namespace outpost
