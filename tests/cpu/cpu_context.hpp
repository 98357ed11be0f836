#pragma once
// The CPU tests' shared context: two threads, so parallel_for's split is exercised.
#include "fusekit/backend/cpu/context.hpp"

namespace fusekit::test {
inline cpu::Context& ctx() {
  static cpu::Context c(2);
  return c;
}
}  // namespace fusekit::test
