// Device tokens: how outpost-server knows who is asking. A token is issued per device (by `outpost-server
// token`, or by the development endpoint POST /dev/token) and carries the user, the device, the scopes the
// device may read and write, and an expiry, signed with HMAC-SHA256 under a server secret:
//
//   ot1.<base64url(claims JSON)>.<base64url(HMAC-SHA256(secret, "ot1." + base64url(claims JSON)))>
//
// claims: {"dev": "<device>", "exp": <ms since epoch>, "iat": <ms>, "scp": ["<scope>", ...], "sub": "<user>",
// "v": 1}. base64url is RFC 4648 §5 without padding. docs/server.md describes issuing and rotating.
//
// Invariants:
//  - Verify checks the MAC (in constant time) before it parses a single claim: unsigned bytes are never
//    interpreted.
//  - A token that verifies names a well-formed user and device (client-id alphabet, 1-128 characters) and at
//    least one scope (scope alphabet, or "*" for every scope).
//  - Errors are UNAUTHENTICATED with a message that says which check failed and what to do; the failure kind
//    is also reported as a TokenFailure so callers can log or test it without parsing text.
#ifndef OUTPOST_SERVER_AUTH_H_
#define OUTPOST_SERVER_AUTH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/status.h"
#include "store.h"

namespace outpost::server {

inline constexpr size_t kMinSecretBytes = 32;
inline constexpr std::string_view kTokenPrefix = "ot1.";

// What a token says, before signing or after verifying.
struct TokenClaims {
  std::string user;
  std::string device;
  std::vector<std::string> scopes;  // "*" allows every scope
  int64_t issued_at_ms = 0;
  int64_t expires_at_ms = 0;
};

enum class TokenFailure { kNone, kMissing, kMalformed, kBadSignature, kExpired };
std::string_view TokenFailureName(TokenFailure f);  // "none", "missing", "malformed", "bad-signature", "expired"

class TokenAuthority {
 public:
  // REQUIRES: secret.size() >= kMinSecretBytes (FromSecretFile checks it).
  explicit TokenAuthority(std::string secret);

  // Reads the secret from a file (its bytes, trailing whitespace removed). INVALID_ARGUMENT when the file is
  // unreadable or holds fewer than kMinSecretBytes bytes.
  static Status FromSecretFile(const std::string& path, std::unique_ptr<TokenAuthority>* out);

  // Checks the claims (INVALID_ARGUMENT: bad user, device or scope; no scopes; expiry not after issue) and
  // signs them.
  Status Issue(const TokenClaims& claims, std::string* token) const;

  // Verifies a token at `now_ms`. UNAUTHENTICATED (with *failure set) when it is empty, malformed, not signed
  // with this secret, or expired.
  Status Verify(std::string_view token, int64_t now_ms, TokenClaims* claims, TokenFailure* failure = nullptr) const;

  // Verify for an HTTP Authorization header value ("Bearer <token>", scheme case-insensitive); an empty header
  // is kMissing.
  Status Authenticate(std::string_view authorization_header, int64_t now_ms, Principal* who,
                      TokenFailure* failure = nullptr) const;

 private:
  std::string Mac(std::string_view signed_part) const;
  std::string secret_;
};

// "30d", "12h", "15m", "45s", "250ms" → milliseconds (a positive integer and one unit). INVALID_ARGUMENT
// otherwise.
Status ParseDuration(std::string_view text, int64_t* ms);

// RFC 4648 §5 base64url without padding; decoding is strict (canonical trailing bits, no padding, no other
// characters) and returns false on bad input.
std::string Base64UrlEncode(std::string_view bytes);
bool Base64UrlDecode(std::string_view text, std::string* bytes);

}  // namespace outpost::server

#endif  // OUTPOST_SERVER_AUTH_H_
