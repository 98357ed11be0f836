#pragma once
// What a 2-D convolution launch needs, shared by the front end (ops/conv.hpp) and the backends
// (cpu/conv.hpp, kernels/conv.hpp). A convolution is a batched implicit GEMM:
//   batch = N images, row m = output pixel h * W + w, column = output channel, and
//   k = (ky * KW + kx) * Cin + ci     (channel_minor: the weight is stored OHWI, the NHWC order)
//   k = ci * KH * KW + ky * KW + kx   (tap_minor: the weight is stored OIHW, PyTorch's order)
// so that B = weight viewed as [K, Cout] always has dense k. A is never materialised: ConvInput
// computes A[b, m, k] from x, zero outside the image, after the input prologue.
#include "fusekit/core/convert.hpp"
#include "fusekit/core/shape.hpp"
#include "fusekit/ops/gemm_params.hpp"
#include "fusekit/ops/norm_act_params.hpp"

namespace fusekit {

// Which algorithm runs. automatic: the backend's policy (docs/architecture.md).
//   implicit_gemm  CPU: im2col blocks + Eigen GEMM; GPU: the GEMM kernels with an im2col A loader
//   winograd       F(4x4, 3x3) for 3x3 kernels: the CPU's choice for 3x3; on the GPU only when forced
//                  (kernels/winograd.hpp: 2.8-4x slower than implicit GEMM on H200, docs/performance.md)
enum class ConvAlgo { automatic, implicit_gemm, winograd };

// Where the GPU applies an input prologue (the CPU always stages it while packing its input).
//   staged     one NormAct pass into a dense NHWC copy in the stream's workspace, then the plain
//              convolution: every input element is activated once (automatic's choice)
//   in_loader  while the kernel loads A: K^2 activations per element for K x K kernels, and on the
//              wgmma path the producer warpgroup's per-element math starves the tensor cores
enum class ConvPrologue { automatic, staged, in_loader };

struct ConvOptions {
  ConvAlgo algo = ConvAlgo::automatic;
  GemmPath path = GemmPath::automatic;  // GPU kernel (wgmma, mma or simt), as for gemm
  int tile = -1;                        // GPU tile (kernels::MmaTiles, or WgmmaConvTiles on the wgmma path)
  ConvPrologue prologue = ConvPrologue::automatic;
  int splits = 0;           // GPU split-K factor (wgmma and mma paths); 0: the policy's choice
  bool tma_im2col = true;   // wgmma path: A by TMA im2col where it applies (Cin % 64 == 0, no prologue in
                            // the loader); false: gathered by the producer warpgroup (for comparisons)
  bool winograd_fp32_products = true;  // GPU Winograd: its 36 products M in fp32; false: in x's dtype (half
                                       // the bytes; f16 error 3.6e-3 RMS instead of 2.9e-3, kernels/winograd.hpp)
};

// Geometry of a stride-1 "same" convolution with an odd square kernel.
struct ConvShape {
  index_t n, cin, h, w, cout, kh, kw;
  FUSEKIT_HOST_DEVICE index_t pad() const { return kh / 2; }
  FUSEKIT_HOST_DEVICE index_t taps() const { return kh * kw; }
  FUSEKIT_HOST_DEVICE index_t k() const { return kh * kw * cin; }
};

namespace prologue {

// No input prologue: A is x itself.
struct None {
  static constexpr bool active = false;
  FUSEKIT_HOST_DEVICE float operator()(float v, index_t, index_t, index_t, index_t) const { return v; }
};

// KataGo's NormAct on the conv input: act(x * scale[c] + bias[c]) * mask[n, 0, h, w] (mask optional).
// Zero padding stays zero: it is applied to cells inside the image only.
template <class T, class Act>
struct NormAct {
  static constexpr bool active = true;
  const float* scale;
  const float* bias;
  index_t scale_stride, bias_stride;
  const T* mask;  // nullptr: no mask
  index_t mask_n, mask_h, mask_w;  // strides of the (N, 1, H, W) mask
  Act act;

  FUSEKIT_HOST_DEVICE float operator()(float v, index_t n, index_t c, index_t h, index_t w) const {
    const float y = act(v * scale[c * scale_stride] + bias[c * bias_stride]);
    return mask ? y * to_float(mask[n * mask_n + h * mask_h + w * mask_w]) : y;
  }
};

}  // namespace prologue

// The implicit-GEMM A operand of a convolution: A[b, m, k] for image b, output pixel m, and k in the
// weight's order (above).
template <class T, class Pro>
struct ConvInput {
  const T* x;
  Strides<4> xs;  // of the logical (N, Cin, H, W) input
  ConvShape s;
  bool channel_minor;
  Pro pro;

  // (tap, channel) of column k.
  FUSEKIT_HOST_DEVICE void split_k(index_t k, index_t& tap, index_t& ci) const {
    if (channel_minor) tap = k / s.cin, ci = k % s.cin;
    else ci = k / s.taps(), tap = k % s.taps();
  }

  // The prologue'd input at pixel (h, w) of image b, channel ci; zero outside the image.
  FUSEKIT_HOST_DEVICE float input(index_t b, index_t ci, index_t h, index_t w) const {
    if (h < 0 || h >= s.h || w < 0 || w >= s.w) return 0.f;
    return pro(to_float(x[b * xs[0] + ci * xs[1] + h * xs[2] + w * xs[3]]), b, ci, h, w);
  }

  FUSEKIT_HOST_DEVICE float value(index_t b, index_t m, index_t k) const {
    index_t tap, ci;
    split_k(k, tap, ci);
    return input(b, ci, m / s.w + tap / s.kw - s.pad(), m % s.w + tap % s.kw - s.pad());
  }
};

// The NormAct prologue of images [n0, n0 + g) as one NormAct launch writing `out` (strides of a logical
// (g, Cin, H, W) tensor): how the backends apply it once per input element (cpu/conv.hpp, kernels/conv.hpp).
template <class T, class Act>
NormActParams<T, float> prologue_norm_act(const ConvInput<T, prologue::NormAct<T, Act>>& a, T* out,
                                          const Strides<4>& out_strides, index_t n0, index_t g) {
  const auto& p = a.pro;
  return {out,
          a.x + n0 * a.xs[0],
          p.mask ? p.mask + n0 * p.mask_n : nullptr,
          p.scale,
          p.bias,
          Shape<4>{g, a.s.cin, a.s.h, a.s.w},
          out_strides,
          a.xs,
          Strides<4>{p.mask_n, 0, p.mask_h, p.mask_w},
          p.scale_stride,
          p.bias_stride};
}

// A[b, m, k] of any A source: a strided matrix or a ConvInput.
template <class T>
FUSEKIT_HOST_DEVICE float a_value(const GemmOperand<const T>& a, index_t b, index_t m, index_t k) {
  return to_float(*a.at(b, m, k));
}
template <class T, class Pro>
FUSEKIT_HOST_DEVICE float a_value(const ConvInput<T, Pro>& a, index_t b, index_t m, index_t k) {
  return a.value(b, m, k);
}

}  // namespace fusekit
