// libFuzzer target for the protocol codec (wasm/include/outpost/protocol.h): every input is decoded as every
// message type. Decode must never crash, hang or trip a sanitizer, its canonical fast paths must agree with
// the strict decoder, and whatever it accepts must round-trip: Encode(m) decodes again to m, and encoding
// that gives the same bytes. The direct JSON string writer must write what nlohmann's dump writes for the input
// as a string. scripts/test.sh runs it for a bounded time; build with clang and
// -DOUTPOST_FUZZ=ON (tests/fuzz/CMakeLists.txt).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "outpost/protocol.h"
#include "protocol_json.h"

namespace {

using namespace outpost::protocol;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "protocol_fuzz: %s\n%s\n", what, detail.c_str());
  std::abort();
}

template <class T>
void Check(std::string_view input, const Limits& limits) {
  T first;
  const outpost::Status decoded = Decode(input, limits, &first);
  // The canonical fast paths (push bodies and answers) must decide exactly as the strict decoder does.
  Limits strict_limits = limits;
  strict_limits.canonical_fast_path = false;
  T strict;
  const outpost::Status strictly = Decode(input, strict_limits, &strict);
  if (decoded.ok() != strictly.ok() || decoded.code() != strictly.code() || decoded.message() != strictly.message())
    Fail("the fast path and the strict decoder disagree", decoded.ToString() + "\n" + strictly.ToString());
  if (decoded.ok() && !(strict == first))
    Fail("the fast path and the strict decoder read different messages", std::string(input));
  if (!decoded.ok()) return;
  const std::string wire = Encode(first);
  T second;
  // The canonical form of an accepted message may be longer than the input (e.g. "\u00e9" → "é" is shorter,
  // but 1E2 → 100.0 is longer), so the re-decode gets room beyond max_body_bytes; every other limit holds.
  Limits relaxed = limits;
  relaxed.max_body_bytes = wire.size();
  const outpost::Status s = Decode(wire, relaxed, &second);
  if (!s.ok()) Fail("re-encoded message does not decode", s.ToString() + "\n" + wire);
  if (!(second == first)) Fail("round trip changed the message", wire);
  if (Encode(second) != wire) Fail("encoding is not stable", wire + "\n" + Encode(second));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.max_ops = 64;  // small limits reach the TOO_LARGE paths with small inputs
  limits.max_columns = 16;
  limits.max_key_columns = 4;
  limits.max_scopes = 8;
  limits.max_page_size = 64;
  Check<PushRequest>(input, limits);
  Check<PushResponse>(input, limits);
  Check<PullRequest>(input, limits);
  Check<PullResponse>(input, limits);
  Check<HealthResponse>(input, limits);
  Check<ErrorBody>(input, limits);
  std::string direct;
  json::AppendString(&direct, input);
  if (direct != json::Dump(json::Json(std::string(input))))
    Fail("AppendString and Dump disagree", direct + "\n" + json::Dump(json::Json(std::string(input))));
  return 0;
}
