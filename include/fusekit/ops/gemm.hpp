#pragma once
// GEMM with a fused epilogue (math in ops/gemm_params.hpp, stages in ops/gemm_epilogue.hpp):
//   gemm(ctx, c, a, b)                              C = A B
//   gemm(ctx, c, a, b, opts)                        C = alpha A B + beta C
//   gemm(ctx, c, a, b, make_epilogue(stages...), opts)
// a: [M, K] or [batch, M, K]; b: [K, N] or [batch, K, N]; c: [M, n_out] or [batch, M, n_out] with
// n_out = N, or N / 2 behind epi::gate. Any strides: a Linear weight W [N, K] is b = transposed(W).
// A rank-2 operand is shared by every batch entry. a and b share one dtype; c may be any float dtype
// (the output cast). CPU: fp32. GPU: fp32, f16, bf16 with fp32 accumulation.
#include <algorithm>

#include "fusekit/cpu/gemm.hpp"
#include "fusekit/ops/elementwise.hpp"
#include "fusekit/ops/gemm_epilogue_rope.hpp"
#include "fusekit/ops/gemm_params.hpp"
#include "fusekit/ops/tags.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/kernels/gemm.hpp"
#endif

namespace fusekit {

// The last two dimensions swapped (a view, no copy): transposed(W) for a [N, K] weight is its [K, N] B.
template <TensorLike V>
auto transposed(const V& v) {
  const auto x = v.view();
  constexpr std::size_t R = decltype(x)::rank;
  static_assert(R == 2 || R == 3, "transposed: the tensor must be rank 2 or 3");
  if constexpr (R == 2) return x.permute({1, 0});
  else return x.permute({0, 2, 1});
}

namespace detail {

template <class T, std::size_t R, class S>
GemmOperand<T> gemm_operand(const TensorView<T, R, S>& v) {
  return {v.data(), v.stride(R - 2), v.stride(R - 1), R == 3 ? v.stride(0) : 0};
}

// Bytes [lo, hi) a strided view can touch (for the overlap check).
template <class T, std::size_t R, class S>
std::pair<const char*, const char*> byte_span(const TensorView<T, R, S>& v) {
  index_t lo = 0, hi = 0;
  for (std::size_t d = 0; d < R; ++d) {
    const index_t reach = (v.size(d) - 1) * v.stride(d);
    (reach < 0 ? lo : hi) += reach;
  }
  const char* base = reinterpret_cast<const char*>(v.data());
  return {base + lo * index_t{sizeof(T)}, base + (hi + 1) * index_t{sizeof(T)}};
}

template <class V1, class V2>
bool overlaps(const V1& x, const V2& y) {
  if (x.empty() || y.empty()) return false;
  const auto [a0, a1] = byte_span(x);
  const auto [b0, b1] = byte_span(y);
  return a0 < b1 && b0 < a1;
}

// Whether an epilogue stage that writes a second tensor (written_bytes(): epi::store_norm_act) can touch
// v's bytes. (No structured binding in the check: clang 15 cannot capture one in a lambda.)
template <class St, class V>
bool second_output_overlaps(const St& st, const V& v) {
  if constexpr (requires { st.written_bytes(); }) {
    const std::pair<const char*, const char*> wr = st.written_bytes();
    if (v.empty() || wr.first == nullptr) return false;
    const auto span = byte_span(v);
    return span.first < wr.second && wr.first < span.second;
  } else {
    return (void)st, (void)v, false;
  }
}

// The checks and parameters of every GEMM entry point; run(p) launches (default: the backend's GEMM).
struct BackendGemm {};
template <class Ctx, class C, class A, class B, class... S, class Run = BackendGemm>
void gemm_impl(Ctx& ctx, const C& c, const A& a, const B& b, const Epilogue<S...>& epi, const GemmOptions& opt,
               const Run& run = {}) {
  using T = typename A::value_type;
  using O = typename C::element_type;
  constexpr std::size_t RC = C::rank, RA = A::rank, RB = B::rank;
  static_assert((RA == 2 || RA == 3) && (RB == 2 || RB == 3) && RC == std::max(RA, RB),
                "gemm: a [M, K] / [batch, M, K], b [K, N] / [batch, K, N], and c of the larger rank");
  static_assert(std::is_same_v<typename B::value_type, T>, "gemm: a and b must have one dtype");
  static_assert(FloatStorage<T> && FloatStorage<O> && !std::is_const_v<O>,
                "gemm: supported dtypes are f32, f16 and bf16 (and c must not be const)");
  require_space<Ctx, C>();
  require_space<Ctx, A>();
  require_space<Ctx, B>();
  using E = Epilogue<S...>;
  const index_t m = a.size(RA - 2), k = a.size(RA - 1), n = b.size(RB - 1);
  const index_t batch = RC == 3 ? c.size(0) : 1;
  const index_t n_out = E::gated ? n / 2 : n;
  auto shapes = [&] { return fmt::format("a {} ({}), b {}, c {} ({})", a.shape(), dtype_of<T>, b.shape(), c.shape(), dtype_of<O>); };
  FUSEKIT_CHECK(b.size(RB - 2) == k, "gemm: inner dimensions differ: {}", shapes());
  FUSEKIT_CHECK(!E::gated || n % 2 == 0, "gemm: a gated epilogue needs an even number of columns in b: {}", shapes());
  FUSEKIT_CHECK(c.size(RC - 2) == m && c.size(RC - 1) == n_out, "gemm: c must be [{}, {}]{}: {}", m, n_out,
                E::gated ? " (half of b's columns, behind the gate)" : "", shapes());
  FUSEKIT_CHECK((RA == 2 || a.size(0) == batch) && (RB == 2 || b.size(0) == batch),
                "gemm: batch extents differ: {}", shapes());
  FUSEKIT_CHECK(!E::gated || opt.beta == 0.f, "gemm: beta must be 0 with a gated epilogue (c has the gate's width)");
  FUSEKIT_CHECK(!E::paired || opt.beta == 0.f, "gemm: beta must be 0 with epi::rope (c is written while it is read)");
  FUSEKIT_CHECK(!overlaps(c, a) && !overlaps(c, b), "gemm: c overlaps a or b: {}", shapes());
  epi.for_each([&](const auto& st, int i) {
    using St = std::remove_cvref_t<decltype(st)>;
    if constexpr (!epi::is_gate<St>) {
      if constexpr (!std::is_void_v<typename St::space>)
        static_assert(std::is_same_v<typename St::space, typename Ctx::space>,
                      "gemm: an epilogue tensor lives in another memory space than the context runs on");
      const bool acc_cols = E::gated && i < E::gate_index;  // before the gate: accumulator columns
      st.check({"gemm", batch, m, acc_cols ? n : n_out, acc_cols ? "accumulator" : "output"});
      FUSEKIT_CHECK(!second_output_overlaps(st, a) && !second_output_overlaps(st, b) && !second_output_overlaps(st, c),
                    "gemm: an epilogue stage's second output overlaps a, b or c: {}", shapes());
    }
  });
  GemmParams<T, O, E> p{gemm_operand(a), gemm_operand(b), gemm_operand(c), batch, m, n, k, n_out,
                        opt.alpha,       opt.beta,        epi};
  if (c.empty()) return;
  if constexpr (std::is_same_v<Run, BackendGemm>) OpImpl<op::Gemm, backend_of<Ctx>>::run(ctx, p, opt);
  else run(p);
}

}  // namespace detail

template <Context Ctx, TensorLike Cv, TensorLike Av, TensorLike Bv, class... S>
void gemm(Ctx& ctx, Cv&& c, const Av& a, const Bv& b, const Epilogue<S...>& epi, const GemmOptions& opt = {}) {
  detail::gemm_impl(ctx, c.view(), a.view().as_const(), b.view().as_const(), epi, opt);
}

template <Context Ctx, TensorLike Cv, TensorLike Av, TensorLike Bv>
void gemm(Ctx& ctx, Cv&& c, const Av& a, const Bv& b, const GemmOptions& opt = {}) {
  detail::gemm_impl(ctx, c.view(), a.view().as_const(), b.view().as_const(), Epilogue<>{}, opt);
}

}  // namespace fusekit
