// Operation ids (UUIDv7, RFC 9562): layout, the timestamp field, monotonic order within and across
// milliseconds, restore after a restart, counter rollover, and parsing.
#include "outpost/op_id.h"

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace outpost {
namespace {

using Random = std::array<uint8_t, OpIdGenerator::kRandomBytes>;

constexpr int64_t kMs = 0x017F22E279B0;  // RFC 9562 appendix A.6: Tuesday, February 22, 2022 2:22:22 PM GMT

Random Bytes(std::mt19937_64& rng) {
  Random r;
  for (auto& b : r) b = static_cast<uint8_t>(rng());
  return r;
}

std::string MustNext(OpIdGenerator& gen, int64_t ms, const Random& random) {
  std::string id;
  Status s = gen.Next(ms, random, &id);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return id;
}

TEST(OpId, KnownLayout) {
  // Independent computation of the bit layout: ms | 7 | counter[41:30] | 0b10 | counter[29:0] | tail, with
  // tail = bytes 0-3 and counter = bytes 4-9 masked to 41 bits.
  OpIdGenerator gen;
  const Random random = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa};
  EXPECT_EQ(MustNext(gen, kMs, random), "017f22e2-79b0-7599-b788-99aa11223344");
  // Same millisecond: counter + 1, fresh tail.
  const Random next = {0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(MustNext(gen, kMs, next), "017f22e2-79b0-7599-b788-99abdeadbeef");
}

TEST(OpId, VersionVariantAndTimestampField) {
  std::mt19937_64 rng(1);
  OpIdGenerator gen;
  for (int64_t ms : {int64_t{0}, int64_t{1}, kMs, int64_t{1'720'000'000'000}, OpIdGenerator::kMaxUnixMs}) {
    for (int i = 0; i < 100; ++i) {
      OpIdGenerator fresh;
      std::string id = MustNext(fresh, ms, Bytes(rng));
      ASSERT_EQ(id.size(), OpIdGenerator::kLength);
      EXPECT_EQ(id[8], '-');
      EXPECT_EQ(id[13], '-');
      EXPECT_EQ(id[18], '-');
      EXPECT_EQ(id[23], '-');
      EXPECT_EQ(id[14], '7') << id;                                          // version
      EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;  // variant 0b10xx
      int64_t parsed = -1;
      ASSERT_TRUE(ParseOpId(id, &parsed).ok()) << id;
      EXPECT_EQ(parsed, ms) << id;
      char hex[13];
      std::snprintf(hex, sizeof(hex), "%012llx", static_cast<unsigned long long>(ms));
      EXPECT_EQ(id.substr(0, 8) + id.substr(9, 4), hex) << id;
    }
  }
}

TEST(OpId, TenThousandIdsInOneMillisecondSortInGenerationOrder) {
  std::mt19937_64 rng(2);
  OpIdGenerator gen;
  std::vector<std::string> ids;
  for (int i = 0; i < 10000; ++i) ids.push_back(MustNext(gen, kMs, Bytes(rng)));
  for (size_t i = 1; i < ids.size(); ++i) ASSERT_LT(ids[i - 1], ids[i]) << i;
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  for (const std::string& id : ids) {
    int64_t ms;
    ASSERT_TRUE(ParseOpId(id, &ms).ok());
    ASSERT_EQ(ms, kMs);
  }
}

TEST(OpId, IdsSortInGenerationOrderAcrossMillisecondsAndBackwardClocks) {
  std::mt19937_64 rng(3);
  OpIdGenerator gen;
  std::vector<std::string> ids;
  int64_t ms = kMs, highest = kMs;
  for (int i = 0; i < 20000; ++i) {
    ms += static_cast<int64_t>(rng() % 5) - 1;  // mostly forward, sometimes back a millisecond, often the same
    if (rng() % 1000 == 0) ms -= 10000;         // occasionally NTP steps back 10 s
    highest = std::max(highest, ms);
    std::string id = MustNext(gen, ms, Bytes(rng));
    int64_t field;
    ASSERT_TRUE(ParseOpId(id, &field).ok());
    ASSERT_EQ(field, highest) << "a backward step continues the last millisecond";
    ids.push_back(id);
  }
  for (size_t i = 1; i < ids.size(); ++i) ASSERT_LT(ids[i - 1], ids[i]) << i;
}

TEST(OpId, CounterIsSeededFromTheRandomBytes) {
  // Two devices creating an id in the same millisecond get different ids.
  OpIdGenerator a, b;
  Random ra{}, rb{};
  rb[9] = 1;
  EXPECT_NE(MustNext(a, kMs, ra), MustNext(b, kMs, rb));
  // With every random bit set, the seed's top counter bit (the top bit of rand_a) is still clear: at least
  // 2^41 ids fit in the millisecond.
  OpIdGenerator c;
  Random ones;
  ones.fill(0xff);
  EXPECT_EQ(MustNext(c, kMs, ones), "017f22e2-79b0-77ff-bfff-ffffffffffff");
}

TEST(OpId, CounterRolloverMovesToTheNextMillisecond) {
  OpIdGenerator gen;
  // An id at kMs whose 42-bit counter is all ones.
  ASSERT_TRUE(gen.Restore("017f22e2-79b0-7fff-bfff-ffff00000000").ok());
  Random random{};
  std::string id = MustNext(gen, kMs, random);
  int64_t ms;
  ASSERT_TRUE(ParseOpId(id, &ms).ok());
  EXPECT_EQ(ms, kMs + 1);
  EXPECT_GT(id, "017f22e2-79b0-7fff-bfff-ffff00000000");
  // The next real millisecond continues after the borrowed one.
  std::string next = MustNext(gen, kMs + 1, random);
  EXPECT_GT(next, id);
}

TEST(OpId, RestoreKeepsIdsIncreasingAcrossRestarts) {
  std::mt19937_64 rng(4);
  std::string last;
  {
    OpIdGenerator gen;
    for (int i = 0; i < 100; ++i) last = MustNext(gen, kMs + 1000, Bytes(rng));
  }
  // The restarted process's clock reads a second earlier.
  OpIdGenerator gen;
  ASSERT_TRUE(gen.Restore(last).ok());
  std::string id = MustNext(gen, kMs, Bytes(rng));
  EXPECT_GT(id, last);
  // Restoring an older id does not move the generator back.
  ASSERT_TRUE(gen.Restore("017f22e2-79b0-7000-8000-000000000000").ok());
  EXPECT_GT(MustNext(gen, kMs, Bytes(rng)), id);
  EXPECT_EQ(gen.Restore("not an id").code(), "INVALID_ARGUMENT");
}

TEST(OpId, NextRejectsTimesOutsideTheRange) {
  OpIdGenerator gen;
  Random random{};
  std::string id = "unchanged";
  EXPECT_EQ(gen.Next(-1, random, &id).code(), "INVALID_ARGUMENT");
  EXPECT_EQ(gen.Next(OpIdGenerator::kMaxUnixMs + 1, random, &id).code(), "INVALID_ARGUMENT");
  EXPECT_EQ(id, "unchanged");
}

TEST(OpId, ParseRejectsBadStrings) {
  ASSERT_TRUE(ParseOpId("017f22e2-79b0-7cc3-98c4-dc0c0c07398f").ok());  // RFC 9562 A.6 example
  struct {
    const char* text;
    const char* why;
  } bad[] = {
      {"", "36 characters"},
      {"017f22e2-79b0-7cc3-98c4-dc0c0c07398", "36 characters"},
      {"017f22e2-79b0-7cc3-98c4-dc0c0c07398f0", "36 characters"},
      {"017F22E2-79B0-7CC3-98C4-DC0C0C07398F", "lowercase"},
      {"017f22e2-79b0-7cc3-98c4-dc0c0c07398g", "lowercase hex"},
      {"017f22e279b0-7cc3-98c4-dc0c0c07398f0", "hyphens"},
      {"017f22e2_79b0_7cc3_98c4_dc0c0c07398f", "hyphens"},
      {"{17f22e2-79b0-7cc3-98c4-dc0c0c07398f", "lowercase hex"},
      {"017f22e2-79b0-4cc3-98c4-dc0c0c07398f", "version 7"},  // a UUIDv4
      {"017f22e2-79b0-8cc3-98c4-dc0c0c07398f", "version 7"},
      {"00000000-0000-0000-0000-000000000000", "version 7"},  // nil UUID
      {"017f22e2-79b0-7cc3-c8c4-dc0c0c07398f", "variant"},    // Microsoft variant
      {"017f22e2-79b0-7cc3-08c4-dc0c0c07398f", "variant"},    // NCS variant
      {"ffffffff-ffff-ffff-ffff-ffffffffffff", "version 7"},  // max UUID
  };
  for (const auto& c : bad) {
    int64_t ms = 42;
    Status s = ParseOpId(c.text, &ms);
    EXPECT_EQ(s.code(), "INVALID_ARGUMENT") << c.text;
    EXPECT_NE(s.message().find(c.why), std::string::npos) << c.text << ": " << s.message();
    EXPECT_EQ(ms, 42) << c.text;
  }
}

}  // namespace
}  // namespace outpost
