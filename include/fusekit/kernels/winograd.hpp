#pragma once
// GPU Winograd F(4x4, 3x3) convolution (ConvAlgo::winograd; ops/winograd_f4x4.hpp has the transforms):
// four launches around the GEMM kernels, nothing fused across them.
//   U[p][Cout][Cin] = (G g G^T)[p]          filter transform, in x's dtype (every call)
//   V[p][tiles][Cin] = (B^T d B)[p]          input transform: 6x6 input patches of 4x4 output tiles,
//                                            the NormAct prologue and the zero padding applied on the way
//   M[p] = V[p] U[p]^T                       36 batched GEMMs (any GEMM path), fp32 out (or x's dtype:
//                                            ConvOptions::winograd_fp32_products = false)
//   y = A^T M A, then the conv's epilogue    output transform, per output pixel
// Tiles are 4x4 output pixels of one image (ceil(H / 4) x ceil(W / 4) per image). The intermediates live
// in the stream's workspace slot 1 (the staged prologue's slot: this path applies the prologue itself).
// Memory: V is 2.25x x and M 4.5x y in fp32 (2.25x in 16 bits), so the passes move several times the
// bytes of the implicit GEMM. Measured on H200 for KataGo's 3x3 192 -> 192 conv with its NormAct
// prologue: 2.8-4x slower than the implicit GEMM at batch 1-256 (the prologue, read 2.25 times per
// element in the input transform, is about half of it), so nothing chooses it automatically;
// docs/performance.md has the times and the errors.
#include <cstdint>

#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/conv_params.hpp"
#include "fusekit/ops/winograd_f4x4.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::kernels::winograd {

using fusekit::winograd::positions;
inline constexpr int block = 256;

// Where a tile sits: image n, first output row and column.
struct TileGrid {
  std::uint32_t tiles_w, per_image;  // tiles per image row, per image
  FUSEKIT_DEVICE void locate(index_t t, index_t& n, int& h0, int& w0) const {
    n = t / per_image;
    const auto r = static_cast<std::uint32_t>(t - n * per_image);
    h0 = static_cast<int>(r / tiles_w) * 4;
    w0 = static_cast<int>(r % tiles_w) * 4;
  }
};

// U[p][co][ci], one thread per (co, ci): the weight's 9 taps through G on both sides.
template <class T>
FUSEKIT_GLOBAL void __launch_bounds__(block) filter_transform(GemmOperand<const T> w, bool channel_minor, index_t cout,
                                                               index_t cin, T* u) {
  gpu::wait_for_prior_grid();
  const index_t i = static_cast<index_t>(blockIdx.x) * block + threadIdx.x;
  if (i >= cout * cin) return;
  const index_t co = i / cin, ci = i - co * cin;
  auto g = [&](int ky, int kx) {
    const index_t tap = ky * 3 + kx, k = channel_minor ? tap * cin + ci : ci * 9 + tap;
    return to_float(*w.at(0, k, co));
  };
  float t[3][6];  // t[k] = G (column k of g)
  FUSEKIT_UNROLL
  for (int k = 0; k < 3; ++k) fusekit::winograd::g3<float>({g(0, k), g(1, k), g(2, k)}, t[k]);
  FUSEKIT_UNROLL
  for (int r = 0; r < 6; ++r) {
    float row[6];
    fusekit::winograd::g3<float>({t[0][r], t[1][r], t[2][r]}, row);
    FUSEKIT_UNROLL
    for (int c = 0; c < 6; ++c) u[(r * 6 + c) * cout * cin + i] = convert<T>(row[c]);
  }
}

// V[p][t][c] for one channel pair of one tile per thread (consecutive threads, consecutive channels of a
// pixel: the loads and stores of a warp are contiguous in NHWC).
template <class T, class Pro>
FUSEKIT_GLOBAL void __launch_bounds__(block) input_transform(ConvInput<T, Pro> a, TileGrid grid, index_t tiles, T* v) {
  gpu::wait_for_prior_grid();
  const index_t pairs = (a.s.cin + 1) / 2;
  const index_t i = static_cast<index_t>(blockIdx.x) * block + threadIdx.x;
  if (i >= tiles * pairs) return;
  const index_t t = i / pairs, c0 = 2 * (i - t * pairs);
  index_t n;
  int h0, w0;
  grid.locate(t, n, h0, w0);
  const int lanes = c0 + 1 < a.s.cin ? 2 : 1;
  float d[2][6][6];
  FUSEKIT_UNROLL
  for (int e = 0; e < 2; ++e)
    FUSEKIT_UNROLL
    for (int k = 0; k < 6; ++k)
      FUSEKIT_UNROLL
      for (int l = 0; l < 6; ++l) d[e][k][l] = e < lanes ? a.input(n, c0 + e, h0 - 1 + k, w0 - 1 + l) : 0.f;
  FUSEKIT_UNROLL
  for (int e = 0; e < 2; ++e) {
    if (e >= lanes) break;
    float col[6][6];  // col[l] = B^T (column l of d)
    FUSEKIT_UNROLL
    for (int l = 0; l < 6; ++l)
      fusekit::winograd::bt6<float>({d[e][0][l], d[e][1][l], d[e][2][l], d[e][3][l], d[e][4][l], d[e][5][l]}, col[l]);
    FUSEKIT_UNROLL
    for (int r = 0; r < 6; ++r) {
      float row[6];
      fusekit::winograd::bt6<float>({col[0][r], col[1][r], col[2][r], col[3][r], col[4][r], col[5][r]}, row);
      FUSEKIT_UNROLL
      for (int c = 0; c < 6; ++c) v[((r * 6 + c) * tiles + t) * a.s.cin + c0 + e] = convert<T>(row[c]);
    }
  }
  gpu::allow_dependent_launch();
}

// y = A^T M A per tile and output channel (one thread each), then the conv's epilogue per pixel inside
// the image.
template <class T, class O, class Epi, class Pro, class MT>
FUSEKIT_GLOBAL void __launch_bounds__(block) output_transform(GemmParams<T, O, Epi, ConvInput<T, Pro>> p,
                                                               const MT* m, TileGrid grid, index_t tiles) {
  gpu::wait_for_prior_grid();
  const index_t cout = p.n;
  const index_t i = static_cast<index_t>(blockIdx.x) * block + threadIdx.x;
  if (i >= tiles * cout) return;
  const index_t t = i / cout, co = i - t * cout;
  index_t n;
  int h0, w0;
  grid.locate(t, n, h0, w0);
  float x[6][6];
  FUSEKIT_UNROLL
  for (int r = 0; r < 6; ++r)
    FUSEKIT_UNROLL
    for (int c = 0; c < 6; ++c) x[r][c] = to_float(m[((r * 6 + c) * tiles + t) * cout + co]);
  float col[6][4];  // col[c] = A^T (column c of M)
  FUSEKIT_UNROLL
  for (int c = 0; c < 6; ++c) fusekit::winograd::at6<float>({x[0][c], x[1][c], x[2][c], x[3][c], x[4][c], x[5][c]}, col[c]);
  const auto H = static_cast<int>(p.a.s.h), W = static_cast<int>(p.a.s.w);
  FUSEKIT_UNROLL
  for (int r = 0; r < 4; ++r) {
    float y[4];
    fusekit::winograd::at6<float>({col[0][r], col[1][r], col[2][r], col[3][r], col[4][r], col[5][r]}, y);
    FUSEKIT_UNROLL
    for (int c = 0; c < 4; ++c) {
      if (h0 + r >= H || w0 + c >= W) continue;
      const index_t pix = static_cast<index_t>(h0 + r) * W + w0 + c;
      const float value = p.output([&](index_t) { return y[c]; }, n, pix, co);
      *p.c.at(n, pix, co) = convert<O>(value);
    }
  }
}

}  // namespace fusekit::kernels::winograd
#endif
