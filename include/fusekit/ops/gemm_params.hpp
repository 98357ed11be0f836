#pragma once
// What a GEMM launch needs, shared by the front end (ops/gemm.hpp) and the backends (cpu/gemm.hpp,
// kernels/gemm.hpp):  C[b] = epilogue(alpha * A[b] B[b] + beta * C[b]),  A: [M, K], B: [K, N].
// Operands are strided matrices (any row and column stride, so op(A) = A^T is a permuted view) with a
// batch stride (0 broadcasts one matrix to every batch entry).
#include "fusekit/core/matrix_ref.hpp"
#include "fusekit/ops/gemm_epilogue.hpp"

namespace fusekit {

// Which GPU kernel runs: the policy's choice, the matrix-core kernel (mma: mma.sync atoms, NVIDIA
// sm_80+), the Hopper kernel (wgmma: TMA + warpgroup MMA, NVIDIA sm_90a, GEMM only), or the SIMT kernel
// that runs everywhere (fp32, any strides, AMD until its matrix-core atoms can be run). For M <= 16 the
// weights are streamed: small_m on NVIDIA sm_80+ matrix cores (kernels/gemm_small_m.hpp), skinny with
// fp32 FMAs on any vendor (kernels/gemm_skinny.hpp).
enum class GemmPath { automatic, mma, wgmma, simt, skinny, small_m };

struct GemmOptions {
  float alpha = 1.f;
  float beta = 0.f;  // beta = 0: C is not read (NaN in C does not propagate), as in BLAS
  GemmPath path = GemmPath::automatic;
  int tile = -1;    // GPU tile configuration (kernels::MmaTiles, kernels::WgmmaTiles on the wgmma path,
                    // kernels::SmallMShapes on the small_m path); -1: the policy's choice
  int splits = 0;   // GPU split-K factor for the mma, wgmma and small_m kernels; 0: the policy's choice
};

// An RMSNorm on A's rows inside the product (gemm_rmsnorm): row r of A enters as
// A[r, k] * rsqrt(mean_k A[r, k]^2 + eps) * (weight[k] + weight_offset).
// W = NormWeightFolded: the weight (and offset) are already in B's rows (fold_norm_weight), only the
// rows' rsqrt scale is applied.
struct NormWeightFolded {};
inline constexpr NormWeightFolded norm_weight_folded{};

template <class W>
struct GemmRowNorm {
  const W* weight = nullptr;  // [K], dense (unused for NormWeightFolded)
  float eps = 1e-6f, weight_offset = 0.f;
};

// One strided matrix of a batch: element (b, r, c) at data[b * batch_stride + r * row_stride + c * col_stride].
template <class T>
struct GemmOperand {
  T* data;
  index_t row_stride, col_stride, batch_stride;

  FUSEKIT_HOST_DEVICE T* at(index_t b, index_t r, index_t c) const {
    return data + b * batch_stride + r * row_stride + c * col_stride;
  }
};

// n: accumulator columns (B's columns); n_out: C's columns (n, or n / 2 behind a gate).
// ASrc: where A comes from, a strided matrix or a convolution's implicit im2col (ops/conv_params.hpp).
template <class T, class O, class Epi, class ASrc = GemmOperand<const T>>
struct GemmParams {
  using epilogue_type = Epi;
  using a_source = ASrc;
  using out_type = O;
  ASrc a;                  // [batch, M, K]
  GemmOperand<const T> b;  // [batch, K, N]
  GemmOperand<O> c;        // [batch, M, n_out]
  index_t batch, m, n, k, n_out;
  float alpha, beta;
  Epi epi;

  // Accumulator column of output column j's gate and up values (gated epilogues).
  FUSEKIT_HOST_DEVICE index_t gate_col(index_t j, GateLayout layout) const {
    return layout == GateLayout::interleaved ? 2 * j : j;
  }
  FUSEKIT_HOST_DEVICE index_t up_col(index_t j, GateLayout layout) const {
    return layout == GateLayout::interleaved ? 2 * j + 1 : j + n_out;
  }

  // The value stored at output element (bi, r, j), given acc(col) = the accumulator at column col of
  // row r (a gate or pair stage also reads its other column). Every backend ends in this function, so
  // they agree on the order of operations.
  template <class Acc>
  FUSEKIT_HOST_DEVICE float output(const Acc& acc, index_t bi, index_t r, index_t j) const {
    if constexpr (Epi::gated) {
      const GateLayout layout = epi.gate_layout();
      return gated_output(acc(gate_col(j, layout)), acc(up_col(j, layout)), bi, r, j, layout);
    } else if constexpr (Epi::paired) {  // beta is 0 (ops/gemm.hpp): C is written as it is read
      const float v = epi.pre(alpha * acc(j), {bi, r, j});
      const index_t pc = epi.partner(j);
      if (pc < 0) return epi.post(v, {bi, r, j});
      return epi.post(epi.combine_pair(v, epi.pre(alpha * acc(pc), {bi, r, pc}), {bi, r, j}), {bi, r, j});
    } else {
      return epi.pre(scaled(acc, bi, r, j), {bi, r, j});
    }
  }
  // output() of a gated epilogue from output column j's gate and up accumulators (kernels that load
  // both at once).
  FUSEKIT_HOST_DEVICE float gated_output(float gate_acc, float up_acc, index_t bi, index_t r, index_t j,
                                         GateLayout layout) const {
    const index_t gc = gate_col(j, layout), uc = up_col(j, layout);
    const float g = epi.pre(alpha * gate_acc, {bi, r, gc});
    const float u = epi.pre(alpha * up_acc, {bi, r, uc});
    return epi.post(epi.combine(g, u), {bi, r, j});
  }
  // alpha * acc(j) + beta * C: what the stages of an ungated epilogue without a pair stage start from.
  template <class Acc>
  FUSEKIT_HOST_DEVICE float scaled(const Acc& acc, index_t bi, index_t r, index_t j) const {
    float v = alpha * acc(j);
    if (beta != 0.f) v += beta * to_float(*c.at(bi, r, j));
    return v;
  }

  // Output element (bi, r, j) of an ungated epilogue without a pair stage, with column j's plan
  // (Epilogue::plan): output()'s arithmetic, the column's share computed beforehand.
  template <class Acc>
  FUSEKIT_HOST_DEVICE float output_planned(const Acc& acc, index_t bi, index_t r, index_t j,
                                           const typename Epi::Plan& pl) const {
    static_assert(!Epi::gated && !Epi::paired, "output_planned: for epilogues without a gate or pair stage");
    return epi.pre(scaled(acc, bi, r, j), {bi, r, j}, pl);
  }

  // output_planned's value before the last stage, a side store (Epi::side_last), which passes it on
  // unchanged: the caller stores it, and the side value derived from it.
  template <class Acc>
  FUSEKIT_HOST_DEVICE float output_before_side(const Acc& acc, index_t bi, index_t r, index_t j,
                                               const typename Epi::Plan& pl) const {
    return epi.pre_before_side(scaled(acc, bi, r, j), {bi, r, j}, pl);
  }

  // Output elements (bi, r, j) and (bi, r, j + 1), j even, of a paired epilogue, with both columns'
  // plans: a pair stage turns adjacent columns (2i, 2i + 1), once per pair (one sin/cos), with exactly
  // output()'s arithmetic.
  template <class Acc>
  FUSEKIT_HOST_DEVICE void output_pair_planned(const Acc& acc, index_t bi, index_t r, index_t j,
                                               const typename Epi::Plan& pl0, const typename Epi::Plan& pl1,
                                               float& out0, float& out1) const {
    static_assert(Epi::paired, "output_pair_planned: for epilogues with a pair stage");
    float v = epi.pre(alpha * acc(j), {bi, r, j}, pl0), w = epi.pre(alpha * acc(j + 1), {bi, r, j + 1}, pl1);
    if (epi.turns(pl0)) epi.turn_pair(v, w, {bi, r, j}, pl0);
    out0 = epi.post(v, {bi, r, j}, pl0);
    out1 = epi.post(w, {bi, r, j + 1}, pl1);
  }
  template <class Acc>
  FUSEKIT_HOST_DEVICE void output_pair(const Acc& acc, index_t bi, index_t r, index_t j, float& out0, float& out1) const {
    output_pair_planned(acc, bi, r, j, epi.plan(j), epi.plan(j + 1), out0, out1);
  }
};

}  // namespace fusekit
