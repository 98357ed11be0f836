#pragma once
// Vectorised CPU forms of the costliest activations for contiguous float rows, written with Eigen's
// array expressions (SIMD exp and tanh). The CPU elementwise engine uses them in rows mode when the op is
// one of these functors applied float -> float; every other case runs the scalar functor. The results
// follow the same limits as the functors (NaN -> NaN, -Inf -> 0, +Inf -> +Inf) and are tested with them.
#include <algorithm>
#include <type_traits>

#include <Eigen/Core>

#include "fusekit/core/shape.hpp"
#include "fusekit/ops/activation_functors.hpp"

namespace fusekit::cpu {

template <class Op> struct ArrayForm;  // specialised below; absent = no vectorised form

namespace detail {
// Runs kernel(x_chunk, y_chunk) over chunks of at most array_chunk elements (so intermediates live on the
// stack, and each transcendental is evaluated once per element); the last chunk is shorter, and SIMD
// too (rows of 192 channels would otherwise run the scalar functor throughout).
inline constexpr index_t array_chunk = 256;
using Chunk = Eigen::Array<float, Eigen::Dynamic, 1, Eigen::ColMajor, array_chunk, 1>;

template <class Kernel>
void by_chunks(const float* in, float* out, index_t n, Kernel kernel) {
  for (index_t i = 0; i < n; i += array_chunk) {
    const index_t k = std::min(array_chunk, n - i);
    kernel(Eigen::Map<const Chunk>(in + i, k), Eigen::Map<Chunk>(out + i, k));
  }
}
}  // namespace detail

template <>
struct ArrayForm<act::Mish> {
  static void run(const float* in, float* out, index_t n) {
    detail::by_chunks(in, out, n, [](const auto& x, auto y) {
      const detail::Chunk e = x.min(act::detail::linear_above).exp();
      const detail::Chunk t = e * (e + 2.0f);  // tanh(softplus(x)) = t / (t + 2)
      y = (x > act::detail::linear_above)
              .select(x, (x < act::detail::zero_below_exp).select(detail::Chunk::Zero(x.size()), x * t / (t + 2.0f)));
    });
  }
};

template <>
struct ArrayForm<act::Silu> {
  static void run(const float* in, float* out, index_t n) {
    detail::by_chunks(in, out, n, [](const auto& x, auto y) {
      const detail::Chunk e = (-x).exp();
      y = (x < act::detail::zero_below_exp).select(detail::Chunk::Zero(x.size()), x / (1.0f + e));
    });
  }
};

template <class Op, class O, class... I>
inline constexpr bool has_array_form = false;
template <class Op>
  requires requires { ArrayForm<Op>::run; }
inline constexpr bool has_array_form<Op, float, const float> = true;

namespace detail {
struct VisitProbe {
  template <class F>
  void operator()(F) const {}
};
}  // namespace detail

// Applies act to n floats (in and out may not alias): the SIMD form when there is one. A functor chosen
// at run time that can name its fixed functor (`f.visit(fn)`, e.g. katago::ActFn) is resolved once per span.
template <class Act>
void activation_span(const Act& f, const float* in, float* out, index_t n) {
  if constexpr (requires { ArrayForm<Act>::run; }) ArrayForm<Act>::run(in, out, n);
  else if constexpr (requires { f.visit(detail::VisitProbe{}); })
    f.visit([&](const auto& g) { activation_span(g, in, out, n); });
  else for (index_t i = 0; i < n; ++i) out[i] = f(in[i]);
}

}  // namespace fusekit::cpu
