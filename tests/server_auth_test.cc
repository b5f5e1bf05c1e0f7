// Device tokens (server/auth.h) and request-body checks (server/request_body.h): issue/verify round trips,
// every way a token fails, strict base64url, durations, media types and the capped gunzip.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "auth.h"
#include "request_body.h"

namespace outpost::server {
namespace {

constexpr int64_t kNow = 1'800'000'000'000;
const std::string kSecret = "0123456789abcdef0123456789abcdef-test-secret";

TokenClaims Claims() {
  TokenClaims c;
  c.user = "alice";
  c.device = "phone-1";
  c.scopes = {"team-7", "user:alice"};
  c.issued_at_ms = kNow;
  c.expires_at_ms = kNow + 3600 * 1000;
  return c;
}

std::string IssueOk(const TokenAuthority& auth, const TokenClaims& c) {
  std::string token;
  Status s = auth.Issue(c, &token);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return token;
}

TEST(AuthTest, IssueThenVerifyReturnsTheClaims) {
  TokenAuthority auth(kSecret);
  std::string token = IssueOk(auth, Claims());
  EXPECT_EQ(token.rfind("ot1.", 0), 0u);
  TokenClaims got;
  TokenFailure failure = TokenFailure::kMalformed;
  ASSERT_TRUE(auth.Verify(token, kNow + 1000, &got, &failure).ok());
  EXPECT_EQ(failure, TokenFailure::kNone);
  EXPECT_EQ(got.user, "alice");
  EXPECT_EQ(got.device, "phone-1");
  EXPECT_EQ(got.scopes, Claims().scopes);
  EXPECT_EQ(got.issued_at_ms, kNow);
  EXPECT_EQ(got.expires_at_ms, kNow + 3600 * 1000);
}

TEST(AuthTest, AuthenticateParsesTheBearerHeader) {
  TokenAuthority auth(kSecret);
  std::string token = IssueOk(auth, Claims());
  for (const std::string& header : {"Bearer " + token, "bearer " + token, "  BEARER   " + token + " "}) {
    Principal who;
    ASSERT_TRUE(auth.Authenticate(header, kNow, &who).ok()) << header;
    EXPECT_EQ(who.user, "alice");
    EXPECT_EQ(who.device, "phone-1");
    EXPECT_TRUE(who.Allows("team-7"));
    EXPECT_FALSE(who.Allows("team-8"));
  }
}

struct FailureCase {
  std::string name;
  std::string header;
  TokenFailure expected;
};

TEST(AuthTest, EveryFailureIsUnauthenticatedWithItsReason) {
  TokenAuthority auth(kSecret);
  TokenAuthority other("another-secret-another-secret-another-secret");
  std::string token = IssueOk(auth, Claims());
  size_t dot = token.rfind('.');
  std::string claims_part = token.substr(4, dot - 4);
  std::string mac_part = token.substr(dot + 1);
  TokenClaims elevated = Claims();
  elevated.scopes = {"*"};
  std::string elevated_token = IssueOk(other, elevated);
  std::string elevated_claims = elevated_token.substr(4, elevated_token.rfind('.') - 4);
  TokenClaims old = Claims();
  old.expires_at_ms = kNow - 1;
  old.issued_at_ms = kNow - 1000;
  std::string flipped = token;
  flipped[dot + 3] = flipped[dot + 3] == 'A' ? 'B' : 'A';

  const FailureCase cases[] = {
      {"no header", "", TokenFailure::kMissing},
      {"empty bearer", "Bearer ", TokenFailure::kMalformed},
      {"basic scheme", "Basic dXNlcjpwYXNz", TokenFailure::kMalformed},
      {"bearer without token", "Bearer", TokenFailure::kMalformed},
      {"garbage", "Bearer abc", TokenFailure::kMalformed},
      {"wrong prefix", "Bearer ot2." + claims_part + "." + mac_part, TokenFailure::kMalformed},
      {"no signature", "Bearer ot1." + claims_part, TokenFailure::kMalformed},
      {"signature not base64url", "Bearer ot1." + claims_part + ".@@@", TokenFailure::kMalformed},
      {"flipped signature", "Bearer " + flipped, TokenFailure::kBadSignature},
      {"empty signature", "Bearer ot1." + claims_part + ".", TokenFailure::kBadSignature},
      {"forged by another secret", "Bearer " + IssueOk(other, Claims()), TokenFailure::kBadSignature},
      {"claims swapped in", "Bearer ot1." + elevated_claims + "." + mac_part, TokenFailure::kBadSignature},
      {"expired", "Bearer " + IssueOk(auth, old), TokenFailure::kExpired},
      {"oversized", "Bearer ot1." + std::string(10000, 'A') + "." + mac_part, TokenFailure::kMalformed},
  };
  for (const FailureCase& c : cases) {
    Principal who;
    TokenFailure failure = TokenFailure::kNone;
    Status s = auth.Authenticate(c.header, kNow, &who, &failure);
    EXPECT_EQ(s.code(), "UNAUTHENTICATED") << c.name;
    EXPECT_FALSE(s.message().empty()) << c.name;
    EXPECT_EQ(failure, c.expected) << c.name << ": got " << TokenFailureName(failure);
    EXPECT_TRUE(who.device.empty()) << c.name;
  }
}

TEST(AuthTest, ExpiryIsExclusive) {
  TokenAuthority auth(kSecret);
  std::string token = IssueOk(auth, Claims());
  EXPECT_TRUE(auth.Verify(token, kNow + 3600 * 1000 - 1, nullptr).ok());
  TokenFailure failure;
  EXPECT_EQ(auth.Verify(token, kNow + 3600 * 1000, nullptr, &failure).code(), "UNAUTHENTICATED");
  EXPECT_EQ(failure, TokenFailure::kExpired);
}

TEST(AuthTest, IssueRefusesBadClaims) {
  TokenAuthority auth(kSecret);
  std::string token;
  TokenClaims c = Claims();
  c.user = "";
  EXPECT_EQ(auth.Issue(c, &token).code(), "INVALID_ARGUMENT");
  c = Claims();
  c.device = "phone 1";
  EXPECT_EQ(auth.Issue(c, &token).code(), "INVALID_ARGUMENT");
  c = Claims();
  c.scopes = {};
  EXPECT_EQ(auth.Issue(c, &token).code(), "INVALID_ARGUMENT");
  c = Claims();
  c.scopes = {"team'; DROP"};
  EXPECT_EQ(auth.Issue(c, &token).code(), "INVALID_ARGUMENT");
  c = Claims();
  c.expires_at_ms = c.issued_at_ms;
  EXPECT_EQ(auth.Issue(c, &token).code(), "INVALID_ARGUMENT");
}

TEST(AuthTest, SecretFileNeedsThirtyTwoBytes) {
  std::string dir = testing::TempDir();
  std::string shortf = dir + "/outpost-short-secret";
  std::string longf = dir + "/outpost-long-secret";
  std::ofstream(shortf) << std::string(31, 'x') << "\n";
  std::ofstream(longf) << kSecret << "\n";
  std::unique_ptr<TokenAuthority> auth;
  EXPECT_EQ(TokenAuthority::FromSecretFile(shortf, &auth).code(), "INVALID_ARGUMENT");
  EXPECT_EQ(TokenAuthority::FromSecretFile(dir + "/outpost-missing-secret", &auth).code(), "INVALID_ARGUMENT");
  ASSERT_TRUE(TokenAuthority::FromSecretFile(longf, &auth).ok());
  // The trailing newline is not part of the key: a token from the in-memory authority verifies.
  TokenAuthority same(kSecret);
  EXPECT_TRUE(auth->Verify(IssueOk(same, Claims()), kNow, nullptr).ok());
  std::filesystem::remove(shortf);
  std::filesystem::remove(longf);
}

TEST(AuthTest, Base64UrlIsStrict) {
  for (std::string bytes :
       {std::string(""), std::string("f"), std::string("fo"), std::string("foo"), std::string("\xff\xfe\x00\x01", 4)}) {
    std::string decoded;
    ASSERT_TRUE(Base64UrlDecode(Base64UrlEncode(bytes), &decoded));
    EXPECT_EQ(decoded, bytes);
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  std::string out;
  EXPECT_FALSE(Base64UrlDecode("Zg==", &out));  // padding
  EXPECT_FALSE(Base64UrlDecode("Zh", &out));    // non-zero trailing bits
  EXPECT_FALSE(Base64UrlDecode("Z", &out));     // impossible length
  EXPECT_FALSE(Base64UrlDecode("Zm+v", &out));  // standard alphabet
}

TEST(AuthTest, Durations) {
  int64_t ms = 0;
  ASSERT_TRUE(ParseDuration("30d", &ms).ok());
  EXPECT_EQ(ms, 30LL * 24 * 3600 * 1000);
  ASSERT_TRUE(ParseDuration("12h", &ms).ok());
  EXPECT_EQ(ms, 12LL * 3600 * 1000);
  ASSERT_TRUE(ParseDuration("90s", &ms).ok());
  EXPECT_EQ(ms, 90000);
  ASSERT_TRUE(ParseDuration("250ms", &ms).ok());
  EXPECT_EQ(ms, 250);
  for (const char* bad : {"", "d", "30", "-1d", "0d", "1.5h", "10w", "1000000000d", " 1d"}) {
    EXPECT_EQ(ParseDuration(bad, &ms).code(), "INVALID_ARGUMENT") << bad;
  }
}

TEST(RequestBodyTest, JsonContentTypes) {
  for (const char* ok : {"application/json", "Application/JSON", "application/json; charset=utf-8",
                         "application/json;charset=\"UTF-8\""}) {
    EXPECT_TRUE(CheckJsonContentType(ok).ok()) << ok;
  }
  for (const char* bad : {"", "text/plain", "application/jsonx", "application/x-www-form-urlencoded",
                          "application/json; charset=latin1", "multipart/form-data; boundary=x"}) {
    EXPECT_EQ(CheckJsonContentType(bad).code(), "UNSUPPORTED_MEDIA_TYPE") << bad;
  }
}

TEST(RequestBodyTest, ContentEncodings) {
  BodyEncoding e;
  ASSERT_TRUE(ParseContentEncoding("", &e).ok());
  EXPECT_EQ(e, BodyEncoding::kIdentity);
  ASSERT_TRUE(ParseContentEncoding("GZIP", &e).ok());
  EXPECT_EQ(e, BodyEncoding::kGzip);
  for (const char* bad : {"br", "deflate", "gzip, gzip", "compress", "zstd"}) {
    EXPECT_EQ(ParseContentEncoding(bad, &e).code(), "UNSUPPORTED_MEDIA_TYPE") << bad;
  }
}

TEST(RequestBodyTest, GunzipStopsAtTheCap) {
  std::string data(100000, 'a');
  std::string gz = Gzip(data);
  std::string out;
  ASSERT_TRUE(GunzipCapped(gz, data.size(), &out).ok());
  EXPECT_EQ(out, data);
  EXPECT_EQ(GunzipCapped(gz, data.size() - 1, &out).code(), "TOO_LARGE");
  EXPECT_TRUE(out.empty());
  // A bomb: 64 MiB of zeros in ~64 KiB; refused after inflating no more than the cap.
  std::string bomb = Gzip(std::string(64 << 20, '\0'));
  EXPECT_LT(bomb.size(), size_t{1} << 17);
  EXPECT_EQ(GunzipCapped(bomb, 1 << 20, &out).code(), "TOO_LARGE");
}

TEST(RequestBodyTest, GunzipRefusesCorruptStreams) {
  std::string gz = Gzip("{\"protocol\":1}");
  std::string out;
  EXPECT_EQ(GunzipCapped(gz.substr(0, gz.size() - 4), 1 << 20, &out).code(), "INVALID_ARGUMENT");  // truncated
  EXPECT_EQ(GunzipCapped(gz + "xyz", 1 << 20, &out).code(), "INVALID_ARGUMENT");                   // trailing bytes
  EXPECT_EQ(GunzipCapped("not gzip at all", 1 << 20, &out).code(), "INVALID_ARGUMENT");
  EXPECT_EQ(GunzipCapped("", 1 << 20, &out).code(), "INVALID_ARGUMENT");
  std::string flipped = gz;
  flipped[flipped.size() / 2] ^= 0x55;
  EXPECT_EQ(GunzipCapped(flipped, 1 << 20, &out).code(), "INVALID_ARGUMENT");
}

}  // namespace
}  // namespace outpost::server
