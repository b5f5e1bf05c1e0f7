// Device tokens (auth.h): HMAC-SHA256 over base64url claims, verified in constant time before parsing.
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

namespace outpost::server {
namespace {

using Json = nlohmann::json;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t kMaxTokenBytes = 8192;
constexpr size_t kMaxScopes = 64;

bool InAlphabet(std::string_view s, size_t max, std::string_view extra) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && extra.find(c) == std::string_view::npos) return false;
  }
  return true;
}

// Users and devices use the client-id alphabet (docs/protocol.md), scopes the scope alphabet.
bool IsName(std::string_view s) { return InAlphabet(s, 128, "._:-"); }
bool IsScopeOrStar(std::string_view s) { return s == "*" || InAlphabet(s, 128, "._:-"); }

Status Unauthenticated(TokenFailure kind, TokenFailure* failure, const std::string& message) {
  if (failure != nullptr) *failure = kind;
  return Status::Error("UNAUTHENTICATED", message);
}

Status Malformed(TokenFailure* failure, const std::string& what) {
  return Unauthenticated(TokenFailure::kMalformed, failure,
                         "The bearer token is malformed (" + what +
                             "); expected ot1.<claims>.<signature> as issued by `outpost-server token`. "
                             "Ask the app for a new token.");
}

std::string IsoTime(int64_t ms) {
  time_t seconds = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&seconds, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string_view TokenFailureName(TokenFailure f) {
  switch (f) {
    case TokenFailure::kNone:
      return "none";
    case TokenFailure::kMissing:
      return "missing";
    case TokenFailure::kMalformed:
      return "malformed";
    case TokenFailure::kBadSignature:
      return "bad-signature";
    case TokenFailure::kExpired:
      return "expired";
  }
  return "none";
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = (uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                 (uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) | static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t n = uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
  } else if (rest == 2) {
    uint32_t n = (uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                 (uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
  }
  return out;
}

bool Base64UrlDecode(std::string_view text, std::string* bytes) {
  if (text.size() % 4 == 1) return false;
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  bytes->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = sextet(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Canonical: the bits left over after the last whole byte are zero.
  return (acc & ((1u << bits) - 1)) == 0;
}

TokenAuthority::TokenAuthority(std::string secret) : secret_(std::move(secret)) {}

Status TokenAuthority::FromSecretFile(const std::string& path, std::unique_ptr<TokenAuthority>* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::Error("INVALID_ARGUMENT", "Cannot read the secret file \"" + path +
                                                 "\"; create one with `outpost-server secret " + path + "`.");
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string secret = buf.str();
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
  if (secret.size() < kMinSecretBytes) {
    return Status::Error("INVALID_ARGUMENT", "The secret file \"" + path + "\" holds " + std::to_string(secret.size()) +
                                                 " bytes; it needs at least " + std::to_string(kMinSecretBytes) +
                                                 " (create one with `outpost-server secret FILE`).");
  }
  *out = std::make_unique<TokenAuthority>(std::move(secret));
  return Status::OK();
}

std::string TokenAuthority::Mac(std::string_view signed_part) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

Status TokenAuthority::Issue(const TokenClaims& claims, std::string* token) const {
  if (!IsName(claims.user)) {
    return Status::Error("INVALID_ARGUMENT", "The user must be 1-128 characters from A-Z a-z 0-9 . _ : -.");
  }
  if (!IsName(claims.device)) {
    return Status::Error("INVALID_ARGUMENT",
                         "The device must be 1-128 characters from A-Z a-z 0-9 . _ : - "
                         "(it is the clientId the device sends).");
  }
  if (claims.scopes.empty() || claims.scopes.size() > kMaxScopes) {
    return Status::Error("INVALID_ARGUMENT",
                         "A token needs 1-" + std::to_string(kMaxScopes) + " scopes (\"*\" allows every scope).");
  }
  for (const std::string& s : claims.scopes) {
    if (!IsScopeOrStar(s)) {
      return Status::Error("INVALID_ARGUMENT", "Scope \"" + s +
                                                   "\" is not 1-128 characters from A-Z a-z 0-9 . _ : - "
                                                   "(or \"*\").");
    }
  }
  if (claims.expires_at_ms <= claims.issued_at_ms) {
    return Status::Error("INVALID_ARGUMENT", "A token's expiry must come after its issue time; give a positive TTL.");
  }
  Json j = Json::object();
  j["v"] = 1;
  j["sub"] = claims.user;
  j["dev"] = claims.device;
  j["scp"] = claims.scopes;
  j["iat"] = claims.issued_at_ms;
  j["exp"] = claims.expires_at_ms;
  std::string signed_part = std::string(kTokenPrefix) + Base64UrlEncode(j.dump());
  *token = signed_part + "." + Base64UrlEncode(Mac(signed_part));
  return Status::OK();
}

Status TokenAuthority::Verify(std::string_view token, int64_t now_ms, TokenClaims* claims,
                              TokenFailure* failure) const {
  if (failure != nullptr) *failure = TokenFailure::kNone;
  if (token.empty()) {
    return Unauthenticated(TokenFailure::kMissing, failure,
                           "No bearer token: send `Authorization: Bearer <token>` with a token for this device.");
  }
  if (token.size() > kMaxTokenBytes) return Malformed(failure, "longer than 8192 bytes");
  if (token.substr(0, kTokenPrefix.size()) != kTokenPrefix) return Malformed(failure, "unknown prefix");
  size_t dot = token.rfind('.');
  if (dot < kTokenPrefix.size()) return Malformed(failure, "no signature");
  std::string_view signed_part = token.substr(0, dot);
  std::string mac;
  if (!Base64UrlDecode(token.substr(dot + 1), &mac)) return Malformed(failure, "signature is not base64url");
  std::string expected = Mac(signed_part);
  if (mac.size() != expected.size() || CRYPTO_memcmp(mac.data(), expected.data(), mac.size()) != 0) {
    return Unauthenticated(TokenFailure::kBadSignature, failure,
                           "The bearer token's signature does not verify: it was altered, or signed with another "
                           "server secret. Ask the app for a new token.");
  }
  // Signed by us: the claims are ours, but are still checked field by field (an old or buggy issuer).
  std::string text;
  if (!Base64UrlDecode(signed_part.substr(kTokenPrefix.size()), &text)) {
    return Malformed(failure, "claims are not base64url");
  }
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Malformed(failure, "claims are not a JSON object");
  auto field = [&](const char* name) -> const Json* {
    auto it = j.find(name);
    return it == j.end() ? nullptr : &*it;
  };
  const Json* v = field("v");
  const Json* sub = field("sub");
  const Json* dev = field("dev");
  const Json* scp = field("scp");
  const Json* iat = field("iat");
  const Json* exp = field("exp");
  if (v == nullptr || !v->is_number_integer() || v->get<int64_t>() != 1) return Malformed(failure, "claims version");
  if (sub == nullptr || !sub->is_string() || !IsName(sub->get<std::string>())) return Malformed(failure, "user");
  if (dev == nullptr || !dev->is_string() || !IsName(dev->get<std::string>())) return Malformed(failure, "device");
  if (iat == nullptr || !iat->is_number_integer()) return Malformed(failure, "issue time");
  if (exp == nullptr || !exp->is_number_integer()) return Malformed(failure, "expiry");
  if (scp == nullptr || !scp->is_array() || scp->empty() || scp->size() > kMaxScopes) {
    return Malformed(failure, "scopes");
  }
  TokenClaims c;
  for (const Json& s : *scp) {
    if (!s.is_string() || !IsScopeOrStar(s.get<std::string>())) return Malformed(failure, "scopes");
    c.scopes.push_back(s.get<std::string>());
  }
  c.user = sub->get<std::string>();
  c.device = dev->get<std::string>();
  c.issued_at_ms = iat->get<int64_t>();
  c.expires_at_ms = exp->get<int64_t>();
  if (now_ms >= c.expires_at_ms) {
    return Unauthenticated(TokenFailure::kExpired, failure,
                           "The bearer token expired at " + IsoTime(c.expires_at_ms) +
                               "; ask the app for a new token (operations stay queued until then).");
  }
  if (claims != nullptr) *claims = std::move(c);
  return Status::OK();
}

Status TokenAuthority::Authenticate(std::string_view header, int64_t now_ms, Principal* who,
                                    TokenFailure* failure) const {
  if (failure != nullptr) *failure = TokenFailure::kNone;
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  if (header.empty()) return Verify("", now_ms, nullptr, failure);
  constexpr std::string_view kScheme = "bearer ";
  bool bearer = header.size() > kScheme.size();
  for (size_t i = 0; bearer && i < kScheme.size(); ++i) {
    bearer = std::tolower(static_cast<unsigned char>(header[i])) == kScheme[i];
  }
  if (!bearer) {
    return Unauthenticated(TokenFailure::kMalformed, failure,
                           "The Authorization header is not `Bearer <token>`; send the device's token that way.");
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  TokenClaims claims;
  if (Status s = Verify(token, now_ms, &claims, failure); !s.ok()) return s;
  who->user = std::move(claims.user);
  who->device = std::move(claims.device);
  who->scopes = std::move(claims.scopes);
  return Status::OK();
}

Status ParseDuration(std::string_view text, int64_t* ms) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string_view unit = text.substr(digits);
  int64_t scale = 0;
  if (unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m")
    scale = 60 * 1000;
  else if (unit == "h")
    scale = 3600 * 1000;
  else if (unit == "d")
    scale = 24 * 3600 * 1000;
  if (digits == 0 || digits > 9 || scale == 0) {
    return Status::Error("INVALID_ARGUMENT", "Duration \"" + std::string(text) +
                                                 "\" is not a positive integer with a unit: ms, s, m, h or d "
                                                 "(e.g. 30d, 12h, 90s).");
  }
  int64_t n = std::stoll(std::string(text.substr(0, digits)));
  if (n <= 0) {
    return Status::Error("INVALID_ARGUMENT", "Duration \"" + std::string(text) + "\" must be positive.");
  }
  *ms = n * scale;  // at most 10^9 * 8.64e7 < 2^63
  return Status::OK();
}

}  // namespace outpost::server
