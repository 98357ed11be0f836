#pragma once
// GEMM with a LayerNorm prologue on A's rows:
//   gemm_layernorm(ctx, c, a, weight, bias, b, epilogue, norm_opts, gemm_opts[, scratch])
//     C = epilogue(alpha * layernorm(A) B + beta C),
//     layernorm(A)[r, k] = (A[r, k] - mean_r) * rsqrt(var_r + eps) * weight[k] + bias[k]
// SigLIP's pre-norm projections in one call. a: [M, K] or [batch, M, K] with dense rows; weight and bias:
// [K] (the layernorm op's dtypes); the rest as gemm().
//
// Not fused into a GEMM kernel: A is normalised first (the layernorm kernel: statistics once per row in
// fp32, never E[x^2] - mean^2) into `scratch`, the stream's workspace slot 1 or a CPU temporary, then
// multiplied. (SigLIP's calls have 768 rows, where the matrix-core kernels run; the small_m kernel's
// fused form, ops/gemm_rmsnorm.hpp, would need the mean too, and a column sum of W per output column.)
#include "fusekit/ops/gemm_norm_prologue.hpp"
#include "fusekit/ops/layernorm.hpp"

namespace fusekit {

namespace detail {

template <class Ctx, class C, class A, class W, class Bias, class B, class... S>
void gemm_layernorm_impl(Ctx& ctx, const C& c, const A& a, const W& w, const Bias& bias, const B& b,
                         const Epilogue<S...>& epi, const LayerNormOptions& nopt, const GemmOptions& opt,
                         typename A::value_type* scratch = nullptr, index_t scratch_elems = 0) {
  check_prologue_rows("gemm_layernorm", a);
  FUSEKIT_CHECK(nopt.path == KernelPath::automatic && nopt.block == 0,
                "gemm_layernorm: the norm options take eps only (no kernel path or block)");
  normalised_first_gemm("gemm_layernorm", ctx, c, a, b, epi, opt, scratch, scratch_elems,
                        [&](const auto& an, const auto& a_rows) {
                          layernorm(ctx, an, a_rows, w, bias, LayerNormOptions{.eps = nopt.eps});
                        });
}

}  // namespace detail

template <Context Ctx, TensorLike Cv, TensorLike Av, TensorLike Wv, TensorLike BiasV, TensorLike Bv, class... S>
void gemm_layernorm(Ctx& ctx, Cv&& c, const Av& a, const Wv& weight, const BiasV& bias, const Bv& b,
                    const Epilogue<S...>& epi, const LayerNormOptions& norm = {}, const GemmOptions& opt = {}) {
  detail::gemm_layernorm_impl(ctx, c.view(), a.view().as_const(), weight.view().as_const(), bias.view().as_const(),
                              b.view().as_const(), epi, norm, opt);
}

// With caller-owned scratch (dense, a's dtype, room for a's elements) for the normalised A.
template <Context Ctx, TensorLike Cv, TensorLike Av, TensorLike Wv, TensorLike BiasV, TensorLike Bv, class... S,
          TensorLike Sv>
void gemm_layernorm(Ctx& ctx, Cv&& c, const Av& a, const Wv& weight, const BiasV& bias, const Bv& b,
                    const Epilogue<S...>& epi, const LayerNormOptions& norm, const GemmOptions& opt, Sv&& scratch) {
  const auto sv = detail::prologue_scratch<Ctx>("gemm_layernorm", a, scratch);
  detail::gemm_layernorm_impl(ctx, c.view(), a.view().as_const(), weight.view().as_const(), bias.view().as_const(),
                              b.view().as_const(), epi, norm, opt, sv.data(), sv.numel());
}

template <Context Ctx, TensorLike Cv, TensorLike Av, TensorLike Wv, TensorLike BiasV, TensorLike Bv>
void gemm_layernorm(Ctx& ctx, Cv&& c, const Av& a, const Wv& weight, const BiasV& bias, const Bv& b,
                    const LayerNormOptions& norm = {}, const GemmOptions& opt = {}) {
  detail::gemm_layernorm_impl(ctx, c.view(), a.view().as_const(), weight.view().as_const(), bias.view().as_const(),
                              b.view().as_const(), Epilogue<>{}, norm, opt);
}

}  // namespace fusekit
