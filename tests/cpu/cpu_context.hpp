#pragma once
// The CPU tests' shared context: two threads, so parallel_for's split is exercised.
#include "fusekit/backend/cpu/context.hpp"

namespace fusekit::test {
inline cpu::Context& ctx() {
  static cpu::Context c(2);
  return c;
}
// Contexts of 1 and 16 threads too, for ops whose work split depends on the thread count (16 on the
// CI's two cores still runs every split, oversubscribed).
inline cpu::Context& ctx_with(int threads) {
  static cpu::Context one(1), many(16);
  return threads == 1 ? one : threads == 2 ? ctx() : many;
}
}  // namespace fusekit::test
