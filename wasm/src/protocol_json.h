// The JSON layer under the protocol codec (protocol.cc): a strict parser and typed, path-reporting readers and
// writers for the protocol's building blocks (values, HLCs, identifiers, keys, columns). Internal to
// wasm/src, so nlohmann/json stays out of the public headers.
//
// Invariants:
//  - Nothing here throws: nlohmann is only asked for a value after its type was checked, and dumps replace
//    invalid UTF-8 instead of throwing.
//  - Every error names the offending field by its path (`ops[2].key.id`) and says what is expected.
#ifndef OUTPOST_SRC_PROTOCOL_JSON_H_
#define OUTPOST_SRC_PROTOCOL_JSON_H_

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "outpost/protocol.h"


namespace outpost::protocol::json {

using Json = nlohmann::json;

// Parses `text` strictly: TOO_LARGE over limits.max_body_bytes; INVALID_JSON for anything that is not one
// JSON value, for duplicate object keys (their meaning would depend on the parser) and for nesting deeper
// than limits.max_depth, for numbers beyond double range (nlohmann reports the overflow); INVALID_ARGUMENT
// for integer literals beyond 64 bits (nlohmann would silently turn them into floats).
Status Parse(std::string_view text, const Limits& limits, Json* out);

// Parses a versioned message: strict JSON (Parse), an object, "protocol" equal to kVersion.
Status Start(std::string_view text, const Limits& limits, Json* root);
// A new message object carrying "protocol": kVersion.
Json Versioned();

// Characters allowed beyond [A-Za-z0-9] in the token-like fields.
inline constexpr std::string_view kClientIdExtra = "._:-";
inline constexpr std::string_view kScopeExtra = "._:-";
inline constexpr std::string_view kCursorExtra = "._~:-";
inline constexpr std::string_view kCodeExtra = "_";

// Compact, keys sorted (nlohmann's default map), invalid UTF-8 replaced by U+FFFD.
std::string Dump(const Json& j);

Status Invalid(const std::string& path, const std::string& what);
Status TooLarge(const std::string& path, size_t count, size_t max);
std::string Member(const std::string& path, std::string_view name);  // "a" + "b" → "a.b"; "" + "b" → "b"
std::string Element(const std::string& path, size_t i);              // "a" + 2 → "a[2]"

// Root checks: an object whose "protocol" is kVersion (UNSUPPORTED_VERSION otherwise).
Status CheckProtocol(const Json& root);

// `j` is an object whose keys are all in `allowed`.
Status ExpectObject(const Json& j, const std::string& path, std::initializer_list<std::string_view> allowed);
// The member `name` of object `obj`, or nullptr. `Require` fails with INVALID_ARGUMENT when it is missing.
const Json* Find(const Json& obj, std::string_view name);
Status Require(const Json& obj, const std::string& path, std::string_view name, const Json** out);

// Strings: `max_bytes` long at most and, unless empty, at least `min_bytes`.
Status GetString(const Json& j, const std::string& path, size_t min_bytes, size_t max_bytes, std::string* out);
// A string of 1..max_bytes characters from [A-Za-z0-9] plus `extra` (cursor, scope and client id alphabets).
Status GetToken(const Json& j, const std::string& path, size_t max_bytes, std::string_view extra, std::string* out);
Status GetIdentifier(const Json& j, const std::string& path, std::string* out);
// A JSON integer (no fraction, no exponent) in [min, max].
Status GetInt(const Json& j, const std::string& path, int64_t min, int64_t max, int64_t* out);
Status GetBool(const Json& j, const std::string& path, bool* out);
Status GetHlc(const Json& j, const std::string& path, HlcTimestamp* out);
Status GetOpId(const Json& j, const std::string& path, std::string* out);

// SQL values: null, finite number, string, {"$bigint": "<decimal>"}, {"$blob": "<base64>"}.
Status GetValue(const Json& j, const std::string& path, Value* out);
Json ValueToJson(const Value& v);

// {"<column>": value} with 1..limits.max_key_columns columns and no NULL.
Status GetKey(const Json& j, const std::string& path, const Limits& limits, Key* out);
Json KeyToJson(const Key& key);
// {"<column>": {"value": value, "hlc": "<hlc>"}} with 0..limits.max_columns columns.
Status GetColumns(const Json& j, const std::string& path, const Limits& limits, Columns* out);
Json ColumnsToJson(const Columns& columns);

// Direct writers: append exactly what Dump() writes for the same value (compact, keys sorted), without
// building a tree; the hot paths (push bodies and answers, outbox rows) use them. Anything beyond strings
// (well-formed UTF-8) and safe integers goes through Dump().
void AppendString(std::string* out, std::string_view s);
void AppendValue(std::string* out, const Value& v);
void AppendKey(std::string* out, const Key& key);             // Dump(KeyToJson(key))
void AppendColumns(std::string* out, const Columns& columns);  // Dump(ColumnsToJson(columns))
void AppendColumn(std::string* out, const ColumnValue& column);  // one entry of AppendColumns: {"hlc":..,"value":..}

// Reads the canonical form the Append* writers give plain values (ASCII strings without escapes, safe
// integers, null) without building a tree: outbox rows, push bodies and answers hold hundreds. Every method
// returns false, without a message, at anything else (escapes, reals, big integers, blobs, other spacing or
// key order, a limit exceeded, a duplicate name): the caller then hands the text to the strict parser, which
// decides and names the error. So a text it accepts is one the strict parser accepts with the same result.
class CanonicalReader {
 public:
  explicit CanonicalReader(std::string_view s) : s_(s) {}
  bool Lit(char c);
  bool Lit(std::string_view word);
  bool String(std::string* out);                                   // "…" of printable ASCII, no backslash
  bool Plain(Value* v);                                            // null, such a string, or a safe integer
  bool UInt(int64_t* out);                                         // 0..kMaxSafeInteger, canonical digits
  bool Key(const Limits& limits, protocol::Key* key);              // as AppendKey writes it
  bool Columns(const Limits& limits, protocol::Columns* columns);  // as AppendColumns writes it
  bool AtEnd() const { return i_ == s_.size(); }

 private:
  std::string_view s_;
  size_t i_ = 0;
};
// A whole text that is exactly one canonical key / columns object.
bool ReadCanonicalKey(std::string_view text, const Limits& limits, protocol::Key* key);
bool ReadCanonicalColumns(std::string_view text, const Limits& limits, protocol::Columns* columns);
// The alphabet check of GetToken.
bool IsToken(std::string_view s, size_t max_bytes, std::string_view extra);

// Standard base64 (RFC 4648 §4) with padding; Decode rejects anything non-canonical.
std::string Base64Encode(const std::vector<uint8_t>& bytes);
bool Base64Decode(std::string_view text, std::vector<uint8_t>* out);

}  // namespace outpost::protocol::json

#endif  // OUTPOST_SRC_PROTOCOL_JSON_H_
