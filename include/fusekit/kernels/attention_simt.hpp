#pragma once
// The portable attention kernel: fp32 math on CUDA cores / AMD SIMDs, any dtype, head dims up to 256,
// any warp size (lanes cooperate in groups of 8, a divisor of 32 and 64). AMD GPUs run it today (no
// matrix-core attention for MFMA/WMMA yet); NVIDIA runs it for f32 and for inputs the matrix-core
// kernel cannot take. A block owns 16 packed query rows and walks the keys 8 at a time with an online
// softmax; thread (row r, lane j of 8) scores key j for row r and accumulates columns j, j + 8, ... of
// row r's output.
#include <limits>

#include "fusekit/backend/hip/block_reduce.hpp"
#include "fusekit/backend/hip/vendor.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/attention_params.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::kernels {

inline constexpr int attn_simt_rows = 16, attn_simt_keys = 8, attn_simt_threads = 128, attn_simt_max_dim = 256;

template <class T>
FUSEKIT_GLOBAL void __launch_bounds__(attn_simt_threads) attention_simt(const AttentionParams<T> p) {
  gpu::wait_for_prior_grid();  // launched dependent: nothing before this touches memory
  constexpr int R = attn_simt_rows, N = attn_simt_keys, DM = attn_simt_max_dim, kCols = DM / N;
  constexpr float inf = std::numeric_limits<float>::infinity();
  __shared__ float qs[R][DM + 1];  // +1: threads of one row read 8 different K rows without conflicts
  __shared__ float ks[N][DM + 1];
  __shared__ float vs[N][DM];
  __shared__ float ps[R][N];
  const int tid = threadIdx.x, r = tid / N, j = tid % N;
  const index_t hk = blockIdx.y % p.kv_heads, b = blockIdx.y / p.kv_heads, G = p.group(), D = p.head_dim;
  const index_t qn = p.q_count(b), kn = p.k_count(b), rows = qn * G, row0 = static_cast<index_t>(blockIdx.x) * R;
  if (row0 >= rows) return;
  const float scale_log2 = p.scale * 1.4426950408889634f;
  auto q_row = [&](index_t pr) { return p.q.at(b, p.q_begin(b) + pr / G, hk * G + pr % G); };
  for (int i = tid; i < R * D; i += attn_simt_threads) {
    const index_t pr = row0 + i / D;
    qs[i / D][i % D] = pr < rows ? to_float(q_row(pr)[i % D]) * scale_log2 : 0.f;
  }
  const index_t my_row = row0 + r;
  const index_t end = my_row < rows ? p.row_end(b, my_row / G, qn, kn) : 0;
  __shared__ int block_end;
  if (tid == 0) block_end = 0;
  __syncthreads();
  atomicMax(&block_end, static_cast<int>(end));
  float o[kCols];
  FUSEKIT_UNROLL
  for (int c = 0; c < kCols; ++c) o[c] = 0.f;
  float m = -inf, l = 0.f;
  __syncthreads();
  const index_t stop = block_end;
  for (index_t j0 = 0; j0 < stop; j0 += N) {
    __syncthreads();  // the previous tile's K, V and P are consumed
    for (int i = tid; i < N * D; i += attn_simt_threads) {
      const index_t key = j0 + i / D;
      const bool ok = key < kn;
      ks[i / D][i % D] = ok ? to_float(p.k.at(b, p.k_begin(b) + key, hk)[i % D]) : 0.f;
      vs[i / D][i % D] = ok ? to_float(p.v.at(b, p.k_begin(b) + key, hk)[i % D]) : 0.f;
    }
    __syncthreads();
    float s = -inf;
    if (j0 + j < end) {
      s = 0.f;
      for (index_t d = 0; d < D; ++d) s += qs[r][d] * ks[j][d];
    }
    float mx = gpu::gpu_max_float{}(m, s);
    FUSEKIT_UNROLL
    for (int w = 1; w < N; w *= 2) mx = gpu::gpu_max_float{}(mx, gpu::shfl_xor(mx, w));
    const float base = mx == -inf ? 0.f : mx;  // nothing visible yet: every exp2 below is 0
    const float alpha = exp2f(m - base), pj = exp2f(s - base);
    float sum = pj;
    FUSEKIT_UNROLL
    for (int w = 1; w < N; w *= 2) sum += gpu::shfl_xor(sum, w);
    l = l * alpha + sum;
    m = mx;
    ps[r][j] = pj;
    __syncthreads();
    FUSEKIT_UNROLL
    for (int c = 0; c < kCols; ++c) {
      const index_t col = j + c * N;
      if (col < D) {
        float acc = o[c] * alpha;
        FUSEKIT_UNROLL
        for (int jj = 0; jj < N; ++jj) acc += ps[r][jj] * vs[jj][col];
        o[c] = acc;
      }
    }
  }
  if (my_row >= rows) return;
  const float inv = l != 0.f ? 1.f / l : 0.f;  // fully masked row: 0; a NaN sum stays NaN
  T* dst = p.out.at(b, p.q_begin(b) + my_row / G, hk * G + my_row % G);
  FUSEKIT_UNROLL
  for (int c = 0; c < kCols; ++c)
    if (j + c * N < D) dst[j + c * N] = convert<T>(o[c] * inv);
}

}  // namespace fusekit::kernels
#endif
