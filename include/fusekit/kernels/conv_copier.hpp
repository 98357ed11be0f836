#pragma once
// The A-tile copier of the mma GEMM kernel for a convolution (implicit GEMM, no im2col buffer): the
// 16-byte chunk at (output pixel m, k) of a k-tile is 8 consecutive input channels of one input pixel,
// which cp.async fetches straight from the NHWC input (zero-filled outside the image). Needs
// channel-minor k (OHWI weights), NHWC input (channel stride 1) and Cin % 8 == 0.
//
// When Cin % BK == 0 a k-tile lies in one filter tap: the tap's offset is computed once per k-tile and
// each chunk adds it to its own pixel's pointer (no per-chunk division; the kernel is issue-bound).
//
// transform(): the input prologue (NormAct), applied by each thread to its own chunks once they have
// landed in shared memory (cp.async completion is per thread), before the barrier that publishes the
// stage. Zero padding is left untouched.
#include "fusekit/backend/hip/async_copy.hpp"
#include "fusekit/backend/hip/vec.hpp"
#include "fusekit/ops/conv_params.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::kernels {

template <class T, int kChunks, int kBK, class Pro>
struct ConvChunkCopier {
  static constexpr int kVec = 16 / static_cast<int>(sizeof(T));
  ConvInput<T, Pro> in;
  bool uniform_tap;     // Cin % kBK == 0
  index_t image;        // batch entry
  const T* pixel[kChunks];  // the chunk's output pixel in x, at channel k_at (uniform_tap path)
  int h[kChunks], w[kChunks];  // output pixel of the chunk's row; h = -1: past the matrix
  int dst[kChunks];     // element offset in the stage's tile; -1: no chunk for this thread
  int k_at[kChunks];    // the chunk's k within a k-tile

  FUSEKIT_DEVICE void init(int i, const ConvInput<T, Pro>& a, index_t b, index_t m, int d, int k) {
    in = a;
    image = b;
    const int pixel = static_cast<int>(m), width = static_cast<int>(a.s.w);  // 32-bit: 64-bit division
    h[i] = m >= 0 ? pixel / width : -1;                                     // costs ~10x more
    w[i] = m >= 0 ? pixel % width : 0;
    dst[i] = d;
    k_at[i] = k;
    uniform_tap = a.s.cin % kBK == 0;
    this->pixel[i] = m >= 0 ? a.x + b * a.xs[0] + h[i] * a.xs[2] + w[i] * a.xs[3] + k : a.x;
  }

  // Input pixel and channel of chunk i at k-tile k0, or false where it reads zeros.
  FUSEKIT_DEVICE bool locate(int i, index_t k0, index_t k, int& ih, int& iw, int& ci) const {
    const int kk = static_cast<int>(k0) + k_at[i];  // K = K^2 Cin < 2^31
    if (h[i] < 0 || kk >= k) return false;
    const int cin = static_cast<int>(in.s.cin);
    const int tap = kk / cin;
    ci = kk - tap * cin;
    const int pad = static_cast<int>(in.s.pad()), kw = static_cast<int>(in.s.kw);
    ih = h[i] + tap / kw - pad;
    iw = w[i] + tap % kw - pad;
    return ih >= 0 && ih < static_cast<int>(in.s.h) && iw >= 0 && iw < static_cast<int>(in.s.w);
  }

  FUSEKIT_DEVICE const T* source(int ih, int iw, int ci) const {
    return in.x + image * in.xs[0] + ih * in.xs[2] + iw * in.xs[3] + ci;
  }

  FUSEKIT_DEVICE void copy(T* tile, index_t k0, index_t k) const {
    if (uniform_tap) {
      const int kk0 = static_cast<int>(k0), cin = static_cast<int>(in.s.cin), kw = static_cast<int>(in.s.kw);
      const int pad = static_cast<int>(in.s.pad()), tap = kk0 / cin;
      const int dy = tap / kw - pad, dx = tap % kw - pad;
      const index_t off = dy * in.xs[2] + dx * in.xs[3] + (kk0 - tap * cin);
      const bool k_ok = kk0 < k;
      FUSEKIT_UNROLL
      for (int i = 0; i < kChunks; ++i) {
        if (dst[i] < 0) continue;
        const int ih = h[i] + dy, iw = w[i] + dx;
        const bool ok = k_ok && h[i] >= 0 && ih >= 0 && ih < static_cast<int>(in.s.h) && iw >= 0 &&
                        iw < static_cast<int>(in.s.w);
        gpu::copy_async16(tile + dst[i], ok ? pixel[i] + off : in.x, ok);
      }
      return;
    }
    FUSEKIT_UNROLL
    for (int i = 0; i < kChunks; ++i) {
      if (dst[i] < 0) continue;
      int ih = 0, iw = 0, ci = 0;
      const bool ok = locate(i, k0, k, ih, iw, ci);
      gpu::copy_async16(tile + dst[i], ok ? source(ih, iw, ci) : in.x, ok);
    }
  }

  FUSEKIT_DEVICE void transform(T* tile, index_t k0, index_t k) const
    requires(Pro::active)
  {
    FUSEKIT_UNROLL
    for (int i = 0; i < kChunks; ++i) {
      if (dst[i] < 0) continue;
      int ih = 0, iw = 0, ci = 0;
      if (!locate(i, k0, k, ih, iw, ci)) continue;  // zero padding stays zero
      using V = gpu::Vec<T, kVec>;
      V v = *reinterpret_cast<const V*>(tile + dst[i]);
      FUSEKIT_UNROLL
      for (int e = 0; e < kVec; ++e) v.v[e] = convert<T>(in.pro(to_float(v.v[e]), image, ci + e, ih, iw));
      *reinterpret_cast<V*>(tile + dst[i]) = v;
    }
  }
};

}  // namespace fusekit::kernels
#endif
