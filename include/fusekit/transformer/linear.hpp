#pragma once
// A Linear layer y = x W^T (+ b) with W kept in HuggingFace's [out, in] layout (the GEMM reads it as
// B = W^T: K-contiguous, the layout its matrix-core kernels load best), and the loaders that fuse several
// HF layers into one GEMM by stacking their rows: Q|K|V, gate|up.
// Whether a layer has a bias is part of its type, so that each GEMM call site instantiates one epilogue.
#include <string>
#include <vector>

#include "fusekit/ops/gemm.hpp"
#include "fusekit/ops/gemm_layernorm.hpp"
#include "fusekit/ops/gemm_rmsnorm.hpp"
#include "fusekit/transformer/weight_source.hpp"

namespace fusekit::transformer {

template <class T, class Space, bool kBias = false>
struct Linear {
  static constexpr bool has_bias = kBias;
  Tensor<T, 2, Space> w;      // [out, in]
  Tensor<float, 1, Space> b;  // [out] fp32 (kBias only)

  index_t in() const { return w.size(1); }
  index_t out() const { return w.size(0); }
  auto B() const { return transposed(w.view()); }
};

// Rows of a stacked projection whose heads turn under RoPE in the half-split (rotate_half) layout:
// [begin, end), heads of head_dim rows. Loaded into the interleaved order that epi::rope turns
// (rope_interleave_row, ops/gemm_epilogue_rope.hpp).
struct RopeRows {
  index_t begin = 0, end = 0, head_dim = 0;
};

// A norm whose weight is folded into the Linear that follows it (fold_norm_weight): W[:, k] *= w[k] + offset.
struct FoldedNorm {
  const HostTensor<float, 1>* weight = nullptr;  // nullptr: none
  float offset = 0.f;
};

// HF layers `names[i]` (".weight" / ".bias" appended) of shapes [outs[i], in], stacked by rows.
template <class T, bool kBias, class Ctx>
Linear<T, typename Ctx::space, kBias> load_linear(Ctx& ctx, const WeightSource& src, const std::vector<std::string>& names,
                                                  index_t in, const std::vector<index_t>& outs, const RopeRows& rope = {},
                                                  const FoldedNorm& norm = {}) {
  index_t total = 0;
  for (index_t o : outs) total += o;
  HostTensor<float, 2> w(Shape<2>{total, in});
  HostTensor<float, 1> b(Shape<1>{kBias ? total : 0});
  index_t row = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto wi = src.tensor(names[i] + ".weight", Shape<2>{outs[i], in}, Init::fan_in);
    std::copy(wi.data(), wi.data() + wi.numel(), w.data() + row * in);
    if constexpr (kBias) {
      const auto bi = src.tensor(names[i] + ".bias", Shape<1>{outs[i]}, Init::small);
      std::copy(bi.data(), bi.data() + bi.numel(), b.data() + row);
    }
    row += outs[i];
  }
  if (rope.end > rope.begin) {
    FUSEKIT_CHECK(rope.begin >= 0 && rope.end <= total && (rope.end - rope.begin) % rope.head_dim == 0,
                  "load_linear: RoPE rows [{}, {}) must be whole heads of {} inside {} rows", rope.begin, rope.end,
                  rope.head_dim, total);
    const HostTensor<float, 2> orig = w.clone();
    const HostTensor<float, 1> orig_b = b.clone();
    for (index_t i = 0; i < rope.end - rope.begin; ++i) {
      const index_t from = rope.begin + rope_interleave_row(i, rope.head_dim);
      std::copy(orig.data() + from * in, orig.data() + (from + 1) * in, w.data() + (rope.begin + i) * in);
      if constexpr (kBias) b(rope.begin + i) = orig_b(from);
    }
  }
  if (norm.weight) fold_norm_weight(w.view(), norm.weight->view(), norm.offset);  // in fp32, one rounding to T below
  Linear<T, typename Ctx::space, kBias> l;
  l.w = place<T>(ctx, w);
  if constexpr (kBias) l.b = place<float>(ctx, b);
  return l;
}

template <class T, bool kBias, class Ctx>
Linear<T, typename Ctx::space, kBias> load_linear(Ctx& ctx, const WeightSource& src, const std::string& name, index_t in,
                                                  index_t out) {
  return load_linear<T, kBias>(ctx, src, std::vector<std::string>{name}, in, std::vector<index_t>{out});
}

// y = x W^T (+ b), then the extra epilogue stages (activation, gate, residual, ...).
template <Context Ctx, TensorLike Y, TensorLike X, class T, class S, bool kBias, class... Stages>
void linear(Ctx& ctx, Y&& y, const X& x, const Linear<T, S, kBias>& l, const Stages&... stages) {
  if constexpr (kBias) gemm(ctx, y, x, l.B(), make_epilogue(epi::bias(l.b), stages...));
  else gemm(ctx, y, x, l.B(), make_epilogue(stages...));
}

// y = rmsnorm(x) W^T (+ b), then the stages: a pre-norm projection in one call (ops/gemm_rmsnorm.hpp;
// one kernel at decode sizes; elsewhere the norm is a pass of its own into `scratch`).
template <Context Ctx, TensorLike Y, TensorLike X, NormWeightArg NW, TensorLike Scratch, class T, class S, bool kBias,
          class... Stages>
void linear_rmsnorm(Ctx& ctx, Y&& y, const X& x, const NW& norm_weight, const RmsNormOptions& norm, Scratch&& scratch,
                    const Linear<T, S, kBias>& l, const Stages&... stages) {
  if constexpr (kBias)
    gemm_rmsnorm(ctx, y, x, norm_weight, l.B(), make_epilogue(epi::bias(l.b), stages...), norm, {}, scratch);
  else gemm_rmsnorm(ctx, y, x, norm_weight, l.B(), make_epilogue(stages...), norm, {}, scratch);
}

// y = layernorm(x) W^T (+ b), then the stages (ops/gemm_layernorm.hpp: the norm into `scratch`, then the GEMM).
template <Context Ctx, TensorLike Y, TensorLike X, TensorLike NW, TensorLike NB, TensorLike Scratch, class T, class S,
          bool kBias, class... Stages>
void linear_layernorm(Ctx& ctx, Y&& y, const X& x, const NW& norm_weight, const NB& norm_bias,
                      const LayerNormOptions& norm, Scratch&& scratch, const Linear<T, S, kBias>& l,
                      const Stages&... stages) {
  if constexpr (kBias)
    gemm_layernorm(ctx, y, x, norm_weight, norm_bias, l.B(), make_epilogue(epi::bias(l.b), stages...), norm, {}, scratch);
  else gemm_layernorm(ctx, y, x, norm_weight, norm_bias, l.B(), make_epilogue(stages...), norm, {}, scratch);
}

}  // namespace fusekit::transformer
