#pragma once
// GPU NormAct. Three kernels, picked by the host:
//  pixel:   NHWC with C % vec == 0 (KataGo's 384/192/128/96/64/48 channels): each thread moves one or
//           two 16-byte vectors of one pixel, with vector loads of scale and bias and one mask value.
//  flat:    x and out dense in the same order (NCHW or NHWC): each thread moves one 16-byte vector and
//           walks the (n, c, hw) indices of its elements by increments (no divisions per element).
//  strided: anything else: one element per thread, indices unravelled.
// All three are launched dependent (hip::launch_dependent): on sm_90 a kernel is scheduled while the
// previous one finishes and waits for it before its first memory access.
#include <cstdint>

#include "fusekit/backend/hip/fast_divmod.hpp"
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/backend/hip/vec.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/activation_functors.hpp"
#include "fusekit/ops/norm_act_params.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {

using gpu::Vec;

// Each thread moves kN consecutive 16-byte vectors (kN * kVec channels of one pixel; C % (kN * kVec) == 0).
// Every load (x, then scale, bias and the mask value) is issued before the arithmetic, and the pixel and
// image indices come from gpu::FastDivmod: threads live for about one load round trip, so the
// instructions before the loads count (H200, Mish NHWC f16 [256,384,19,19]: see docs/performance.md).
template <class T, class W, int kVec, int kN, bool kMask, class Act>
FUSEKIT_GLOBAL void norm_act_pixel(NormActParams<T, W> p, Act f, std::uint32_t chunks, gpu::FastDivmod chunks_per_pixel,
                                   gpu::FastDivmod hw) {
  gpu::wait_for_prior_grid();  // launched dependent (see run): nothing before this touches memory
  const std::uint32_t q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= chunks) return;
  Vec<T, kVec> x[kN];
  FUSEKIT_UNROLL
  for (int k = 0; k < kN; ++k) x[k] = gpu::load_streaming(reinterpret_cast<const Vec<T, kVec>*>(p.x) + q * kN + k);
  const std::uint32_t pixel = chunks_per_pixel.div(q);
  const std::uint32_t c0 = (q - pixel * chunks_per_pixel.divisor_value()) * kN * kVec;
  Vec<W, kVec> s[kN], b[kN];
  FUSEKIT_UNROLL
  for (int k = 0; k < kN; ++k) {
    s[k] = *reinterpret_cast<const Vec<W, kVec>*>(p.scale + c0 + k * kVec);
    b[k] = *reinterpret_cast<const Vec<W, kVec>*>(p.bias + c0 + k * kVec);
  }
  float m = 1.f;
  if constexpr (kMask) {
    const std::uint32_t n = hw.div(pixel);
    m = to_float(p.mask[n * p.mask_strides[0] + (pixel - n * hw.divisor_value())]);
  }
  FUSEKIT_UNROLL
  for (int k = 0; k < kN; ++k) {
    Vec<T, kVec> y;
    FUSEKIT_UNROLL
    for (int i = 0; i < kVec; ++i) {
      const float v = f(to_float(x[k].v[i]) * to_float(s[k].v[i]) + to_float(b[k].v[i]));
      y.v[i] = convert<T>(kMask ? v * m : v);
    }
    gpu::store_streaming(reinterpret_cast<Vec<T, kVec>*>(p.out) + q * kN + k, y);
  }
}

// NHWC with C % (kN * 16 / sizeof(T)) == 0 and dense aligned scale/bias (the host checks): the pixel kernel.
template <int kN, class T, class W, class Act>
void launch_norm_act_pixel(const hip::Stream& s, const NormActParams<T, W>& p, const Act& f) {
  constexpr int vec = 16 / sizeof(T), block = 256;
  const auto chunks = static_cast<std::uint32_t>(p.shape[0] * p.shape[1] * p.shape[2] * p.shape[3] / (vec * kN));
  if (chunks == 0) return;  // (an empty board or batch: FastDivmod takes no zero divisor)
  const gpu::FastDivmod per_pixel(static_cast<std::uint32_t>(p.shape[1] / (vec * kN)));
  const gpu::FastDivmod hw(static_cast<std::uint32_t>(p.shape[2] * p.shape[3]));
  const dim3 grid((chunks + block - 1) / block);
  if (p.mask) hip::launch_dependent("norm_act(pixel)", norm_act_pixel<T, W, vec, kN, true, Act>, grid, dim3(block), 0, s, p, f,
                          chunks, per_pixel, hw);
  else hip::launch_dependent("norm_act(pixel)", norm_act_pixel<T, W, vec, kN, false, Act>, grid, dim3(block), 0, s, p, f, chunks,
                   per_pixel, hw);
}

// Memory order: index = (n * mid + j) * inner + i with (mid, inner) = (C, HW) for NCHW, (HW, C) for NHWC.
template <class T, class W, int kVec, bool kNhwc, bool kMask, class Act>
FUSEKIT_GLOBAL void norm_act_flat(NormActParams<T, W> p, Act f, std::uint32_t chunks, gpu::FastDivmod inner_div,
                              gpu::FastDivmod mid_div) {
  gpu::wait_for_prior_grid();
  const std::uint32_t q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= chunks) return;
  const auto x = gpu::load_streaming(reinterpret_cast<const Vec<T, kVec>*>(p.x) + q);
  const std::uint32_t inner = inner_div.divisor_value(), mid = mid_div.divisor_value();
  const std::uint32_t first = q * kVec;
  const std::uint32_t a = inner_div.div(first);
  std::uint32_t i = first - a * inner, n = mid_div.div(a), j = a - n * mid;
  Vec<T, kVec> y;
  FUSEKIT_UNROLL
  for (int e = 0; e < kVec; ++e) {
    const std::uint32_t c = kNhwc ? i : j;
    const std::uint32_t k = kNhwc ? j : i;  // the cell (h * W + w)
    float v = f(to_float(x.v[e]) * to_float(p.scale[c * p.scale_stride]) + to_float(p.bias[c * p.bias_stride]));
    if constexpr (kMask) v *= to_float(p.mask[n * p.mask_strides[0] + k]);
    y.v[e] = convert<T>(v);
    if (++i == inner) {
      i = 0;
      if (++j == mid) {
        j = 0;
        ++n;
      }
    }
  }
  gpu::store_streaming(reinterpret_cast<Vec<T, kVec>*>(p.out) + q, y);
}

template <class T, class W, class Act>
FUSEKIT_GLOBAL void norm_act_strided(NormActParams<T, W> p, Act f, index_t total) {
  gpu::wait_for_prior_grid();
  const index_t step = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t e = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += step) {
    const index_t w = e % p.shape[3], h = e / p.shape[3] % p.shape[2];
    const index_t c = e / (p.shape[3] * p.shape[2]) % p.shape[1], n = e / (p.shape[3] * p.shape[2] * p.shape[1]);
    const auto& xs = p.x_strides;
    const auto& os = p.out_strides;
    float v = f(to_float(p.x[n * xs[0] + c * xs[1] + h * xs[2] + w * xs[3]]) * to_float(p.scale[c * p.scale_stride]) +
                to_float(p.bias[c * p.bias_stride]));
    if (p.mask) v *= to_float(p.mask[n * p.mask_strides[0] + h * p.mask_strides[2] + w * p.mask_strides[3]]);
    p.out[n * os[0] + c * os[1] + h * os[2] + w * os[3]] = convert<T>(v);
  }
}

}  // namespace kernels

template <>
struct OpImpl<op::NormAct, HipBackend> {
  template <class T, class W, class Act>
  static void run(const hip::Stream& s, const NormActParams<T, W>& p, const Act& f) {
    constexpr int vec = 16 / sizeof(T);
    constexpr int block = 256;
    const index_t N = p.shape[0], C = p.shape[1], H = p.shape[2], Wd = p.shape[3];
    const index_t total = N * C * H * Wd;
    const Strides<4> nchw = image_strides(p.shape, Layout::nchw), nhwc = image_strides(p.shape, Layout::nhwc);
    const bool is_nhwc = p.x_strides == nhwc && p.out_strides == nhwc;
    const bool is_nchw = p.x_strides == nchw && p.out_strides == nchw;
    // the mask's (h, w) plane dense, so that cell k = h * W + w indexes it
    const bool mask_plane = !p.mask || (p.mask_strides[3] == 1 && p.mask_strides[2] == Wd);
    const bool vectors = total % vec == 0 && total < (index_t{1} << 31) && aligned(p.x) && aligned(p.out);
    const auto hw = static_cast<std::uint32_t>(H * Wd);
    if ((is_nhwc || is_nchw) && mask_plane && vectors) {
      const auto chunks = static_cast<std::uint32_t>(total / vec);
      const dim3 grid((chunks + block - 1) / block);
      const bool params = p.scale_stride == 1 && p.bias_stride == 1 && aligned_to<W>(p.scale, vec) &&
                          aligned_to<W>(p.bias, vec);
      // Two vectors (16 channels of f16) per thread for arithmetic-heavy activations, one otherwise: on
      // H200, Mish NHWC f16 reaches 83% of copy bandwidth with two and 77% with one; ReLU 95% with one.
      if (is_nhwc && C % (2 * vec) == 0 && params && act::arithmetic_heavy<Act>()) {
        kernels::launch_norm_act_pixel<2>(s, p, f);
      } else if (is_nhwc && C % vec == 0 && params) {
        kernels::launch_norm_act_pixel<1>(s, p, f);
      } else if (is_nhwc) {
        flat<true>(s, p, f, grid, chunks, hw);
      } else {
        flat<false>(s, p, f, grid, chunks, hw);
      }
      return;
    }
    hip::launch_dependent("norm_act(strided)", kernels::norm_act_strided<T, W, Act>, dim3(hip::grid_for(total, block, s.device())),
                dim3(block), 0, s, p, f, total);
  }

 private:
  template <bool kNhwc, class T, class W, class Act>
  static void flat(const hip::Stream& s, const NormActParams<T, W>& p, const Act& f, dim3 grid, std::uint32_t chunks,
                   std::uint32_t hw) {
    constexpr int vec = 16 / sizeof(T);
    if (chunks == 0) return;  // (FastDivmod takes no zero divisor)
    const auto C = static_cast<std::uint32_t>(p.shape[1]);
    const gpu::FastDivmod inner(kNhwc ? C : hw), mid(kNhwc ? hw : C);
    if (p.mask) hip::launch_dependent("norm_act(flat)", kernels::norm_act_flat<T, W, vec, kNhwc, true, Act>, grid, dim3(256), 0, s,
                            p, f, chunks, inner, mid);
    else hip::launch_dependent("norm_act(flat)", kernels::norm_act_flat<T, W, vec, kNhwc, false, Act>, grid, dim3(256), 0, s, p,
                     f, chunks, inner, mid);
  }
  template <class U>
  static bool aligned_to(const U* q, int vec) {
    return reinterpret_cast<std::uintptr_t>(q) % (sizeof(U) * vec) == 0;
  }
  template <class U>
  static bool aligned(const U* q) {
    return reinterpret_cast<std::uintptr_t>(q) % 16 == 0;
  }
};

}  // namespace fusekit
#endif
