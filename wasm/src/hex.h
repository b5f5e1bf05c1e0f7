// Lowercase hexadecimal, the one text form of the core's fixed-width identifiers (HLC encodings, UUIDv7
// op ids). Lowercase only, so that byte order equals numeric order. Internal to wasm/src.
#ifndef OUTPOST_SRC_HEX_H_
#define OUTPOST_SRC_HEX_H_

#include <cstdint>
#include <string>

namespace outpost::hex {

inline constexpr char kDigits[] = "0123456789abcdef";

// The value of a lowercase hex digit, or -1 for any other character.
inline int Digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace outpost::hex

#endif  // OUTPOST_SRC_HEX_H_
