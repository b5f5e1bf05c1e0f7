// Values and parameters exchanged with SQLite: the five storage classes, nothing else.
#ifndef OUTPOST_VALUE_H_
#define OUTPOST_VALUE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace outpost {

struct Blob {
  std::vector<uint8_t> bytes;
  bool operator==(const Blob& o) const { return bytes == o.bytes; }
};

// NULL, INTEGER, REAL, TEXT, BLOB, in that order of alternatives.
using Value = std::variant<std::monostate, int64_t, double, std::string, Blob>;

// Statement parameters: positional (?, ?NNN) or named (:name, @name, $name; stored without the prefix).
// A statement is bound from one or the other, never both.
struct Params {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;
  bool empty() const { return positional.empty() && named.empty(); }
};

}  // namespace outpost

#endif  // OUTPOST_VALUE_H_
