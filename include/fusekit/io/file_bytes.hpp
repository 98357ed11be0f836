#pragma once
// Whole files as bytes, gunzipped when they start with the gzip magic (zlib: link ZLIB::ZLIB, which
// fusekit::fusekit does). Errors name the file and, for a damaged gzip stream, the byte offset in the
// compressed file where inflation stopped.
#include <algorithm>
#include <cstddef>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>

#include <zlib.h>

#include "fusekit/core/error.hpp"

namespace fusekit::io {

inline std::string read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("cannot open '{}'", path);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) fail("error reading '{}'", path);
  return bytes;
}

inline bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f && static_cast<unsigned char>(bytes[1]) == 0x8b;
}

// Decompressed sizes above this are refused unless a caller asks for more: a few kilobytes of gzip can
// claim gigabytes (a "zip bomb"); the largest KataGo nets are well under 1 GiB as text.
inline constexpr std::size_t default_max_decompressed_bytes = std::size_t{4} << 30;

// The decompressed content of a gzip stream (concatenated members are read one after another), at most
// `max_bytes` of it.
inline std::string gunzip(std::string_view gz, const std::string& name,
                          std::size_t max_bytes = default_max_decompressed_bytes) {
  if (gz.size() > std::numeric_limits<uInt>::max())  // zlib counts input in 32 bits
    fail("{}: gzip file of {} bytes is larger than this reader takes (4 GiB)", name, gz.size());
  std::string out;
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) fail("{}: zlib inflateInit failed", name);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  char buf[1 << 16];
  int rc = Z_OK;
  while (true) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > max_bytes) {
      const std::size_t at = gz.size() - z.avail_in;
      inflateEnd(&z);
      fail("{}: gzip stream decompresses to more than {} bytes (the limit; stopped at compressed byte {} of {})", name,
           max_bytes, at, gz.size());
    }
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      if (inflateReset(&z) != Z_OK) break;  // another gzip member follows
      continue;
    }
    if (rc != Z_OK) break;
    if (z.avail_in == 0 && z.avail_out != 0) {  // input exhausted before the end of the stream
      rc = Z_BUF_ERROR;
      break;
    }
  }
  const std::size_t at = gz.size() - z.avail_in;
  const char* msg = z.msg;
  inflateEnd(&z);
  if (rc != Z_STREAM_END)
    fail("{}: gzip stream {} at compressed byte {} of {}{}{}", name,
         rc == Z_BUF_ERROR ? "truncated" : "corrupt", at, gz.size(), msg ? ": " : "", msg ? msg : "");
  return out;
}

// `bytes` as one gzip member (zlib deflate at `level`, 1..9).
inline std::string gzip(std::string_view bytes, int level = 6) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    fail("gzip: zlib deflateInit failed (level {})", level);
  std::string out;
  char buf[1 << 16];
  std::size_t at = 0;
  int rc = Z_OK;
  do {
    const std::size_t chunk = std::min<std::size_t>(bytes.size() - at, std::size_t{1} << 30);  // zlib counts in 32 bits
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + at));
    z.avail_in = static_cast<uInt>(chunk);
    at += chunk;
    const int flush = at == bytes.size() ? Z_FINISH : Z_NO_FLUSH;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      rc = deflate(&z, flush);
      out.append(buf, sizeof buf - z.avail_out);
    } while (z.avail_out == 0);
  } while (at < bytes.size());
  deflateEnd(&z);
  if (rc != Z_STREAM_END) fail("gzip: zlib deflate failed ({})", rc);
  return out;
}

// A file's bytes, decompressed if it is gzip.
inline std::string read_maybe_gzipped(const std::string& path, std::size_t max_bytes = default_max_decompressed_bytes) {
  std::string bytes = read_file_bytes(path);
  return is_gzip(bytes) ? gunzip(bytes, path, max_bytes) : bytes;
}

}  // namespace fusekit::io
