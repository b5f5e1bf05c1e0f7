// Request bodies for the sync endpoints: media-type and content-encoding checks, and gzip decompression with
// a cap. Kept apart from the routes (http_server.cc) because this is where hostile input first arrives:
// a gzip bomb must cost at most `cap` bytes of output, never the memory or CPU its expansion would take.
#ifndef OUTPOST_SERVER_REQUEST_BODY_H_
#define OUTPOST_SERVER_REQUEST_BODY_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "outpost/status.h"

namespace outpost::server {

// OK for `application/json`, optionally with parameters (`; charset=utf-8`; another charset is refused), in
// any letter case. UNSUPPORTED_MEDIA_TYPE otherwise, including an absent header.
Status CheckJsonContentType(std::string_view content_type);

enum class BodyEncoding { kIdentity, kGzip };

// "" and "identity" → kIdentity; "gzip" and "x-gzip" → kGzip; anything else (deflate, br, stacked codings)
// is UNSUPPORTED_MEDIA_TYPE.
Status ParseContentEncoding(std::string_view header, BodyEncoding* out);

// Inflates one gzip member. TOO_LARGE as soon as the output would exceed `cap` bytes (the rest is not
// inflated); INVALID_ARGUMENT for a corrupt or truncated stream or bytes after its end.
Status GunzipCapped(std::string_view compressed, size_t cap, std::string* out);

// gzip-compresses `data` (tests and the load benchmark send compressed bodies).
std::string Gzip(std::string_view data);

}  // namespace outpost::server

#endif  // OUTPOST_SERVER_REQUEST_BODY_H_
