#pragma once
// Test helpers: fresh random inputs (never zeros), poisoning, reference comparison with gtest output.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "fusekit/core.hpp"
#include "fusekit/reference/check.hpp"

namespace fusekit::test {

// A seed that differs between runs (printed on failure by the caller via SCOPED_TRACE) unless
// FUSEKIT_TEST_SEED is set, so that each run draws fresh inputs but a failure can be replayed.
inline std::uint64_t base_seed() {
  static const std::uint64_t seed = [] {
    if (const char* s = std::getenv("FUSEKIT_TEST_SEED")) return static_cast<std::uint64_t>(std::strtoull(s, nullptr, 10));
    return static_cast<std::uint64_t>(std::random_device{}()) << 20;
  }();
  return seed;
}

// Uniform values in [lo, hi], rounded to T; exact zeros are replaced so that unwritten outputs show.
template <class T, std::size_t R>
HostTensor<T, R> random_tensor(const Shape<R>& shape, std::uint64_t salt, double lo = -2.0, double hi = 2.0) {
  HostTensor<T, R> t(shape);
  std::mt19937_64 rng(base_seed() + salt);
  std::uniform_real_distribution<double> dist(lo, hi);
  for (index_t i = 0; i < t.numel(); ++i) {
    double v = dist(rng);
    if (v == 0.0) v = 0.5;
    t.data()[i] = convert<T>(v);
  }
  return t;
}

// A contiguous copy of any host view.
template <class T, std::size_t R>
HostTensor<std::remove_const_t<T>, R> dense_copy(const HostView<T, R>& v) {
  HostTensor<std::remove_const_t<T>, R> t(v.shape());
  for (index_t lin = 0; lin < t.numel(); ++lin) {
    index_t rem = lin, off = 0;
    for (std::size_t d = R; d-- > 0;) {
      off += (rem % v.size(d)) * v.stride(d);
      rem /= v.size(d);
    }
    t.data()[lin] = v.data()[off];
  }
  return t;
}

// Fills host memory with 0xFF bytes: NaN for f32/f16/bf16, so any element an op fails to write shows.
template <class T, std::size_t R>
void poison(HostTensor<T, R>& t) {
  if (t.bytes()) std::memset(t.data(), 0xff, t.bytes());
}

// Takes tensors or views (template arguments deduced, so calls need no commas inside EXPECT_TRUE).
template <class A, class E>
::testing::AssertionResult matches(const A& actual, const E& expected, reference::Tolerance tol,
                                   const std::string& what = "result") {
  const auto av = actual.view().as_const();
  const HostView<const double, decltype(av)::rank> ev = expected.view().as_const();
  auto c = reference::compare<typename decltype(av)::value_type, decltype(av)::rank>(av, ev, tol, what);
  if (c.ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << c.report << "(seed " << base_seed() << ")";
}

// fn() must throw a fusekit::Error whose message contains every fragment.
template <class Fn>
void expect_error(Fn&& fn, std::initializer_list<const char*> fragments) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning '" << *fragments.begin() << "'";
  } catch (const Error& e) {
    const std::string m = e.what();
    for (const char* f : fragments) EXPECT_NE(m.find(f), std::string::npos) << "missing '" << f << "' in: " << m;
  }
}
template <class Fn>
void expect_error(Fn&& fn, const char* needle) {
  expect_error(fn, {needle});
}

// Where the shared models and references live: $FUSEKIT_SHARED_DIR, else ../shared beside the checkout.
inline std::string shared_dir() {
  if (const char* s = std::getenv("FUSEKIT_SHARED_DIR")) return s;
  return std::string(FUSEKIT_SOURCE_DIR) + "/../shared";
}

}  // namespace fusekit::test
