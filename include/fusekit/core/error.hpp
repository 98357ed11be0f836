#pragma once
// fusekit::Error: the one exception type. Messages name the op, tensor, shape and dtype involved.
#include <stdexcept>
#include <string>
#include <utility>

#include "fusekit/config.hpp"  // first: it adjusts fmt for nvcc

#include <fmt/format.h>

namespace fusekit {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// throw Error(fmt::format(...)) in one call: fail("rmsnorm: tensor 'x' has {} columns", n)
template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace fusekit

// Checks a precondition; the message is only formatted when it fails.
#define FUSEKIT_CHECK(cond, ...)                \
  do {                                          \
    if (!(cond)) ::fusekit::fail(__VA_ARGS__);  \
  } while (0)
