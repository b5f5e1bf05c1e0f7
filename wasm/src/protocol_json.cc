// Strict JSON parsing and the protocol's building blocks. The parser is nlohmann's SAX parser driving its own
// DOM builder, wrapped to reject what a DOM alone cannot show: duplicate keys, excessive nesting, integer
// literals that overflowed into floats and numbers that overflowed into infinities.
#include "protocol_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <set>
#include <vector>

#include "outpost/op_id.h"

namespace outpost::protocol::json {
namespace {

constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Forwards to nlohmann's DOM builder and stops the parse at the first thing the protocol refuses.
class StrictSax {
 public:
  using Dom = nlohmann::detail::json_sax_dom_parser<Json>;

  StrictSax(Json* root, size_t max_depth) : dom_(*root, /*allow_exceptions=*/false), max_depth_(max_depth) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(Json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(Json::number_float_t v, const Json::string_t& text) {
    if (text.find_first_of(".eE") == std::string::npos) {
      return Fail("INVALID_ARGUMENT",
                  "Integer " + text.substr(0, 40) +
                      " does not fit in 64 bits; write large integers as {\"$bigint\": \"<decimal>\"}.");
    }
    if (!std::isfinite(v)) {
      return Fail("INVALID_ARGUMENT", "Number " + text.substr(0, 40) + " is beyond the range of a double.");
    }
    return dom_.number_float(v, text);
  }
  bool string(Json::string_t& v) { return dom_.string(v); }
  bool binary(Json::binary_t& v) { return dom_.binary(v); }
  bool start_object(size_t n) { return Enter() && dom_.start_object(n); }
  bool end_object() {
    keys_.resize(objects_.back().first_key);
    objects_.pop_back();
    return Leave() && dom_.end_object();
  }
  bool start_array(size_t n) { return Enter(/*object=*/false) && dom_.start_array(n); }
  bool end_array() { return Leave() && dom_.end_array(); }
  bool key(Json::string_t& k) {
    // Objects are small (an operation, a column): a scan of the keys so far, without allocating; a large
    // one switches to a set.
    OpenObject& o = objects_.back();
    bool duplicate;
    if (o.many) {
      duplicate = !o.many->insert(k).second;
    } else {
      duplicate = std::find(keys_.begin() + static_cast<std::ptrdiff_t>(o.first_key), keys_.end(), k) != keys_.end();
      keys_.push_back(k);
      if (keys_.size() - o.first_key > kScanKeys) {
        o.many = std::make_unique<std::set<std::string>>(keys_.begin() + static_cast<std::ptrdiff_t>(o.first_key),
                                                         keys_.end());
      }
    }
    if (duplicate) {
      return Fail("INVALID_JSON", "Duplicate object key \"" + k.substr(0, 64) + "\"; every key may appear once.");
    }
    return dom_.key(k);
  }
  template <class Exception>
  bool parse_error(size_t position, const std::string& /*last_token*/, const Exception& e) {
    // nlohmann's message names the position and the token; strip its "[json.exception...] " prefix.
    std::string what = e.what();
    const size_t prefix = what.find("] ");
    if (prefix != std::string::npos) what = what.substr(prefix + 2);
    return Fail("INVALID_JSON",
                "The body is not valid JSON (byte " + std::to_string(position) + "): " + what.substr(0, 200) + ".");
  }

  const Status& status() const { return status_; }

 private:
  bool Enter(bool object = true) {
    if (object) objects_.push_back(OpenObject{keys_.size(), nullptr});
    if (++depth_ > max_depth_) {
      return Fail("INVALID_JSON", "JSON nesting deeper than " + std::to_string(max_depth_) + " levels.");
    }
    return true;
  }
  bool Leave() {
    --depth_;
    return true;
  }
  bool Fail(const char* code, std::string message) {
    if (status_.ok()) status_ = Status::Error(code, std::move(message));
    return false;
  }

  Dom dom_;
  size_t max_depth_;
  size_t depth_ = 0;
  static constexpr size_t kScanKeys = 32;
  struct OpenObject {
    size_t first_key;                             // its keys are keys_[first_key..] while it has few
    std::unique_ptr<std::set<std::string>> many;  // all its keys once it has more than kScanKeys
  };
  std::vector<std::string> keys_;
  std::vector<OpenObject> objects_;
  Status status_;
};

bool InAlphabet(char c, std::string_view extra) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         extra.find(c) != std::string_view::npos;
}

std::string Quote(std::string_view s) { return "\"" + std::string(s.substr(0, 70)) + (s.size() > 70 ? "…\"" : "\""); }

// "^-?(0|[1-9][0-9]*)$" within int64.
bool ParseDecimal(std::string_view text, int64_t* out) {
  const bool negative = !text.empty() && text[0] == '-';
  std::string_view digits = negative ? text.substr(1) : text;
  if (digits.empty() || digits.size() > 19 || (digits[0] == '0' && digits.size() > 1)) return false;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');  // 19 digits cannot overflow uint64
  }
  const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  if (v > limit) return false;
  *out = negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  return true;
}

}  // namespace

Status Parse(std::string_view text, const Limits& limits, Json* out) {
  if (text.size() > limits.max_body_bytes) {
    return Status::Error("TOO_LARGE", "The body is " + std::to_string(text.size()) + " bytes; the limit is " +
                                          std::to_string(limits.max_body_bytes) + ". Send smaller batches.");
  }
  *out = Json();
  StrictSax sax(out, limits.max_depth);
  const char* begin = text.data();
  const bool ok = Json::sax_parse(begin, begin + text.size(), &sax);
  if (!sax.status().ok()) return sax.status();
  if (!ok) return Status::Error("INVALID_JSON", "The body is not valid JSON.");
  return Status::OK();
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Status Invalid(const std::string& path, const std::string& what) {
  return Status::Error("INVALID_ARGUMENT", (path.empty() ? std::string("body") : path) + ": " + what);
}

Status TooLarge(const std::string& path, size_t count, size_t max) {
  return Status::Error("TOO_LARGE", path + " has " + std::to_string(count) + " entries; the limit is " +
                                        std::to_string(max) + ". Split it into smaller messages.");
}

std::string Member(const std::string& path, std::string_view name) {
  return path.empty() ? std::string(name) : path + "." + std::string(name);
}

std::string Element(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

Status CheckProtocol(const Json& root) {
  if (!root.is_object()) return Invalid("", "expected a JSON object");
  const Json* version = Find(root, "protocol");
  if (version == nullptr) return Invalid("protocol", "missing; expected " + std::to_string(kVersion));
  if (!version->is_number_integer()) return Invalid("protocol", "expected the integer " + std::to_string(kVersion));
  if (version->is_number_unsigned() ? version->get<uint64_t>() != kVersion : version->get<int64_t>() != kVersion) {
    return Status::Error("UNSUPPORTED_VERSION", "Protocol version " + version->dump() + " is not supported; this " +
                                                    "side speaks version " + std::to_string(kVersion) +
                                                    ". Update the client (or the server) so both speak it.");
  }
  return Status::OK();
}

Status ExpectObject(const Json& j, const std::string& path, std::initializer_list<std::string_view> allowed) {
  if (!j.is_object()) return Invalid(path, "expected an object");
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || key == a;
    if (!known) return Invalid(Member(path, Quote(key)), "unknown field (protocol v1 has no such field)");
  }
  return Status::OK();
}

const Json* Find(const Json& obj, std::string_view name) {
  auto it = obj.find(std::string(name));
  return it == obj.end() ? nullptr : &*it;
}

Status Require(const Json& obj, const std::string& path, std::string_view name, const Json** out) {
  *out = Find(obj, name);
  if (*out == nullptr) return Invalid(Member(path, name), "missing required field");
  return Status::OK();
}

Status GetString(const Json& j, const std::string& path, size_t min_bytes, size_t max_bytes, std::string* out) {
  if (!j.is_string()) return Invalid(path, "expected a string");
  const std::string& s = j.get_ref<const std::string&>();
  if (s.size() < min_bytes || s.size() > max_bytes) {
    return Invalid(path, "expected " + std::to_string(min_bytes) + ".." + std::to_string(max_bytes) + " bytes, got " +
                             std::to_string(s.size()));
  }
  *out = s;
  return Status::OK();
}

Status GetToken(const Json& j, const std::string& path, size_t max_bytes, std::string_view extra, std::string* out) {
  std::string s;
  if (Status st = GetString(j, path, 1, max_bytes, &s); !st.ok()) return st;
  if (!IsToken(s, max_bytes, extra))
    return Invalid(path, Quote(s) + " may only contain A-Z a-z 0-9 and " + std::string(extra));
  *out = std::move(s);
  return Status::OK();
}

bool IsIdentifierImpl(std::string_view name) {
  if (name.empty() || name.size() > kMaxIdentifierLength) return false;
  if (!InAlphabet(name[0], "_") || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    if (!InAlphabet(c, "_")) return false;
  }
  return true;
}

bool IsToken(std::string_view s, size_t max_bytes, std::string_view extra) {
  if (s.empty() || s.size() > max_bytes) return false;
  for (char c : s)
    if (!InAlphabet(c, extra)) return false;
  return true;
}

bool CanonicalReader::Lit(char c) {
  if (i_ >= s_.size() || s_[i_] != c) return false;
  ++i_;
  return true;
}

bool CanonicalReader::Lit(std::string_view word) {
  if (s_.substr(i_, word.size()) != word) return false;
  i_ += word.size();
  return true;
}

bool CanonicalReader::String(std::string* out) {
  if (!Lit('"')) return false;
  const size_t end = s_.find('"', i_);
  if (end == std::string_view::npos) return false;
  for (size_t k = i_; k < end; ++k) {
    const unsigned char c = static_cast<unsigned char>(s_[k]);
    if (c < 0x20 || c >= 0x80 || c == '\\') return false;
  }
  out->assign(s_.substr(i_, end - i_));
  i_ = end + 1;
  return true;
}

bool CanonicalReader::UInt(int64_t* out) {
  const size_t start = i_;
  int64_t n = 0;
  while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9' && i_ - start < 16) n = n * 10 + (s_[i_++] - '0');
  const size_t digits = i_ - start;
  if (digits == 0 || (digits > 1 && s_[start] == '0') || n > kMaxSafeInteger) return false;
  if (i_ < s_.size() && ((s_[i_] >= '0' && s_[i_] <= '9') || s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E'))
    return false;  // more digits, a fraction, an exponent
  *out = n;
  return true;
}

bool CanonicalReader::Plain(Value* v) {
  if (Lit("null")) {
    *v = std::monostate{};
    return true;
  }
  if (i_ < s_.size() && s_[i_] == '"') {
    std::string text;
    if (!String(&text)) return false;
    *v = std::move(text);
    return true;
  }
  const bool negative = Lit('-');
  int64_t n = 0;
  if (!UInt(&n) || (negative && n == 0)) return false;  // "-0": left to the strict parser
  *v = negative ? -n : n;
  return true;
}

bool CanonicalReader::Key(const Limits& limits, protocol::Key* key) {
  key->clear();
  if (!Lit('{')) return false;
  do {
    std::string name;
    Value v;
    if (!String(&name) || !IsIdentifierImpl(name) || !Lit(':') || !Plain(&v) || v.index() == 0) return false;
    if (!key->emplace(std::move(name), std::move(v)).second || key->size() > limits.max_key_columns) return false;
  } while (Lit(','));
  return Lit('}');
}

bool CanonicalReader::Columns(const Limits& limits, protocol::Columns* columns) {
  columns->clear();
  if (!Lit('{')) return false;
  if (Lit('}')) return true;
  do {
    std::string name, hlc;
    ColumnValue cv;
    if (!String(&name) || !IsIdentifierImpl(name) || !Lit(":{\"hlc\":") || !String(&hlc) || !Lit(",\"value\":") ||
        !Plain(&cv.value) || !Lit('}') || !Hlc::Decode(hlc, &cv.hlc).ok())
      return false;
    if (!columns->emplace(std::move(name), std::move(cv)).second || columns->size() > limits.max_columns) return false;
  } while (Lit(','));
  return Lit('}');
}

bool ReadCanonicalKey(std::string_view text, const Limits& limits, protocol::Key* key) {
  CanonicalReader r(text);
  return r.Key(limits, key) && r.AtEnd();
}

bool ReadCanonicalColumns(std::string_view text, const Limits& limits, protocol::Columns* columns) {
  CanonicalReader r(text);
  return r.Columns(limits, columns) && r.AtEnd();
}

Status GetIdentifier(const Json& j, const std::string& path, std::string* out) {
  if (!j.is_string()) return Invalid(path, "expected an identifier string");
  const std::string& s = j.get_ref<const std::string&>();
  if (!IsIdentifierImpl(s)) {
    return Invalid(path, Quote(s) + " is not a valid identifier: expected ^[A-Za-z_][A-Za-z0-9_]{0,62}$");
  }
  *out = s;
  return Status::OK();
}

Status GetInt(const Json& j, const std::string& path, int64_t min, int64_t max, int64_t* out) {
  if (!j.is_number_integer()) return Invalid(path, "expected an integer");
  bool in_range;
  int64_t v = 0;
  if (j.is_number_unsigned()) {
    const uint64_t u = j.get<uint64_t>();
    in_range = max >= 0 && u <= static_cast<uint64_t>(max) && static_cast<int64_t>(u) >= min;
    v = static_cast<int64_t>(u);
  } else {
    v = j.get<int64_t>();
    in_range = v >= min && v <= max;
  }
  if (!in_range) {
    return Invalid(path, j.dump() + " is outside [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  *out = v;
  return Status::OK();
}

Status GetBool(const Json& j, const std::string& path, bool* out) {
  if (!j.is_boolean()) return Invalid(path, "expected true or false");
  *out = j.get<bool>();
  return Status::OK();
}

Status GetHlc(const Json& j, const std::string& path, HlcTimestamp* out) {
  if (!j.is_string()) return Invalid(path, "expected an HLC string");
  if (Status s = Hlc::Decode(j.get_ref<const std::string&>(), out); !s.ok()) return Invalid(path, s.message());
  return Status::OK();
}

Status GetOpId(const Json& j, const std::string& path, std::string* out) {
  if (!j.is_string()) return Invalid(path, "expected an operation id string");
  if (Status s = ParseOpId(j.get_ref<const std::string&>()); !s.ok()) return Invalid(path, s.message());
  *out = j.get<std::string>();
  return Status::OK();
}

Status GetValue(const Json& j, const std::string& path, Value* out) {
  switch (j.type()) {
    case Json::value_t::null:
      *out = std::monostate{};
      return Status::OK();
    case Json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(kMaxSafeInteger)) break;
      *out = static_cast<int64_t>(u);
      return Status::OK();
    }
    case Json::value_t::number_integer: {
      const int64_t v = j.get<int64_t>();
      if (v < -kMaxSafeInteger || v > kMaxSafeInteger) break;
      *out = v;
      return Status::OK();
    }
    case Json::value_t::number_float:
      *out = j.get<double>();  // finite: Parse() rejects overflowed numbers
      return Status::OK();
    case Json::value_t::string:
      *out = j.get<std::string>();
      return Status::OK();
    case Json::value_t::object: {
      if (j.size() != 1) break;
      const auto it = j.begin();
      const std::string& tag = it.key();
      const Json& inner = it.value();
      if (!inner.is_string()) break;
      const std::string& text = inner.get_ref<const std::string&>();
      if (tag == "$bigint") {
        int64_t v;
        if (!ParseDecimal(text, &v)) {
          return Invalid(path, "$bigint " + Quote(text) + " is not a decimal integer within the 64-bit signed range");
        }
        *out = v;
        return Status::OK();
      }
      if (tag == "$blob") {
        Blob blob;
        if (!Base64Decode(text, &blob.bytes)) {
          return Invalid(path, "$blob is not canonical padded base64 (RFC 4648 §4)");
        }
        *out = std::move(blob);
        return Status::OK();
      }
      break;
    }
    default:
      break;
  }
  return Invalid(path,
                 "expected an SQL value: null, a finite number (integers within ±(2^53-1)), a string, "
                 "{\"$bigint\": \"<decimal>\"} or {\"$blob\": \"<base64>\"}; got " +
                     Dump(j).substr(0, 80));
}

Json ValueToJson(const Value& v) {
  switch (v.index()) {
    case 1: {
      const int64_t i = std::get<int64_t>(v);
      if (i >= -kMaxSafeInteger && i <= kMaxSafeInteger) return Json(i);
      return Json{{"$bigint", std::to_string(i)}};
    }
    case 2:
      return Json(std::get<double>(v));  // nlohmann writes non-finite doubles as null
    case 3:
      return Json(std::get<std::string>(v));
    case 4:
      return Json{{"$blob", Base64Encode(std::get<Blob>(v).bytes)}};
    default:
      return Json(nullptr);
  }
}

Status GetKey(const Json& j, const std::string& path, const Limits& limits, Key* out) {
  if (!j.is_object()) return Invalid(path, "expected an object of primary-key columns");
  if (j.empty()) return Invalid(path, "a primary key needs at least one column");
  if (j.size() > limits.max_key_columns) return TooLarge(path, j.size(), limits.max_key_columns);
  out->clear();
  for (const auto& [name, value] : j.items()) {
    const std::string p = Member(path, Quote(name));
    std::string column;
    if (Status s = GetIdentifier(Json(name), p, &column); !s.ok()) return s;
    Value v;
    if (Status s = GetValue(value, p, &v); !s.ok()) return s;
    if (v.index() == 0) return Invalid(p, "a primary-key column cannot be null");
    out->emplace(std::move(column), std::move(v));
  }
  return Status::OK();
}

Json KeyToJson(const Key& key) {
  Json j = Json::object();
  for (const auto& [name, value] : key) j[name] = ValueToJson(value);
  return j;
}

Status GetColumns(const Json& j, const std::string& path, const Limits& limits, Columns* out) {
  if (!j.is_object()) return Invalid(path, "expected an object of columns");
  if (j.size() > limits.max_columns) return TooLarge(path, j.size(), limits.max_columns);
  out->clear();
  for (const auto& [name, cell] : j.items()) {
    const std::string p = Member(path, Quote(name));
    std::string column;
    if (Status s = GetIdentifier(Json(name), p, &column); !s.ok()) return s;
    if (Status s = ExpectObject(cell, p, {"value", "hlc"}); !s.ok()) return s;
    const Json* value;
    const Json* hlc;
    if (Status s = Require(cell, p, "value", &value); !s.ok()) return s;
    if (Status s = Require(cell, p, "hlc", &hlc); !s.ok()) return s;
    ColumnValue cv;
    if (Status s = GetValue(*value, Member(p, "value"), &cv.value); !s.ok()) return s;
    if (Status s = GetHlc(*hlc, Member(p, "hlc"), &cv.hlc); !s.ok()) return s;
    out->emplace(std::move(column), std::move(cv));
  }
  return Status::OK();
}

Json ColumnsToJson(const Columns& columns) {
  Json j = Json::object();
  for (const auto& [name, cv] : columns) j[name] = Json{{"value", ValueToJson(cv.value)}, {"hlc", Hlc::Encode(cv.hlc)}};
  return j;
}

namespace {
// The length of the well-formed UTF-8 sequence that starts at s[i] (Unicode table 3-7: no overlong forms,
// no surrogates, nothing above U+10FFFF; the set nlohmann's dump passes through unchanged), 0 if ill-formed.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  const unsigned c = at(0);
  const auto cont = [&](size_t k, unsigned lo = 0x80, unsigned hi = 0xbf) { return at(k) >= lo && at(k) <= hi; };
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c == 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c == 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}
}  // namespace

// Runs that need no escaping (printable ASCII, well-formed UTF-8) are copied whole; text with an ill-formed
// sequence goes through Dump, which replaces it.
void AppendString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t start = out->size();
  out->push_back('"');
  size_t copied = 0;  // s[copied, i) is still to be appended as is
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(s, i);
      if (n == 0) {
        out->resize(start);
        out->append(Dump(Json(std::string(s))));
        return;
      }
      i += n;
      continue;
    }
    out->append(s.data() + copied, i - copied);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\t': out->append("\\t"); break;
      case '\n': out->append("\\n"); break;
      case '\f': out->append("\\f"); break;
      case '\r': out->append("\\r"); break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
    }
    copied = ++i;
  }
  out->append(s.data() + copied, s.size() - copied);
  out->push_back('"');
}

void AppendValue(std::string* out, const Value& v) {
  if (const int64_t* i = std::get_if<int64_t>(&v); i && *i >= -kMaxSafeInteger && *i <= kMaxSafeInteger) {
    char buf[24];
    out->append(buf, std::to_chars(buf, buf + sizeof buf, *i).ptr);
  } else if (const std::string* text = std::get_if<std::string>(&v)) {
    AppendString(out, *text);
  } else if (v.index() == 0) {
    out->append("null");
  } else {
    out->append(Dump(ValueToJson(v)));
  }
}

void AppendKey(std::string* out, const Key& key) {
  out->push_back('{');
  bool first = true;
  for (const auto& [name, value] : key) {
    if (!first) out->push_back(',');
    first = false;
    AppendString(out, name);
    out->push_back(':');
    AppendValue(out, value);
  }
  out->push_back('}');
}

void AppendColumn(std::string* out, const ColumnValue& cv) {
  char hlc[Hlc::kEncodedLength];
  Hlc::EncodeTo(cv.hlc, hlc);
  out->append("{\"hlc\":\"");
  out->append(hlc, sizeof hlc);
  out->append("\",\"value\":");
  AppendValue(out, cv.value);
  out->push_back('}');
}

void AppendColumns(std::string* out, const Columns& columns) {
  out->push_back('{');
  bool first = true;
  for (const auto& [name, cv] : columns) {
    if (!first) out->push_back(',');
    first = false;
    AppendString(out, name);
    out->push_back(':');
    AppendColumn(out, cv);
  }
  out->push_back('}');
}

std::string Base64Encode(const std::vector<uint8_t>& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t group = uint32_t{bytes[i]} << 16;
    if (n > 1) group |= uint32_t{bytes[i + 1]} << 8;
    if (n > 2) group |= bytes[i + 2];
    for (size_t k = 0; k < 4; ++k) out.push_back(k <= n ? kBase64Alphabet[(group >> (18 - 6 * k)) & 63] : '=');
  }
  return out;
}

bool Base64Decode(std::string_view text, std::vector<uint8_t>* out) {
  if (text.size() % 4 != 0) return false;
  out->clear();
  out->reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    uint32_t group = 0;
    size_t padding = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      int v;
      if (c == '=' && last && k >= 2) {
        ++padding;
        v = 0;
      } else if (padding > 0) {
        return false;  // data after '='
      } else {
        const char* p = std::char_traits<char>::find(kBase64Alphabet, 64, c);
        if (p == nullptr || c == '\0') return false;
        v = static_cast<int>(p - kBase64Alphabet);
      }
      group = (group << 6) | static_cast<uint32_t>(v);
    }
    // Canonical: the bits the padding hides must be zero, so every byte string has one encoding.
    if ((padding == 1 && (group & 0xff) != 0) || (padding == 2 && (group & 0xffff) != 0)) return false;
    out->push_back(static_cast<uint8_t>(group >> 16));
    if (padding < 2) out->push_back(static_cast<uint8_t>(group >> 8));
    if (padding < 1) out->push_back(static_cast<uint8_t>(group));
  }
  return true;
}

Status Start(std::string_view text, const Limits& limits, Json* root) {
  OUTPOST_RETURN_IF_ERROR(Parse(text, limits, root));
  return CheckProtocol(*root);
}

Json Versioned() { return Json{{"protocol", kVersion}}; }

}  // namespace outpost::protocol::json

namespace outpost::protocol {
bool IsIdentifier(std::string_view name) { return json::IsIdentifierImpl(name); }
}  // namespace outpost::protocol
