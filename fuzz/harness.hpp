#pragma once
// Shared by the fuzz targets: a malformed input may only end in fusekit::Error. Any other exception
// escapes LLVMFuzzerTestOneInput and libFuzzer reports it as a crash (so does the replay driver), as it
// does for sanitizer findings, timeouts and memory blow-ups. Broken invariants abort with a message.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fusekit/core/error.hpp"

namespace fusekit::fuzz {

inline void invariant(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

// Runs fn; true if it returns, false on a fusekit::Error (an accepted outcome, with a message); anything
// else propagates.
template <class Fn>
bool succeeds(Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const Error& e) {
    if (std::string_view(e.what()).empty()) invariant(false, "fusekit::Error with an empty message");
    return false;
  }
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace fusekit::fuzz
