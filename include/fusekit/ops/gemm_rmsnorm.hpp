#pragma once
// GEMM with an RMSNorm prologue on A's rows:
//   gemm_rmsnorm(ctx, c, a, weight, b, epilogue, norm_opts, gemm_opts)
//     C = epilogue(alpha * rmsnorm(A) B + beta C),  rmsnorm(A)[r, k] = A[r, k] * rsqrt(mean_k A[r, k]^2 + eps)
//                                                                      * (weight[k] (+ 1 with unit_offset))
// The pre-norm projections of a transformer layer (Gemma's input and post-attention norms) in one call.
// a: [M, K] or [batch, M, K] with dense rows; weight: [K] of a's dtype or f32; the rest as gemm().
//
// Where it runs: on NVIDIA sm_80+ with f16/bf16 and M <= 16 (decode steps) inside the small_m kernel:
// each block gathers the rows' sums of squares from the x it loads, scales x by the weight in registers
// and the accumulators by the rows' rsqrt (one launch, x read once per block, nothing written between).
// Everywhere else A is normalised into the stream's workspace by the rmsnorm kernel (the CPU: into a
// temporary), then multiplied: the same result to within one rounding of the normalised A (the fused
// path rounds x * weight instead of x * rsqrt * weight to the storage dtype).
//
// weight = norm_weight_folded: the weight (and offset) were folded into B's rows at load time
// (fold_norm_weight), so the fused kernel only gathers the rows' statistics and scales the accumulators:
// nothing extra in its inner loop. The fused form with a weight scales x in registers and measured
// slower than two launches on H200 (docs/performance.md); transformer layers fold.
#include "fusekit/ops/gemm_norm_prologue.hpp"
#include "fusekit/ops/rmsnorm.hpp"

namespace fusekit {

// The norm's weight argument: a [K] tensor, or norm_weight_folded (the weight is in B's rows already).
template <class W>
concept NormWeightArg = TensorLike<W> || std::is_same_v<std::remove_cvref_t<W>, NormWeightFolded>;

namespace detail {

template <class W>
auto norm_weight_view(const W& w) {
  if constexpr (std::is_same_v<W, NormWeightFolded>) return w;
  else return w.view().as_const();
}

// scratch: memory for the normalised A where the prologue is not fused (nullptr: the stream's workspace
// slot 1 on the GPU, a temporary on the CPU), with room for `scratch_elems` elements.
template <class Ctx, class C, class A, class W, class B, class... S>
void gemm_rmsnorm_impl(Ctx& ctx, const C& c, const A& a, const W& w, const B& b, const Epilogue<S...>& epi,
                       const RmsNormOptions& nopt, const GemmOptions& opt, typename A::value_type* scratch = nullptr,
                       index_t scratch_elems = 0) {
  using T = typename A::value_type;
  constexpr std::size_t RA = A::rank;
  constexpr bool folded = std::is_same_v<W, NormWeightFolded>;
  const index_t k = a.size(RA - 1);
  if constexpr (folded) {
    FUSEKIT_CHECK(!nopt.unit_offset, "gemm_rmsnorm: with the weight folded into b, fold its unit offset too "
                                     "(fold_norm_weight) and leave unit_offset false");
  } else {
    static_assert(W::rank == 1 && (std::is_same_v<typename W::value_type, T> || std::is_same_v<typename W::value_type, float>),
                  "gemm_rmsnorm: the norm weight must be a rank-1 [K] tensor of a's dtype or f32");
    require_space<Ctx, W>();
    FUSEKIT_CHECK(w.size(0) == k && w.stride(0) == 1, "gemm_rmsnorm: the norm weight must be a dense [{}] (a is {}), got {}",
                  k, a.shape(), w.shape());
  }
  using NW = typename std::conditional_t<folded, std::type_identity<NormWeightFolded>, norm_weight_type<W, T>>::type;
  check_prologue_rows("gemm_rmsnorm", a);
  FUSEKIT_CHECK(nopt.eps >= 0.f, "gemm_rmsnorm: eps must be >= 0 (got {})", nopt.eps);
  FUSEKIT_CHECK(nopt.path == KernelPath::automatic && nopt.block == 0,
                "gemm_rmsnorm: the norm options take eps and unit_offset only (no kernel path or block)");
#if FUSEKIT_GPUCC
  if constexpr (std::is_same_v<backend_of<Ctx>, HipBackend>) {
    bool fused = false;  // the shape and epilogue checks run here, once, for both ways
    gemm_impl(ctx, c, a, b, epi, opt, [&](const auto& p) {
      GemmRowNorm<NW> norm{nullptr, nopt.eps, nopt.unit_offset ? 1.f : 0.f};
      if constexpr (!folded) norm.weight = w.data();
      fused = OpImpl<op::Gemm, HipBackend>::run_row_norm(ctx, p, opt, norm);
    });
    if (fused || c.empty()) return;
  }
#endif
  normalised_first_gemm("gemm_rmsnorm", ctx, c, a, b, epi, opt, scratch, scratch_elems, [&](const auto& an, const auto& a_rows) {
    if constexpr (folded) rmsnorm(ctx, an, a_rows, RmsNormOptions{.eps = nopt.eps});
    else rmsnorm(ctx, an, a_rows, w, RmsNormOptions{.eps = nopt.eps, .unit_offset = nopt.unit_offset});
  });
}

}  // namespace detail

template <Context Ctx, TensorLike Cv, TensorLike Av, NormWeightArg Wv, TensorLike Bv, class... S>
void gemm_rmsnorm(Ctx& ctx, Cv&& c, const Av& a, const Wv& weight, const Bv& b, const Epilogue<S...>& epi,
                  const RmsNormOptions& norm = {}, const GemmOptions& opt = {}) {
  detail::gemm_rmsnorm_impl(ctx, c.view(), a.view().as_const(), detail::norm_weight_view(weight), b.view().as_const(),
                            epi, norm, opt);
}

// With caller-owned scratch (a dense tensor of a's dtype with room for a's elements) for the normalised
// A where the prologue is not fused: no workspace growth or temporary (a transformer step that is
// captured once allocates nothing).
template <Context Ctx, TensorLike Cv, TensorLike Av, NormWeightArg Wv, TensorLike Bv, class... S, TensorLike Sv>
void gemm_rmsnorm(Ctx& ctx, Cv&& c, const Av& a, const Wv& weight, const Bv& b, const Epilogue<S...>& epi,
                  const RmsNormOptions& norm, const GemmOptions& opt, Sv&& scratch) {
  const auto sv = detail::prologue_scratch<Ctx>("gemm_rmsnorm", a, scratch);
  detail::gemm_rmsnorm_impl(ctx, c.view(), a.view().as_const(), detail::norm_weight_view(weight), b.view().as_const(),
                            epi, norm, opt, sv.data(), sv.numel());
}

template <Context Ctx, TensorLike Cv, TensorLike Av, NormWeightArg Wv, TensorLike Bv>
void gemm_rmsnorm(Ctx& ctx, Cv&& c, const Av& a, const Wv& weight, const Bv& b, const RmsNormOptions& norm = {},
                  const GemmOptions& opt = {}) {
  detail::gemm_rmsnorm_impl(ctx, c.view(), a.view().as_const(), detail::norm_weight_view(weight), b.view().as_const(),
                            Epilogue<>{}, norm, opt);
}

// B's rows scaled by a norm's weight (+ offset): W'[n, k] = W[n, k] * (weight[k] + offset) for a Linear
// weight W [N, K] on the host, so that gemm_rmsnorm(.., norm_weight_folded, transposed(W'), ..) equals
// gemm_rmsnorm(.., weight, transposed(W), ..) with that offset. In place; fp32.
inline void fold_norm_weight(HostView<float, 2> w, HostView<const float, 1> weight, float offset) {
  FUSEKIT_CHECK(weight.size(0) == w.size(1), "fold_norm_weight: the norm weight has shape {} but W has {} columns",
                weight.shape(), w.size(1));
  for (index_t n = 0; n < w.size(0); ++n)
    for (index_t k = 0; k < w.size(1); ++k) w(n, k) *= weight(k) + offset;
}

}  // namespace fusekit
