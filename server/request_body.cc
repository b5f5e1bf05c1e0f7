// Request body checks and capped gzip (request_body.h), on zlib.
#include "request_body.h"

#include <zlib.h>

#include <cctype>

namespace outpost::server {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Status Unsupported(const std::string& message) { return Status::Error("UNSUPPORTED_MEDIA_TYPE", message); }

}  // namespace

Status CheckJsonContentType(std::string_view content_type) {
  std::string lower = Lower(content_type);
  std::string_view rest = lower;
  size_t semi = rest.find(';');
  std::string_view media = Trim(rest.substr(0, semi));
  if (media != "application/json") {
    return Unsupported("The request body must be JSON: send `Content-Type: application/json` (got \"" +
                       std::string(content_type.substr(0, 100)) + "\").");
  }
  while (semi != std::string_view::npos) {
    rest = rest.substr(semi + 1);
    semi = rest.find(';');
    std::string_view param = Trim(rest.substr(0, semi));
    if (param.substr(0, 8) == "charset=") {
      std::string_view charset = param.substr(8);
      if (charset.size() >= 2 && charset.front() == '"' && charset.back() == '"') {
        charset = charset.substr(1, charset.size() - 2);
      }
      if (charset != "utf-8" && charset != "utf8") {
        return Unsupported(
            "The request body must be UTF-8 JSON; send `Content-Type: application/json` without "
            "another charset.");
      }
    }
  }
  return Status::OK();
}

Status ParseContentEncoding(std::string_view header, BodyEncoding* out) {
  std::string enc = Lower(Trim(header));
  if (enc.empty() || enc == "identity") {
    *out = BodyEncoding::kIdentity;
  } else if (enc == "gzip" || enc == "x-gzip") {
    *out = BodyEncoding::kGzip;
  } else {
    return Unsupported("Content-Encoding \"" + std::string(header.substr(0, 100)) +
                       "\" is not supported; send the body uncompressed or with `Content-Encoding: gzip`.");
  }
  return Status::OK();
}

Status GunzipCapped(std::string_view compressed, size_t cap, std::string* out) {
  out->clear();
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    return Status::Error("INTERNAL", "zlib could not start inflating; the server is out of memory.");
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  char buf[64 * 1024];
  int rc = Z_OK;
  Status status;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      status = Status::Error("INVALID_ARGUMENT",
                             "The gzip request body is corrupt or truncated; send valid gzip or an uncompressed "
                             "body.");
      break;
    }
    size_t produced = sizeof buf - zs.avail_out;
    if (out->size() + produced > cap) {
      status = Status::Error("TOO_LARGE", "The decompressed request body exceeds " + std::to_string(cap) +
                                              " bytes; send smaller batches.");
      break;
    }
    out->append(buf, produced);
    if (rc == Z_OK && produced == 0 && zs.avail_in == 0) {
      status = Status::Error("INVALID_ARGUMENT", "The gzip request body is truncated; send the whole stream.");
      break;
    }
  }
  if (status.ok() && zs.avail_in != 0) {
    status = Status::Error("INVALID_ARGUMENT", "The gzip request body has bytes after its end; send one gzip stream.");
  }
  inflateEnd(&zs);
  if (!status.ok()) out->clear();
  return status;
}

std::string Gzip(std::string_view data) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace outpost::server
