// Sync protocol v1 codec: round trips of every message (bigint and blob values, tombstones, conflicts,
// duplicates), the pinned wire form, and a table of bad inputs, each with the error code it must produce.
#include "outpost/protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "protocol_json.h"

namespace outpost::protocol {
namespace {

const char* const kId1 = "0190a6f2-7c3e-7abc-8def-0123456789ab";
const char* const kId2 = "0190a6f2-7c3e-7abc-8def-0123456789ac";
const char* const kId3 = "0190a6f2-7c3e-7abc-8def-0123456789ad";
const char* const kHlcText = "0190a6f27c3e-0000001f-fedcba9876543210";

HlcTimestamp Ts(int64_t wall, uint32_t counter = 0, uint64_t node = 0xfedcba9876543210) {
  return HlcTimestamp{wall, counter, node};
}

template <class T>
Status DecodeAs(std::string_view json, T* out, const Limits& limits = {}) {
  return Decode(json, limits, out);
}

// Encode, decode, compare; then encode again and require the same bytes.
template <class T>
void ExpectRoundTrip(const T& message) {
  const std::string wire = Encode(message);
  T decoded;
  Status s = DecodeAs(wire, &decoded);
  ASSERT_TRUE(s.ok()) << s.ToString() << "\n" << wire;
  EXPECT_TRUE(decoded == message) << wire;
  EXPECT_EQ(Encode(decoded), wire);
  // The encoders write push bodies and answers directly, not through a tree: the bytes must still be the
  // tree's canonical dump (compact, keys sorted), as every other message is.
  EXPECT_EQ(nlohmann::json::parse(wire).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), wire);
}

Operation Upsert() {
  Operation op;
  op.id = kId1;
  op.kind = "upsert";
  op.priority = Priority::kHigh;
  op.hlc = Ts(0x0190a6f27c3e, 2);
  op.table = "notes";
  op.key = {{"id", Value{std::string("n1")}}};
  op.columns = {
      {"title", {Value{std::string("héllo \"world\"\n")}, Ts(0x0190a6f27c3e, 1)}},
      {"body", {Value{std::monostate{}}, Ts(0x0190a6f27c3e, 2)}},
      {"n", {Value{int64_t{42}}, Ts(1)}},
      {"neg", {Value{int64_t{-kMaxSafeInteger}}, Ts(1)}},
      {"big", {Value{int64_t{kMaxSafeInteger + 1}}, Ts(1)}},
      {"max", {Value{std::numeric_limits<int64_t>::max()}, Ts(1)}},
      {"min", {Value{std::numeric_limits<int64_t>::min()}, Ts(1)}},
      {"ratio", {Value{0.1}, Ts(1)}},
      {"whole", {Value{2.0}, Ts(1)}},
      {"negzero", {Value{-0.0}, Ts(1)}},
      {"tiny", {Value{5e-324}, Ts(1)}},
      {"nul", {Value{std::string("a\0b", 3)}, Ts(1)}},
      {"ctl", {Value{std::string("q\"\\\x01\x1f\b\f\r\t\x7f/")}, Ts(1)}},
      {"blob", {Value{Blob{{0x00, 0xff, 0x10, 0x80}}}, Ts(1)}},
      {"blob1", {Value{Blob{{0xfb}}}, Ts(1)}},
      {"blob2", {Value{Blob{{0xfb, 0xff}}}, Ts(1)}},
      {"blob3", {Value{Blob{{0xfb, 0xff, 0xbf}}}, Ts(1)}},
      {"empty", {Value{Blob{}}, Ts(1)}},
  };
  op.base_version = 17;
  return op;
}

// The direct string writer copies runs of plain ASCII and well-formed UTF-8 and escapes the rest: its output
// is Dump()'s for every input, ill-formed UTF-8 (replaced by Dump) included.
TEST(Protocol, AppendStringWritesWhatDumpWrites) {
  namespace pj = protocol::json;
  auto same = [](const std::string& s) {
    std::string direct = "[";
    pj::AppendString(&direct, s);
    EXPECT_EQ(direct, "[" + pj::Dump(pj::Json(s))) << ::testing::PrintToString(s);
  };
  for (const char* s :
       {"", "plain", "quote \" back\\slash", "\b\f\n\r\t\x01\x1f\x7f", "caf\xc3\xa9", "\xe2\x82\xac euro",
        "\xf0\x9f\x98\x80 emoji", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xc3", "\xc0\xaf overlong", "\xe0\x80\xaf",
        "\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\x80 lone", "ok \xe2\x82 cut", "\xff"})
    same(s);
  same(std::string("nul \0 inside", 12));
  // Random strings over the bytes that matter: ASCII, escapes, NUL, lead and continuation bytes.
  std::mt19937 rng(20261203);
  const std::string alphabet =
      std::string("a\"\\\n\x01\x7f\x80\x8f\x90\x9f\xa0\xbf\xc2\xdf\xe0\xed\xef\xf0\xf4\xf5\xff", 22);
  for (int n = 0; n < 20000; ++n) {
    std::string s(rng() % 12, ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    same(s);
  }
}

TEST(Protocol, PushRequestRoundTrip) {
  PushRequest m;
  m.client_id = "device-1:tab_2.a";
  m.ops.push_back(Upsert());
  Operation del;
  del.id = kId2;
  del.kind = "delete";
  del.hlc = Ts(5, 6, 7);
  del.table = "Notes_2";
  del.key = {{"org", Value{int64_t{3}}}, {"id", Value{Blob{{1, 2, 3}}}}};
  m.ops.push_back(del);
  Operation custom;
  custom.id = kId3;
  custom.kind = "http.post";
  custom.priority = Priority::kCritical;
  custom.hlc = Ts(9);
  custom.entity = "order/42";
  custom.target = "https://api.example.com/orders?x=1";
  custom.payload = R"({"items":[1,2.5,"x",null,true],"nested":{"a":{}}})";
  m.ops.push_back(custom);
  Operation bare = custom;  // no target, no payload, low priority
  bare.id = "0190a6f2-7c3e-7abc-8def-0123456789ae";
  bare.kind = "app.v2.sync_now";
  bare.priority = Priority::kLow;
  bare.target.clear();
  bare.payload.clear();
  m.ops.push_back(bare);
  ExpectRoundTrip(m);
}

TEST(Protocol, WireFormIsPinned) {
  PushRequest m;
  m.client_id = "d1";
  Operation op;
  op.id = kId1;
  op.kind = "upsert";
  op.hlc = Ts(0x0190a6f27c3e, 0x1f);
  op.table = "notes";
  op.key = {{"id", Value{std::string("n1")}}};
  op.columns = {{"big", {Value{int64_t{1} << 60}, op.hlc}}, {"pic", {Value{Blob{{'h', 'i'}}}, op.hlc}}};
  m.ops.push_back(op);
  EXPECT_EQ(Encode(m),
            R"({"clientId":"d1","ops":[{"columns":{"big":{"hlc":"0190a6f27c3e-0000001f-fedcba9876543210",)"
            R"("value":{"$bigint":"1152921504606846976"}},"pic":{"hlc":"0190a6f27c3e-0000001f-fedcba9876543210",)"
            R"("value":{"$blob":"aGk="}}},"hlc":"0190a6f27c3e-0000001f-fedcba9876543210",)"
            R"("id":"0190a6f2-7c3e-7abc-8def-0123456789ab","key":{"id":"n1"},"kind":"upsert","priority":"normal",)"
            R"("table":"notes"}],"protocol":1})");
  EXPECT_EQ(Encode(ErrorBody{"TOO_LARGE", "Send smaller batches."}),
            R"({"error":{"code":"TOO_LARGE","message":"Send smaller batches."}})");
}

TEST(Protocol, ObjectsWithManyKeysDecode) {
  PushRequest m;
  m.client_id = "d";
  Operation op = Upsert();
  op.columns.clear();
  for (int i = 0; i < 100; ++i) op.columns["c" + std::to_string(i)] = {Value{int64_t{i}}, Ts(1)};
  m.ops.push_back(op);
  ExpectRoundTrip(m);
}

TEST(Protocol, SafeIntegersArePlainNumbersAndOthersBigints) {
  PushRequest m;
  m.client_id = "d";
  Operation op = Upsert();
  op.columns = {{"a", {Value{int64_t{kMaxSafeInteger}}, Ts(1)}}, {"b", {Value{int64_t{-kMaxSafeInteger - 1}}, Ts(1)}}};
  m.ops.push_back(op);
  const std::string wire = Encode(m);
  EXPECT_NE(wire.find(R"("value":9007199254740991)"), std::string::npos) << wire;
  EXPECT_NE(wire.find(R"("value":{"$bigint":"-9007199254740992"})"), std::string::npos) << wire;
  // A $bigint within the safe range is accepted too (other encoders may always use it).
  PushRequest decoded;
  std::string text = wire;
  text.replace(text.find("9007199254740991"), 16, R"({"$bigint":"5"})");
  ASSERT_TRUE(DecodeAs(text, &decoded).ok()) << text;
  EXPECT_EQ(decoded.ops[0].columns["a"].value, Value{int64_t{5}});
}

TEST(Protocol, PushResponseRoundTrip) {
  PushResponse m;
  m.results.push_back(OpResult{kId1, false, OpOutcome{OpStatus::kApplied, 101, {}, false, "", "", {}}});
  OpOutcome conflict{OpStatus::kConflict, 99, {}, false, "", "", {}};
  conflict.current = {{"title", {Value{std::string("server")}, Ts(7, 1, 2)}},
                      {"data", {Value{Blob{{9, 8}}}, Ts(7)}},
                      {"big", {Value{std::numeric_limits<int64_t>::min()}, Ts(7)}}};
  conflict.refused = {"title"};
  m.results.push_back(OpResult{kId2, false, conflict});
  m.results.push_back(
      OpResult{kId3, false, OpOutcome{OpStatus::kRejected, 0, {}, false, "UNKNOWN_TABLE", "No table \"x\".", {}}});
  m.results.push_back(
      OpResult{"0190a6f2-7c3e-7abc-8def-0123456789ae", true, OpOutcome{OpStatus::kApplied, 55, {}, false, "", "", {}}});
  m.results.push_back(OpResult{"0190a6f2-7c3e-7abc-8def-0123456789af", true, conflict});
  m.results.push_back(OpResult{"0190a6f2-7c3e-7abc-8def-0123456789b0", false,
                               OpOutcome{OpStatus::kConflict, 12, {}, true, "", "", {}}});  // deleted on the server
  ExpectRoundTrip(m);
  EXPECT_EQ(m.results[3].status(), OpStatus::kDuplicate);
  EXPECT_EQ(m.results[1].status(), OpStatus::kConflict);
  ExpectRoundTrip(PushResponse{});
  // `refused` is optional (older servers send none) and holds column names only.
  const std::string wire = protocol::Encode(m);
  ASSERT_NE(wire.find(R"("refused":["title"])"), std::string::npos) << wire;
  PushResponse bad;
  std::string text = wire;
  text.replace(text.find(R"(["title"])"), 9, R"(["no such"])");
  EXPECT_EQ(DecodeAs(text, &bad).code(), "INVALID_ARGUMENT");
  text = wire;
  text.replace(text.find(R"(["title"])"), 9, R"("title")");
  EXPECT_EQ(DecodeAs(text, &bad).code(), "INVALID_ARGUMENT");
}

// An answer whose results are all `applied`, as the server writes it, is read by a fast path
// (DecodeAllApplied); it must accept exactly what the strict decoder accepts, with the same result, and leave
// every error to it.
TEST(Protocol, AllAppliedAnswersDecodeLikeTheStrictDecoderSaysTheyShould) {
  const std::string head = R"({"protocol":1,"results":[)";
  auto applied = [](const char* id, const std::string& version) {
    return std::string(R"({"id":")") + id + R"(","status":"applied","version":)" + version + "}";
  };
  PushResponse m;
  ASSERT_TRUE(DecodeAs(head + applied(kId1, "0") + "," + applied(kId2, "9007199254740991") + "]}", &m).ok());
  ASSERT_EQ(m.results.size(), 2u);
  EXPECT_EQ(m.results[0], (OpResult{kId1, false, OpOutcome{OpStatus::kApplied, 0, {}, false, "", "", {}}}));
  EXPECT_EQ(m.results[1].outcome.version, 9007199254740991);
  // The same answer spaced out (not the server's bytes): the strict decoder, same result.
  PushResponse spaced;
  ASSERT_TRUE(DecodeAs(R"({ "results": [ { "version": 0, "status": "applied", "id": ")" + std::string(kId1) +
                           R"(" }, )" + applied(kId2, "9007199254740991") + R"(], "protocol": 1 })",
                       &spaced)
                  .ok());
  EXPECT_EQ(spaced, m);
  ASSERT_TRUE(DecodeAs(head + "]}", &m).ok());
  EXPECT_TRUE(m.results.empty());
  // Errors come from the strict decoder, with its codes.
  const struct {
    std::string text;
    const char* code;
  } bad[] = {
      {head + applied(kId1, "1") + "," + applied(kId1, "2") + "]}", "INVALID_ARGUMENT"},         // answered twice
      {head + applied("0190A6F2-7C3E-7ABC-8DEF-0123456789AB", "1") + "]}", "INVALID_ARGUMENT"},  // not an op id
      {head + applied(kId1, "9007199254740992") + "]}", "INVALID_ARGUMENT"},  // beyond the safe integers
      {head + applied(kId1, "-1") + "]}", "INVALID_ARGUMENT"},
      {head + applied(kId1, "01") + "]}", "INVALID_JSON"},
      {head + applied(kId1, "1") + "]}x", "INVALID_JSON"},
      {head + applied(kId1, "1") + "]", "INVALID_JSON"},
      {R"({"protocol":2,"results":[]})", "UNSUPPORTED_VERSION"},
  };
  for (const auto& b : bad) EXPECT_EQ(DecodeAs(b.text, &m).code(), b.code) << b.text;
  Limits small;
  small.max_body_bytes = 40;
  EXPECT_EQ(DecodeAs(head + applied(kId1, "1") + "]}", &m, small).code(), "TOO_LARGE");
}

TEST(Protocol, PullRoundTrips) {
  ExpectRoundTrip(PullRequest{"d1", "", std::nullopt, {}});
  ExpectRoundTrip(PullRequest{"d1", "c.123~abc_-:9", 500, {"user:42", "team.7"}});

  PullResponse page;
  page.changes.push_back(Change{"notes",
                                {{"id", Value{std::string("n1")}}},
                                7,
                                false,
                                {{"title", {Value{std::string("x")}, Ts(3)}}, {"n", {Value{1.5}, Ts(4)}}},
                                {}});
  page.changes.push_back(Change{"notes", {{"id", Value{std::string("n2")}}}, 8, true, {}, Ts(5, 1, 9)});  // tombstone
  page.changes.push_back(Change{"t", {{"k", Value{int64_t{1} << 62}}}, 9, false, {}, {}});  // row of key columns
  page.cursor = "v1.9";
  page.has_more = true;
  ExpectRoundTrip(page);

  PullResponse resync;
  resync.resync_required = true;
  ExpectRoundTrip(resync);
  EXPECT_EQ(Encode(resync), R"({"protocol":1,"status":"resync-required"})");
}

TEST(Protocol, HealthAndErrorRoundTrips) {
  ExpectRoundTrip(HealthResponse{"ok", {1}, 1700000000000, "sqlite", {{"changes", 12}, {"ops", 34}}});
  ExpectRoundTrip(HealthResponse{"unavailable", {1, 2}, 0, "", {}});
  ExpectRoundTrip(ErrorBody{"UNSUPPORTED_VERSION", "Update the client."});
}

TEST(Protocol, ErrorForAndHttpStatus) {
  EXPECT_EQ(HttpStatusFor("INVALID_JSON"), 400);
  EXPECT_EQ(HttpStatusFor("INVALID_ARGUMENT"), 400);
  EXPECT_EQ(HttpStatusFor("UNAUTHENTICATED"), 401);
  EXPECT_EQ(HttpStatusFor("FORBIDDEN"), 403);
  EXPECT_EQ(HttpStatusFor("TOO_LARGE"), 413);
  EXPECT_EQ(HttpStatusFor("UNSUPPORTED_VERSION"), 426);
  EXPECT_EQ(HttpStatusFor("RATE_LIMITED"), 429);
  EXPECT_EQ(HttpStatusFor("UNAVAILABLE"), 503);
  EXPECT_EQ(HttpStatusFor("SOMETHING_NEW"), 400);
  PushRequest m;
  Status s = DecodeAs(R"({"protocol":3})", &m);
  EXPECT_EQ(ErrorFor(s).code, "UNSUPPORTED_VERSION");
  EXPECT_NE(ErrorFor(s).message.find("Update"), std::string::npos) << s.message();
}

TEST(Protocol, CheckResultsMatch) {
  PushRequest request;
  request.ops.push_back(Upsert());
  PushResponse response;
  EXPECT_EQ(CheckResultsMatch(request, response).code(), "INVALID_ARGUMENT");
  response.results.push_back(OpResult{kId2, false, {}});
  EXPECT_EQ(CheckResultsMatch(request, response).code(), "INVALID_ARGUMENT");
  response.results[0].id = kId1;
  EXPECT_TRUE(CheckResultsMatch(request, response).ok());
}

TEST(Protocol, Identifiers) {
  for (const char* ok : {"a", "_", "notes", "Notes_2", "_x9", "A"}) EXPECT_TRUE(IsIdentifier(ok)) << ok;
  EXPECT_TRUE(IsIdentifier(std::string(63, 'a')));
  for (const char* bad : {"", "1a", "a b", "a-b", "notes; DROP TABLE x", "\"a\"", "a.b", "notés", "a\n"}) {
    EXPECT_FALSE(IsIdentifier(bad)) << bad;
  }
  EXPECT_FALSE(IsIdentifier(std::string(64, 'a')));
  EXPECT_FALSE(IsIdentifier(std::string("a\0b", 3)));
}

// ---- Bad input ----

enum class Kind { kPush, kPushResponse, kPull, kPullResponse, kHealth, kError };

struct BadCase {
  const char* name;
  Kind kind;
  std::string json;
  const char* code;
  Limits limits = {};
};

Status DecodeKind(const BadCase& c) {
  switch (c.kind) {
    case Kind::kPush: {
      PushRequest m;
      return DecodeAs(c.json, &m, c.limits);
    }
    case Kind::kPushResponse: {
      PushResponse m;
      return DecodeAs(c.json, &m, c.limits);
    }
    case Kind::kPull: {
      PullRequest m;
      return DecodeAs(c.json, &m, c.limits);
    }
    case Kind::kPullResponse: {
      PullResponse m;
      return DecodeAs(c.json, &m, c.limits);
    }
    case Kind::kHealth: {
      HealthResponse m;
      return DecodeAs(c.json, &m, c.limits);
    }
    default: {
      ErrorBody m;
      return DecodeAs(c.json, &m, c.limits);
    }
  }
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// A valid push of one upsert; the cases below change one thing in it.
const std::string kOp = std::string(R"({"id":")") + kId1 + R"(","kind":"upsert","priority":"normal","hlc":")" +
                        kHlcText + R"(","table":"notes","key":{"id":"n1"},"columns":{"title":{"value":"x","hlc":")" +
                        kHlcText + R"("}}})";
const std::string kPush = R"({"protocol":1,"clientId":"d1","ops":[)" + kOp + "]}";

std::string PushWith(const std::string& from, const std::string& to) { return Replace(kPush, from, to); }
std::string ValueCase(const std::string& value) { return PushWith(R"("value":"x")", R"("value":)" + value); }
std::string TableCase(const std::string& table_json) {
  return PushWith(R"("table":"notes")", "\"table\":" + table_json);
}

Limits With(size_t Limits::*field, size_t value) {
  Limits l;
  l.*field = value;
  return l;
}

std::vector<BadCase> BadCases() {
  const std::string custom = std::string(R"({"id":")") + kId1 + R"(","kind":"http.post","priority":"low","hlc":")" +
                             kHlcText + R"(","entity":"e1")";
  const std::string pull_ok = R"({"protocol":1,"status":"ok","changes":[],"cursor":"c1","hasMore":false})";
  const std::string change =
      std::string(R"({"table":"notes","key":{"id":"n1"},"version":3,"kind":"delete","hlc":")") + kHlcText + R"("})";
  const std::string result_head = std::string(R"({"protocol":1,"results":[{"id":")") + kId1 + R"(",)";
  std::string deep = "1";
  for (int i = 0; i < 70; ++i) deep = "[" + deep + "]";
  // 40 column objects, then "c3" again: duplicate checks switch from a scan to a set beyond 32 keys.
  std::string many_columns;
  for (int i = 0; i < 40; ++i)
    many_columns += R"("c)" + std::to_string(i) + R"(":{"value":1,"hlc":")" + kHlcText + R"("},)";
  many_columns += R"("c3":{"value":1,"hlc":")" + std::string(kHlcText) + R"("},)";
  auto custom_push = [](const std::string& op) { return R"({"protocol":1,"clientId":"d1","ops":[)" + op + "]}"; };
  auto custom_kind_case = [&](const std::string& kind) {
    return custom_push(Replace(custom, "http.post", kind) + "}");
  };

  return {
      // Not JSON at all, or not one JSON object.
      {"empty body", Kind::kPush, "", "INVALID_JSON"},
      {"truncated", Kind::kPush, kPush.substr(0, kPush.size() - 2), "INVALID_JSON"},
      {"trailing garbage", Kind::kPush, kPush + "x", "INVALID_JSON"},
      {"two documents", Kind::kPush, kPush + kPush, "INVALID_JSON"},
      {"single quotes", Kind::kPush, "{'protocol':1}", "INVALID_JSON"},
      {"comment", Kind::kPush, "/* hi */" + kPush, "INVALID_JSON"},
      {"invalid UTF-8", Kind::kPush, PushWith(R"("x")", "\"\xff\xfe\""), "INVALID_JSON"},
      {"duplicate key", Kind::kPush, PushWith(R"("protocol":1,)", R"("protocol":1,"protocol":1,)"), "INVALID_JSON"},
      {"duplicate column key", Kind::kPush,
       PushWith(R"("columns":{)", std::string(R"("columns":{"title":{"value":1,"hlc":")") + kHlcText + R"("},)"),
       "INVALID_JSON"},
      {"duplicate key in a large object", Kind::kPush, PushWith(R"("columns":{)", R"("columns":{)" + many_columns),
       "INVALID_JSON"},
      {"duplicate key after a nested object", Kind::kPush,
       PushWith(R"("protocol":1,)", R"("protocol":1,"x":{"protocol":2},"protocol":1,)"), "INVALID_JSON"},
      {"array root", Kind::kPush, "[" + kPush + "]", "INVALID_ARGUMENT"},
      {"string root", Kind::kPush, R"("hello")", "INVALID_ARGUMENT"},
      // Versions.
      {"protocol 2", Kind::kPush, PushWith(R"("protocol":1)", R"("protocol":2)"), "UNSUPPORTED_VERSION"},
      {"protocol 0", Kind::kPush, PushWith(R"("protocol":1)", R"("protocol":0)"), "UNSUPPORTED_VERSION"},
      {"protocol -1", Kind::kPush, PushWith(R"("protocol":1)", R"("protocol":-1)"), "UNSUPPORTED_VERSION"},
      {"protocol huge", Kind::kPull, R"({"protocol":18446744073709551615,"clientId":"d"})", "UNSUPPORTED_VERSION"},
      {"protocol as string", Kind::kPush, PushWith(R"("protocol":1)", R"("protocol":"1")"), "INVALID_ARGUMENT"},
      {"protocol as float", Kind::kPush, PushWith(R"("protocol":1)", R"("protocol":1.0)"), "INVALID_ARGUMENT"},
      {"protocol missing", Kind::kPush, PushWith(R"("protocol":1,)", ""), "INVALID_ARGUMENT"},
      {"v2 pull response", Kind::kPullResponse, R"({"protocol":2,"whatever":[]})", "UNSUPPORTED_VERSION"},
      // Sizes.
      {"body too large", Kind::kPush, kPush, "TOO_LARGE", With(&Limits::max_body_bytes, 100)},
      {"too many ops", Kind::kPush, Replace(kPush, kOp, kOp + "," + Replace(kOp, kId1, kId2)), "TOO_LARGE",
       With(&Limits::max_ops, 1)},
      {"too many columns", Kind::kPush,
       PushWith(R"("columns":{)", std::string(R"("columns":{"other":{"value":1,"hlc":")") + kHlcText + R"("},)"),
       "TOO_LARGE", With(&Limits::max_columns, 1)},
      {"too many key columns", Kind::kPush, PushWith(R"("key":{"id":"n1"})", R"("key":{"id":"n1","b":2})"), "TOO_LARGE",
       With(&Limits::max_key_columns, 1)},
      {"too many scopes", Kind::kPull, R"({"protocol":1,"clientId":"d","scopes":["a","b","c"]})", "TOO_LARGE",
       With(&Limits::max_scopes, 2)},
      {"page too large", Kind::kPullResponse,
       Replace(pull_ok, R"("changes":[])", "\"changes\":[" + change + "," + change + "]"), "TOO_LARGE",
       With(&Limits::max_page_size, 1)},
      {"too many results", Kind::kPushResponse,
       result_head + R"("status":"applied","version":1},{"id":")" + kId2 + R"(","status":"applied","version":2}]})",
       "TOO_LARGE", With(&Limits::max_ops, 1)},
      // Push request structure.
      {"clientId missing", Kind::kPush, PushWith(R"("clientId":"d1",)", ""), "INVALID_ARGUMENT"},
      {"clientId number", Kind::kPush, PushWith(R"("clientId":"d1")", R"("clientId":7)"), "INVALID_ARGUMENT"},
      {"clientId with space", Kind::kPush, PushWith(R"("clientId":"d1")", R"("clientId":"d 1")"), "INVALID_ARGUMENT"},
      {"clientId empty", Kind::kPush, PushWith(R"("clientId":"d1")", R"("clientId":"")"), "INVALID_ARGUMENT"},
      {"ops missing", Kind::kPush, R"({"protocol":1,"clientId":"d1"})", "INVALID_ARGUMENT"},
      {"ops object", Kind::kPush, R"({"protocol":1,"clientId":"d1","ops":{}})", "INVALID_ARGUMENT"},
      {"ops empty", Kind::kPush, R"({"protocol":1,"clientId":"d1","ops":[]})", "INVALID_ARGUMENT"},
      {"op not object", Kind::kPush, R"({"protocol":1,"clientId":"d1","ops":[1]})", "INVALID_ARGUMENT"},
      {"unknown root field", Kind::kPush, PushWith(R"("clientId")", R"("extra":1,"clientId")"), "INVALID_ARGUMENT"},
      {"unknown op field", Kind::kPush, PushWith(R"("kind")", R"("tabel":"x","kind")"), "INVALID_ARGUMENT"},
      // Operation ids.
      {"op id missing", Kind::kPush, PushWith(std::string(R"("id":")") + kId1 + "\",", ""), "INVALID_ARGUMENT"},
      {"op id uppercase", Kind::kPush, PushWith(kId1, "0190A6F2-7C3E-7ABC-8DEF-0123456789AB"), "INVALID_ARGUMENT"},
      {"op id UUIDv4", Kind::kPush, PushWith(kId1, "550e8400-e29b-41d4-a716-446655440000"), "INVALID_ARGUMENT"},
      {"op id garbage", Kind::kPush, PushWith(kId1, "not-an-id"), "INVALID_ARGUMENT"},
      {"op id number", Kind::kPush, PushWith(std::string("\"") + kId1 + "\"", "12"), "INVALID_ARGUMENT"},
      {"duplicate op ids", Kind::kPush, Replace(kPush, kOp, kOp + "," + kOp), "INVALID_ARGUMENT"},
      // Kind, priority, HLC.
      {"kind missing", Kind::kPush, PushWith(R"("kind":"upsert",)", ""), "INVALID_ARGUMENT"},
      {"kind uppercase", Kind::kPush, PushWith(R"("upsert")", R"("UPSERT")"), "INVALID_ARGUMENT"},
      {"kind insert", Kind::kPush, PushWith(R"("upsert")", R"("insert")"), "INVALID_ARGUMENT"},
      {"custom kind without dot", Kind::kPush, PushWith(R"("upsert")", R"("http")"), "INVALID_ARGUMENT"},
      {"custom kind trailing dot", Kind::kPush, custom_kind_case("http."), "INVALID_ARGUMENT"},
      {"priority unknown", Kind::kPush, PushWith(R"("normal")", R"("urgent")"), "INVALID_ARGUMENT"},
      {"priority missing", Kind::kPush, PushWith(R"("priority":"normal",)", ""), "INVALID_ARGUMENT"},
      {"hlc uppercase", Kind::kPush, PushWith(kHlcText, "0190A6F27C3E-0000001F-FEDCBA9876543210"), "INVALID_ARGUMENT"},
      {"hlc short", Kind::kPush, PushWith(kHlcText, "0190a6f27c3e-1f-fedcba9876543210"), "INVALID_ARGUMENT"},
      {"hlc number", Kind::kPush, PushWith(std::string("\"") + kHlcText + "\"", "1700000000000"), "INVALID_ARGUMENT"},
      {"column hlc bad", Kind::kPush,
       PushWith(std::string(R"("x","hlc":")") + kHlcText, R"("x","hlc":"0190a6f27c3e-0000001f-fedcba987654321g)"),
       "INVALID_ARGUMENT"},
      // Identifiers, including injection-shaped ones.
      {"table injection", Kind::kPush, TableCase(R"("notes; DROP TABLE x")"), "INVALID_ARGUMENT"},
      {"table quoted", Kind::kPush, TableCase(R"("\"a\"")"), "INVALID_ARGUMENT"},
      {"table with space", Kind::kPush, TableCase(R"("a b")"), "INVALID_ARGUMENT"},
      {"table empty", Kind::kPush, TableCase(R"("")"), "INVALID_ARGUMENT"},
      {"table 64 chars", Kind::kPush, TableCase("\"" + std::string(64, 'a') + "\""), "INVALID_ARGUMENT"},
      {"table non-ASCII", Kind::kPush, TableCase(R"("notés")"), "INVALID_ARGUMENT"},
      {"table leading digit", Kind::kPush, TableCase(R"("1notes")"), "INVALID_ARGUMENT"},
      {"table NUL", Kind::kPush, TableCase(R"("a\u0000b")"), "INVALID_ARGUMENT"},
      {"table comment", Kind::kPush, TableCase(R"("a--")"), "INVALID_ARGUMENT"},
      {"table number", Kind::kPush, TableCase("5"), "INVALID_ARGUMENT"},
      {"table missing", Kind::kPush, PushWith(R"("table":"notes",)", ""), "INVALID_ARGUMENT"},
      {"column injection", Kind::kPush, PushWith(R"("title")", R"("title = 1; --")"), "INVALID_ARGUMENT"},
      {"column quoted", Kind::kPush, PushWith(R"("title")", R"("\"title\"")"), "INVALID_ARGUMENT"},
      {"key column injection", Kind::kPush, PushWith(R"({"id":"n1"})", R"({"id) OR 1=1":"n1"})"), "INVALID_ARGUMENT"},
      // Keys and columns.
      {"key missing", Kind::kPush, PushWith(R"("key":{"id":"n1"},)", ""), "INVALID_ARGUMENT"},
      {"key empty", Kind::kPush, PushWith(R"({"id":"n1"})", "{}"), "INVALID_ARGUMENT"},
      {"key null", Kind::kPush, PushWith(R"({"id":"n1"})", R"({"id":null})"), "INVALID_ARGUMENT"},
      {"key array", Kind::kPush, PushWith(R"({"id":"n1"})", R"(["n1"])"), "INVALID_ARGUMENT"},
      {"columns missing on upsert", Kind::kPush,
       PushWith(std::string(R"(,"columns":{"title":{"value":"x","hlc":")") + kHlcText + "\"}}", ""),
       "INVALID_ARGUMENT"},
      {"columns on delete", Kind::kPush, PushWith(R"("upsert")", R"("delete")"), "INVALID_ARGUMENT"},
      {"column not object", Kind::kPush, PushWith(std::string(R"({"value":"x","hlc":")") + kHlcText + "\"}", R"("x")"),
       "INVALID_ARGUMENT"},
      {"column missing hlc", Kind::kPush, PushWith(std::string(R"(,"hlc":")") + kHlcText + R"("}})", "}}"),
       "INVALID_ARGUMENT"},
      {"column extra field", Kind::kPush, PushWith(R"("value":"x")", R"("value":"x","old":1)"), "INVALID_ARGUMENT"},
      // Values.
      {"value boolean", Kind::kPush, ValueCase("true"), "INVALID_ARGUMENT"},
      {"value array", Kind::kPush, ValueCase("[1]"), "INVALID_ARGUMENT"},
      {"value plain object", Kind::kPush, ValueCase(R"({"a":1})"), "INVALID_ARGUMENT"},
      {"value two tags", Kind::kPush, ValueCase(R"({"$bigint":"1","$blob":""})"), "INVALID_ARGUMENT"},
      {"value NaN", Kind::kPush, ValueCase("NaN"), "INVALID_JSON"},
      {"value Infinity", Kind::kPush, ValueCase("Infinity"), "INVALID_JSON"},
      {"value -Infinity", Kind::kPush, ValueCase("-Infinity"), "INVALID_JSON"},
      {"value 1e999", Kind::kPush, ValueCase("1e999"), "INVALID_JSON"},
      {"value -1e999", Kind::kPush, ValueCase("-1e999"), "INVALID_JSON"},
      {"integer 2^53", Kind::kPush, ValueCase("9007199254740992"), "INVALID_ARGUMENT"},
      {"integer -2^53", Kind::kPush, ValueCase("-9007199254740992"), "INVALID_ARGUMENT"},
      {"integer beyond 64 bits", Kind::kPush, ValueCase("99999999999999999999"), "INVALID_ARGUMENT"},
      {"integer below -2^63", Kind::kPush, ValueCase("-9223372036854775809"), "INVALID_ARGUMENT"},
      {"bigint 2^63", Kind::kPush, ValueCase(R"({"$bigint":"9223372036854775808"})"), "INVALID_ARGUMENT"},
      {"bigint -2^63-1", Kind::kPush, ValueCase(R"({"$bigint":"-9223372036854775809"})"), "INVALID_ARGUMENT"},
      {"bigint 20 digits", Kind::kPush, ValueCase(R"({"$bigint":"10000000000000000000"})"), "INVALID_ARGUMENT"},
      {"bigint not decimal", Kind::kPush, ValueCase(R"({"$bigint":"12a"})"), "INVALID_ARGUMENT"},
      {"bigint hex", Kind::kPush, ValueCase(R"({"$bigint":"0x10"})"), "INVALID_ARGUMENT"},
      {"bigint leading zero", Kind::kPush, ValueCase(R"({"$bigint":"012"})"), "INVALID_ARGUMENT"},
      {"bigint plus sign", Kind::kPush, ValueCase(R"({"$bigint":"+1"})"), "INVALID_ARGUMENT"},
      {"bigint empty", Kind::kPush, ValueCase(R"({"$bigint":""})"), "INVALID_ARGUMENT"},
      {"bigint number", Kind::kPush, ValueCase(R"({"$bigint":5})"), "INVALID_ARGUMENT"},
      {"blob bad length", Kind::kPush, ValueCase(R"({"$blob":"abc"})"), "INVALID_ARGUMENT"},
      {"blob bad character", Kind::kPush, ValueCase(R"({"$blob":"ab!d"})"), "INVALID_ARGUMENT"},
      {"blob base64url", Kind::kPush, ValueCase(R"({"$blob":"ab-_"})"), "INVALID_ARGUMENT"},
      {"blob padding inside", Kind::kPush, ValueCase(R"({"$blob":"ab=cabcd"})"), "INVALID_ARGUMENT"},
      {"blob padding too long", Kind::kPush, ValueCase(R"({"$blob":"a==="})"), "INVALID_ARGUMENT"},
      {"blob non-canonical bits", Kind::kPush, ValueCase(R"({"$blob":"QR=="})"), "INVALID_ARGUMENT"},
      {"blob whitespace", Kind::kPush, ValueCase(R"({"$blob":"QQ== "})"), "INVALID_ARGUMENT"},
      {"unknown tag", Kind::kPush, ValueCase(R"({"$date":"2024-01-01"})"), "INVALID_ARGUMENT"},
      // Base version.
      {"baseVersion negative", Kind::kPush, PushWith(R"("table")", R"("baseVersion":-1,"table")"), "INVALID_ARGUMENT"},
      {"baseVersion string", Kind::kPush, PushWith(R"("table")", R"("baseVersion":"3","table")"), "INVALID_ARGUMENT"},
      {"baseVersion float", Kind::kPush, PushWith(R"("table")", R"("baseVersion":1.5,"table")"), "INVALID_ARGUMENT"},
      {"baseVersion null", Kind::kPush, PushWith(R"("table")", R"("baseVersion":null,"table")"), "INVALID_ARGUMENT"},
      // Custom operations.
      {"custom without entity", Kind::kPush, custom_push(Replace(custom, R"(,"entity":"e1")", "") + "}"),
       "INVALID_ARGUMENT"},
      {"custom with table", Kind::kPush, custom_push(custom + R"(,"table":"notes"})"), "INVALID_ARGUMENT"},
      {"custom entity too long", Kind::kPush,
       custom_push(Replace(custom, R"("e1")", "\"" + std::string(kMaxEntityLength + 1, 'e') + "\"") + "}"),
       "INVALID_ARGUMENT"},
      {"custom target number", Kind::kPush, custom_push(custom + R"(,"target":5})"), "INVALID_ARGUMENT"},
      {"row op with payload", Kind::kPush, PushWith(R"("table")", R"("payload":{},"table")"), "INVALID_ARGUMENT"},
      {"payload too deep", Kind::kPush, custom_push(custom + R"(,"payload":)" + deep + "}"), "INVALID_JSON"},
      // Push responses.
      {"result status unknown", Kind::kPushResponse, result_head + R"("status":"maybe"}]})", "INVALID_ARGUMENT"},
      {"applied without version", Kind::kPushResponse, result_head + R"("status":"applied"}]})", "INVALID_ARGUMENT"},
      {"applied with code", Kind::kPushResponse, result_head + R"("status":"applied","version":1,"code":"X"}]})",
       "INVALID_ARGUMENT"},
      {"rejected without code", Kind::kPushResponse, result_head + R"("status":"rejected","message":"m"}]})",
       "INVALID_ARGUMENT"},
      {"rejected lowercase code", Kind::kPushResponse,
       result_head + R"("status":"rejected","code":"bad code","message":"m"}]})", "INVALID_ARGUMENT"},
      {"conflict deleted with columns", Kind::kPushResponse,
       result_head + R"("status":"conflict","version":1,"deleted":true,"columns":{"a":{"value":1,"hlc":")" + kHlcText +
           R"("}}}]})",
       "INVALID_ARGUMENT"},
      {"duplicate of duplicate", Kind::kPushResponse,
       result_head + R"("status":"duplicate","original":{"status":"duplicate"}}]})", "INVALID_ARGUMENT"},
      {"duplicate without original", Kind::kPushResponse, result_head + R"("status":"duplicate"}]})",
       "INVALID_ARGUMENT"},
      {"results answer an id twice", Kind::kPushResponse,
       result_head + R"("status":"applied","version":1},{"id":")" + kId1 + R"(","status":"applied","version":2}]})",
       "INVALID_ARGUMENT"},
      // Pull requests.
      {"pull clientId missing", Kind::kPull, R"({"protocol":1})", "INVALID_ARGUMENT"},
      {"cursor with space", Kind::kPull, R"({"protocol":1,"clientId":"d","cursor":"a b"})", "INVALID_ARGUMENT"},
      {"cursor empty", Kind::kPull, R"({"protocol":1,"clientId":"d","cursor":""})", "INVALID_ARGUMENT"},
      {"cursor too long", Kind::kPull,
       R"({"protocol":1,"clientId":"d","cursor":")" + std::string(kMaxCursorLength + 1, 'c') + "\"}",
       "INVALID_ARGUMENT"},
      {"limit zero", Kind::kPull, R"({"protocol":1,"clientId":"d","limit":0})", "INVALID_ARGUMENT"},
      {"limit string", Kind::kPull, R"({"protocol":1,"clientId":"d","limit":"10"})", "INVALID_ARGUMENT"},
      {"scopes not array", Kind::kPull, R"({"protocol":1,"clientId":"d","scopes":"a"})", "INVALID_ARGUMENT"},
      {"scope listed twice", Kind::kPull, R"({"protocol":1,"clientId":"d","scopes":["a","a"]})", "INVALID_ARGUMENT"},
      {"scope injection", Kind::kPull, R"({"protocol":1,"clientId":"d","scopes":["a' OR '1'='1"]})",
       "INVALID_ARGUMENT"},
      // Pull responses.
      {"pull status unknown", Kind::kPullResponse, Replace(pull_ok, R"("ok")", R"("fine")"), "INVALID_ARGUMENT"},
      {"resync with changes", Kind::kPullResponse, R"({"protocol":1,"status":"resync-required","changes":[]})",
       "INVALID_ARGUMENT"},
      {"pull cursor missing", Kind::kPullResponse, Replace(pull_ok, R"(,"cursor":"c1")", ""), "INVALID_ARGUMENT"},
      {"hasMore string", Kind::kPullResponse, Replace(pull_ok, "false", R"("no")"), "INVALID_ARGUMENT"},
      {"tombstone without hlc", Kind::kPullResponse,
       Replace(pull_ok, R"("changes":[])",
               "\"changes\":[" + Replace(change, std::string(R"(,"hlc":")") + kHlcText + "\"", "") + "]"),
       "INVALID_ARGUMENT"},
      {"tombstone with columns", Kind::kPullResponse,
       Replace(pull_ok, R"("changes":[])",
               "\"changes\":[" + Replace(change, "\"kind\"", R"("columns":{},"kind")") + "]"),
       "INVALID_ARGUMENT"},
      {"change bad table", Kind::kPullResponse,
       Replace(pull_ok, R"("changes":[])", "\"changes\":[" + Replace(change, R"("notes")", R"("no tes")") + "]"),
       "INVALID_ARGUMENT"},
      {"change version float", Kind::kPullResponse,
       Replace(pull_ok, R"("changes":[])",
               "\"changes\":[" + Replace(change, R"("version":3)", R"("version":3.5)") + "]"),
       "INVALID_ARGUMENT"},
      // Health and error bodies.
      {"health status unknown", Kind::kHealth,
       R"({"protocol":1,"status":"meh","protocols":[1],"serverTimeMs":1,"store":"s","counts":{}})", "INVALID_ARGUMENT"},
      {"health no protocols", Kind::kHealth,
       R"({"protocol":1,"status":"ok","protocols":[],"serverTimeMs":1,"store":"s","counts":{}})", "INVALID_ARGUMENT"},
      {"error body missing error", Kind::kError, R"({"code":"X"})", "INVALID_ARGUMENT"},
      {"error code lowercase", Kind::kError, R"({"error":{"code":"bad code","message":"m"}})", "INVALID_ARGUMENT"},
      {"error message missing", Kind::kError, R"({"error":{"code":"X"}})", "INVALID_ARGUMENT"},
  };
}

TEST(ProtocolBadInput, EachCaseGivesItsCode) {
  for (const BadCase& c : BadCases()) {
    const Status s = DecodeKind(c);
    EXPECT_EQ(s.code(), c.code) << c.name << ": " << s.ToString() << "\n  input: " << c.json.substr(0, 300);
    EXPECT_FALSE(s.message().empty()) << c.name;
  }
}

TEST(ProtocolBadInput, MessagesNameTheField) {
  PushRequest m;
  Status s = DecodeAs(TableCase(R"("notes; DROP TABLE x")"), &m);
  EXPECT_NE(s.message().find("ops[0].table"), std::string::npos) << s.message();
  s = DecodeAs(ValueCase("true"), &m);
  EXPECT_NE(s.message().find("ops[0].columns.\"title\".value"), std::string::npos) << s.message();
}

TEST(ProtocolBadInput, BaseCasesAreValid) {
  PushRequest m;
  Status s = DecodeAs(kPush, &m);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(m.ops.size(), 1u);
  EXPECT_EQ(m.ops[0].columns["title"].value, Value{std::string("x")});
  // The custom-operation base decodes too, with its payload kept as canonical JSON text.
  const std::string custom = std::string(R"({"protocol":1,"clientId":"d","ops":[{"id":")") + kId1 +
                             R"(","kind":"http.post","priority":"low","hlc":")" + kHlcText +
                             R"(","entity":"e1","target":"/api","payload":{ "b" : [1, 2.0], "a": null }}]})";
  s = DecodeAs(custom, &m);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(m.ops[0].payload, R"({"a":null,"b":[1,2.0]})");
  // Deep, but within the limit.
  std::string deep = "1";
  for (int i = 0; i < 60; ++i) deep = "[" + deep + "]";
  s = DecodeAs(Replace(custom, R"({ "b" : [1, 2.0], "a": null })", deep), &m);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// The fuzzer's seeds must stay valid messages, or it starts from nothing but the JSON syntax.
// The canonical fast paths (Limits::canonical_fast_path) decide every input exactly as the strict decoder
// does: the seeds in the encoder's exact form, and every one-byte deletion and a set of edits of them.
TEST(Protocol, CanonicalFastPathsAgreeWithTheStrictDecoder) {
  auto read = [](const char* name) {
    std::ifstream file(std::string(OUTPOST_FUZZ_CORPUS_DIR) + "/" + name, std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  };
  Limits strict;
  strict.canonical_fast_path = false;
  auto agree = [&](const std::string& text, auto message) {
    auto fast = message, slow = message;
    const Status a = protocol::Decode(text, Limits{}, &fast), b = protocol::Decode(text, strict, &slow);
    EXPECT_EQ(a.ToString(), b.ToString()) << text;
    if (a.ok() && b.ok()) {
      EXPECT_TRUE(fast == slow) << text;
    }
    return a.ok();
  };
  const std::string request = read("push_request_canonical.json"), answer = read("push_response_applied.json");
  ASSERT_TRUE(agree(request, PushRequest{}));
  ASSERT_TRUE(agree(answer, PushResponse{}));
  PushRequest m;
  ASSERT_TRUE(protocol::Decode(request, Limits{}, &m).ok());
  EXPECT_EQ(protocol::Encode(m), request) << "the seed is the encoder's exact form";
  for (const std::string* seed : {&request, &answer}) {
    for (size_t i = 0; i < seed->size(); ++i) {
      std::string cut = *seed;
      cut.erase(i, 1);
      agree(cut, PushRequest{});
      agree(cut, PushResponse{});
    }
  }
  const std::pair<std::string, std::string> edits[] = {
      {R"("value":-7)", R"("value":-0)"},
      {R"("value":-7)", R"("value":1.5)"},
      {R"("value":-7)", R"("value":9007199254740992)"},
      {R"("value":"x")", R"("value":"x")"},
      {R"("id":"n1")", R"("id":null)"},
      {R"("baseVersion":3)", R"("baseVersion":03)"},
      {R"("priority":"normal")", R"("priority":"urgent")"},
      {R"("table":"notes")", R"("table":"no tes")"},
      {R"("clientId":"d1")", R"("clientId":"d 1")"},
      {"0123456789ac", "0123456789ab"},
      {R"("kind":"delete")", R"("kind":"upsert")"},
      {R"("protocol":1})", R"("protocol":2})"},
  };
  for (const auto& [from, to] : edits) {
    std::string edited = request;
    ASSERT_NE(edited.find(from), std::string::npos) << from;
    edited.replace(edited.find(from), from.size(), to);
    agree(edited, PushRequest{});
  }
  Limits small;
  small.max_columns = 2;
  PushRequest a, b;
  Limits small_strict = small;
  small_strict.canonical_fast_path = false;
  EXPECT_EQ(protocol::Decode(request, small, &a).ToString(), protocol::Decode(request, small_strict, &b).ToString());
  EXPECT_EQ(protocol::Decode(request, small, &a).code(), "TOO_LARGE");
}

TEST(Protocol, FuzzSeedsDecode) {
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(OUTPOST_FUZZ_CORPUS_DIR)) {
    std::ifstream file(entry.path(), std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    PushRequest a;
    PushResponse b;
    PullRequest c;
    PullResponse d;
    HealthResponse e;
    ErrorBody f;
    const std::string& t = text.str();
    const bool ok = DecodeAs(t, &a).ok() || DecodeAs(t, &b).ok() || DecodeAs(t, &c).ok() || DecodeAs(t, &d).ok() ||
                    DecodeAs(t, &e).ok() || DecodeAs(t, &f).ok();
    EXPECT_TRUE(ok) << entry.path() << " decodes as no message";
    ++seeds;
  }
  EXPECT_GE(seeds, 8);
}

}  // namespace
}  // namespace outpost::protocol
