// Connectivity state machine: every transition (online, degraded, transitioning, offline), the probe
// schedule (online interval, transitioning probes, jittered offline backoff) and the navigator.onLine hints,
// all on a simulated clock.
#include "outpost/connectivity.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace outpost {
namespace {

constexpr int64_t kT0 = 1'720'000'000'000;  // Unix ms
constexpr uint64_t kSeed = 42;

using C = Connectivity;
const RequestOutcome kNetworkError = RequestOutcome::Failed(RequestOutcome::kNetworkError);
const RequestOutcome kTimeout = RequestOutcome::Failed(RequestOutcome::kTimeout);
const RequestOutcome kServerError = RequestOutcome::Failed(RequestOutcome::kServerError);
RequestOutcome Ok(int64_t latency_ms = 50) { return RequestOutcome::Ok(latency_ms); }

// A monitor that has seen one fast answer at kT0: online.
ConnectivityMonitor Online(const ConnectivityConfig& config = {}) {
  ConnectivityMonitor m(config, kT0, kSeed);
  m.OnHeartbeat(Ok(), kT0);
  EXPECT_EQ(m.state(), C::kOnline);
  return m;
}

// A monitor that went offline at kT0 + 5 s (no answer since it started at kT0).
ConnectivityMonitor Offline(const ConnectivityConfig& config = {}, uint64_t seed = kSeed) {
  ConnectivityMonitor m(config, kT0, seed);
  EXPECT_EQ(m.Update(kT0 + config.transitioning_ms), C::kOffline);
  return m;
}

TEST(Connectivity, StartsTransitioningWithAProbeDueAndGoesOfflineWithoutAnswer) {
  ConnectivityMonitor m({}, kT0, kSeed);
  EXPECT_EQ(m.state(), C::kTransitioning);
  EXPECT_EQ(m.since_ms(), kT0);
  EXPECT_TRUE(m.may_send());
  EXPECT_EQ(m.NextProbeAt(kT0), kT0);
  EXPECT_EQ(m.WakeAt(kT0 + 1000), kT0 + 1000);  // the probe is overdue: now
  EXPECT_EQ(m.Update(kT0 + 4999), C::kTransitioning);
  EXPECT_EQ(m.Update(kT0 + 5000), C::kOffline);
  EXPECT_EQ(m.since_ms(), kT0 + 5000);
  EXPECT_FALSE(m.may_send());
}

TEST(Connectivity, OfflineIsDatedAtTheDeadlineEvenWhenNoticedLate) {
  ConnectivityMonitor m({}, kT0, kSeed);
  // The tab slept: the next call comes a minute later.
  EXPECT_EQ(m.Update(kT0 + 60'000), C::kOffline);
  EXPECT_EQ(m.since_ms(), kT0 + 5000);
  // The first offline probe is scheduled from now, not from the deadline.
  EXPECT_GE(m.NextProbeAt(kT0 + 60'000), kT0 + 60'000 + 1000);
}

TEST(Connectivity, AFastAnswerMeansOnlineAndAnIdleLinkIsProbedEveryThirtySeconds) {
  ConnectivityMonitor m({}, kT0, kSeed);
  m.OnHeartbeat(Ok(120), kT0 + 120);
  EXPECT_EQ(m.state(), C::kOnline);
  EXPECT_EQ(m.since_ms(), kT0 + 120);
  EXPECT_EQ(m.NextProbeAt(kT0 + 200), kT0 + 120 + 30'000);
  EXPECT_EQ(m.WakeAt(kT0 + 200), kT0 + 120 + 30'000);
  // Any answer proves the link: a push answered at +10 s moves the heartbeat out.
  m.OnRequest(Ok(), kT0 + 10'000);
  EXPECT_EQ(m.NextProbeAt(kT0 + 10'000), kT0 + 40'000);
  // Time alone never changes a reachable state.
  EXPECT_EQ(m.Update(kT0 + 3'600'000), C::kOnline);
  EXPECT_EQ(m.NextProbeAt(kT0 + 3'600'000), kT0 + 3'600'000);  // overdue: now
}

TEST(Connectivity, SlowAnswersMeanDegradedUntilMostAreFastAgain) {
  ConnectivityMonitor m = Online();   // window: [fast]
  m.OnRequest(Ok(2500), kT0 + 1000);  // [fast, slow]: half slow, not more
  EXPECT_EQ(m.state(), C::kOnline);
  m.OnRequest(Ok(3000), kT0 + 2000);  // [fast, slow, slow]: most are slow
  EXPECT_EQ(m.state(), C::kDegraded);
  EXPECT_EQ(m.since_ms(), kT0 + 2000);
  EXPECT_TRUE(m.may_send());
  EXPECT_EQ(m.NextProbeAt(kT0 + 2000), kT0 + 32'000);  // degraded is probed like online
  m.OnRequest(Ok(4000), kT0 + 3000);                   // [f, s, s, s]
  EXPECT_EQ(m.state(), C::kDegraded);
  m.OnRequest(Ok(100), kT0 + 4000);  // [f, s, s, s, f]: 3 of 5 slow
  EXPECT_EQ(m.state(), C::kDegraded);
  m.OnRequest(Ok(100), kT0 + 5000);  // [s, s, s, f, f]: the first answer left the window
  EXPECT_EQ(m.state(), C::kDegraded);
  m.OnRequest(Ok(100), kT0 + 6000);  // [s, s, f, f, f]: 2 of 5 slow
  EXPECT_EQ(m.state(), C::kOnline);
  EXPECT_EQ(m.since_ms(), kT0 + 6000);
}

TEST(Connectivity, TheWindowForgetsOldAnswers) {
  ConnectivityConfig config;
  config.window = 2;
  ConnectivityMonitor m = Online(config);
  m.OnRequest(Ok(5000), kT0 + 1000);
  m.OnRequest(Ok(5000), kT0 + 2000);  // [slow, slow]
  EXPECT_EQ(m.state(), C::kDegraded);
  m.OnRequest(Ok(10), kT0 + 3000);  // [slow, fast]
  EXPECT_EQ(m.state(), C::kOnline);

  config.window = 0;  // means 1: the last answer decides
  ConnectivityMonitor one = Online(config);
  one.OnRequest(Ok(2001), kT0 + 1000);
  EXPECT_EQ(one.state(), C::kDegraded);
  one.OnRequest(Ok(2000), kT0 + 2000);  // exactly the threshold is not slower
  EXPECT_EQ(one.state(), C::kOnline);
}

TEST(Connectivity, AServerErrorMeansDegradedFromEveryStateUntilItLeavesTheWindow) {
  ConnectivityMonitor online = Online();
  online.OnRequest(kServerError, kT0 + 1000);
  EXPECT_EQ(online.state(), C::kDegraded);
  EXPECT_EQ(online.NextProbeAt(kT0 + 1000), kT0 + 31'000);
  for (int i = 1; i <= 4; ++i) {
    online.OnRequest(Ok(), kT0 + 1000 + i * 1000);
    EXPECT_EQ(online.state(), C::kDegraded) << "answer " << i;  // the 5xx is still among the last five
  }
  online.OnRequest(Ok(), kT0 + 6000);
  EXPECT_EQ(online.state(), C::kOnline);

  ConnectivityMonitor starting({}, kT0, kSeed);  // transitioning
  starting.OnHeartbeat(kServerError, kT0 + 100);
  EXPECT_EQ(starting.state(), C::kDegraded);
  EXPECT_EQ(starting.Update(kT0 + 10'000), C::kDegraded);  // reachable: no deadline any more

  ConnectivityMonitor offline = Offline();
  offline.OnHeartbeat(kServerError, kT0 + 9000);
  EXPECT_EQ(offline.state(), C::kDegraded);
  EXPECT_TRUE(offline.may_send());
}

TEST(Connectivity, ANetworkErrorMovesToTransitioningAndABriefDropIsAbsorbed) {
  ConnectivityMonitor m = Online();
  m.OnRequest(kNetworkError, kT0 + 10'000);
  EXPECT_EQ(m.state(), C::kTransitioning);
  EXPECT_EQ(m.since_ms(), kT0 + 10'000);
  EXPECT_TRUE(m.may_send());
  // Probed every 2 s while transitioning; the deadline is 5 s after the drop.
  EXPECT_EQ(m.NextProbeAt(kT0 + 10'000), kT0 + 12'000);
  m.OnHeartbeat(kNetworkError, kT0 + 12'000);
  EXPECT_EQ(m.NextProbeAt(kT0 + 12'000), kT0 + 14'000);
  m.OnHeartbeat(kNetworkError, kT0 + 14'000);
  EXPECT_EQ(m.WakeAt(kT0 + 14'000), kT0 + 15'000);  // the deadline comes before the next probe
  EXPECT_EQ(m.state(), C::kTransitioning);
  // The link is back before the deadline: online, as if nothing happened (the drop was no slow answer).
  m.OnHeartbeat(Ok(), kT0 + 14'900);
  EXPECT_EQ(m.state(), C::kOnline);
  EXPECT_EQ(m.Update(kT0 + 16'000), C::kOnline);
}

TEST(Connectivity, FailuresDoNotExtendTheTransitioningDeadline) {
  ConnectivityMonitor m = Online();
  m.OnRequest(kNetworkError, kT0 + 1000);
  m.OnRequest(kNetworkError, kT0 + 3000);
  m.OnOnlineHint(false, kT0 + 4000);
  EXPECT_EQ(m.Update(kT0 + 5999), C::kTransitioning);
  EXPECT_EQ(m.Update(kT0 + 6000), C::kOffline);
}

TEST(Connectivity, ATimeoutMovesToTransitioningAndLeavesTheLinkDegradedWhenItComesBack) {
  ConnectivityMonitor m = Online();
  m.OnRequest(kTimeout, kT0 + 30'000);
  EXPECT_EQ(m.state(), C::kTransitioning);
  m.OnHeartbeat(Ok(), kT0 + 32'000);
  EXPECT_EQ(m.state(), C::kDegraded);  // the timeout is among the recent answers
}

TEST(Connectivity, TransitioningBecomesOfflineAtTheDeadline) {
  ConnectivityMonitor m = Online();
  m.OnRequest(kNetworkError, kT0 + 1000);
  m.OnHeartbeat(kNetworkError, kT0 + 3000);
  m.OnHeartbeat(kTimeout, kT0 + 5000);
  // The first call at or after the deadline applies it, whatever the call is.
  m.OnRequest(kNetworkError, kT0 + 6500);
  EXPECT_EQ(m.state(), C::kOffline);
  EXPECT_EQ(m.since_ms(), kT0 + 6000);  // dated at the deadline (5 s after the first failure)
  EXPECT_FALSE(m.may_send());
}

TEST(Connectivity, AnOfflineHintNeverMovesStraightToOffline) {
  ConnectivityMonitor m = Online();
  m.OnOnlineHint(false, kT0 + 1000);
  EXPECT_EQ(m.state(), C::kTransitioning);
  EXPECT_EQ(m.NextProbeAt(kT0 + 1000), kT0 + 3000);
  // The hint was wrong (or the drop brief): an answer brings it back.
  m.OnHeartbeat(Ok(), kT0 + 3000);
  EXPECT_EQ(m.state(), C::kOnline);
  // Otherwise offline after the transitioning time.
  m.OnOnlineHint(false, kT0 + 10'000);
  EXPECT_EQ(m.Update(kT0 + 14'999), C::kTransitioning);
  EXPECT_EQ(m.Update(kT0 + 15'000), C::kOffline);
  // More offline hints change nothing.
  const int64_t probe = m.NextProbeAt(kT0 + 15'000);
  m.OnOnlineHint(false, kT0 + 15'500);
  EXPECT_EQ(m.state(), C::kOffline);
  EXPECT_EQ(m.NextProbeAt(kT0 + 15'500), probe);
}

TEST(Connectivity, AnOnlineHintProbesAtOnceButDoesNotChangeTheState) {
  ConnectivityMonitor m = Offline();
  m.OnHeartbeat(kNetworkError, kT0 + 8000);
  m.OnHeartbeat(kNetworkError, kT0 + 16'000);
  ASSERT_GT(m.NextProbeAt(kT0 + 16'000), kT0 + 16'000);
  m.OnOnlineHint(true, kT0 + 17'000);
  EXPECT_EQ(m.state(), C::kOffline);  // a hint, not evidence
  EXPECT_EQ(m.NextProbeAt(kT0 + 17'000), kT0 + 17'000);
  EXPECT_EQ(m.WakeAt(kT0 + 17'000), kT0 + 17'000);
  // That probe fails: the first failure since the hint, so the nominal interval is 4 s again.
  m.OnHeartbeat(kNetworkError, kT0 + 17'100);
  const int64_t next = m.NextProbeAt(kT0 + 17'100) - (kT0 + 17'100);
  EXPECT_GE(next, 2000);
  EXPECT_LT(next, 4000);
  // The probe succeeds: online.
  m.OnOnlineHint(true, kT0 + 18'000);
  m.OnHeartbeat(Ok(), kT0 + 18'050);
  EXPECT_EQ(m.state(), C::kOnline);

  // While transitioning the hint probes at once too; while online it changes nothing.
  ConnectivityMonitor t = Online();
  t.OnRequest(kNetworkError, kT0 + 1000);
  t.OnOnlineHint(true, kT0 + 1500);
  EXPECT_EQ(t.state(), C::kTransitioning);
  EXPECT_EQ(t.NextProbeAt(kT0 + 1500), kT0 + 1500);
  ConnectivityMonitor o = Online();
  o.OnOnlineHint(true, kT0 + 1000);
  EXPECT_EQ(o.NextProbeAt(kT0 + 1000), kT0 + 30'000);
}

TEST(Connectivity, OfflineProbesBackOffExponentiallyWithJitterUpToTheMaximum) {
  ConnectivityMonitor m = Offline();
  int64_t now = kT0 + 5000;
  // Nominal intervals: 2, 4, 8, 16, 32, 60, 60, 60 s; each delay is in [n/2, n).
  const std::vector<int64_t> nominal = {2000, 4000, 8000, 16'000, 32'000, 60'000, 60'000, 60'000};
  for (size_t i = 0; i < nominal.size(); ++i) {
    const int64_t delay = m.NextProbeAt(now) - now;
    EXPECT_GE(delay, nominal[i] / 2) << "probe " << i;
    EXPECT_LT(delay, nominal[i]) << "probe " << i;
    EXPECT_EQ(m.WakeAt(now), now + delay);  // offline: no deadline, only probes
    now += delay;
    m.OnHeartbeat(i % 2 ? kTimeout : kNetworkError, now);
    EXPECT_EQ(m.state(), C::kOffline);
  }
  // ProbeNow (db.sync.now()) probes at once and restarts from the minimum.
  m.ProbeNow(now + 10);
  EXPECT_EQ(m.NextProbeAt(now + 10), now + 10);
  m.OnHeartbeat(kNetworkError, now + 20);
  EXPECT_LT(m.NextProbeAt(now + 20) - (now + 20), 4000);
}

TEST(Connectivity, OnlyFailedHeartbeatsGrowTheOfflineInterval) {
  ConnectivityMonitor m = Offline();
  const int64_t probe = m.NextProbeAt(kT0 + 5000);
  // A push that was in flight when the link dropped fails late: the schedule stays.
  m.OnRequest(kNetworkError, kT0 + 5500);
  EXPECT_EQ(m.NextProbeAt(kT0 + 5500), probe);
}

TEST(Connectivity, ALateAnswerWhileOfflineMeansOnline) {
  ConnectivityMonitor m = Offline();
  m.OnRequest(Ok(900), kT0 + 7000);
  EXPECT_EQ(m.state(), C::kOnline);
  EXPECT_EQ(m.since_ms(), kT0 + 7000);
  EXPECT_EQ(m.NextProbeAt(kT0 + 7000), kT0 + 37'000);
}

TEST(Connectivity, JitterIsDeterministicForASeedAndDiffersBetweenSeeds) {
  auto schedule = [](uint64_t seed) {
    ConnectivityMonitor m = Offline({}, seed);
    std::vector<int64_t> delays;
    int64_t now = kT0 + 5000;
    for (int i = 0; i < 10; ++i) {
      const int64_t at = m.NextProbeAt(now);
      delays.push_back(at - now);
      now = at;
      m.OnHeartbeat(kNetworkError, now);
    }
    return delays;
  };
  EXPECT_EQ(schedule(7), schedule(7));
  EXPECT_NE(schedule(7), schedule(8));
}

TEST(Connectivity, UsesTheConfiguredTimes) {
  ConnectivityConfig config;
  config.transitioning_ms = 1000;
  config.heartbeat_online_ms = 5000;
  config.heartbeat_offline_min_ms = 100;
  config.heartbeat_offline_max_ms = 300;
  config.degraded_latency_ms = 50;
  ConnectivityMonitor m(config, kT0, kSeed);
  m.OnHeartbeat(Ok(60), kT0 + 60);
  EXPECT_EQ(m.state(), C::kDegraded);
  EXPECT_EQ(m.NextProbeAt(kT0 + 60), kT0 + 5060);
  m.OnRequest(kNetworkError, kT0 + 100);
  EXPECT_EQ(m.NextProbeAt(kT0 + 100), kT0 + 200);
  EXPECT_EQ(m.Update(kT0 + 1100), C::kOffline);
  int64_t now = kT0 + 1100;
  for (int i = 0; i < 5; ++i) {
    const int64_t delay = m.NextProbeAt(now) - now;
    EXPECT_LT(delay, 300) << i;
    EXPECT_GE(delay, i == 0 ? 50 : (i == 1 ? 100 : 150)) << i;
    now += delay;
    m.OnHeartbeat(kNetworkError, now);
  }
}

TEST(Connectivity, ZeroIntervalsCountAsOneMillisecond) {
  ConnectivityConfig config;
  config.heartbeat_online_ms = 0;
  config.heartbeat_offline_min_ms = 0;
  config.heartbeat_offline_max_ms = 0;
  ConnectivityMonitor m(config, kT0, kSeed);
  m.OnHeartbeat(Ok(), kT0);
  EXPECT_EQ(m.NextProbeAt(kT0), kT0 + 1);
  m.OnRequest(kNetworkError, kT0 + 10);
  EXPECT_EQ(m.NextProbeAt(kT0 + 10), kT0 + 11);
  EXPECT_EQ(m.Update(kT0 + 5010), C::kOffline);
  for (int i = 0; i < 100; ++i) m.OnHeartbeat(kNetworkError, kT0 + 5010);  // no overflow however often
  const int64_t delay = m.NextProbeAt(kT0 + 5010) - (kT0 + 5010);
  EXPECT_GE(delay, 0);
  EXPECT_LE(delay, 1);
}

}  // namespace
}  // namespace outpost
