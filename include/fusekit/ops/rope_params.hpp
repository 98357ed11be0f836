#pragma once
// What a RoPE launch needs (ops/rope.hpp is the front end). Up to three [tokens, heads, head_dim]
// tensors move in one launch: each is read from src and written to dst (dst may be src: in place, or a
// slice of a KV cache), rotated (q, k) or copied (v).
//   pair j < rotary_dim / 2 at position p: angle = fp32(float(p) * inv_freq[j]),
//     inv_freq[j] = fp32(base^(-2j / rotary_dim)) (computed in double, rounded once: the table is part of
//     the op's definition, as in Hugging Face's fp32 inv_freq);
//     (a, b) -> (a cos - b sin, b cos + a sin), math in fp32, one rounding into dst.
//   half_split (rotate_half, Llama/Gemma in HF): pair j = elements (j, j + rotary_dim / 2)
//   interleaved (GPT-J, Meta's complex form):    pair j = elements (2j, 2j + 1)
// Elements from rotary_dim to head_dim are copied unchanged (partial rotary).
#include <cmath>

#include "fusekit/config.hpp"
#include "fusekit/core/shape.hpp"

namespace fusekit {

enum class RopeLayout { half_split, interleaved };

struct RopeOptions {
  float base = 10000.f;
  RopeLayout layout = RopeLayout::half_split;
  index_t rotary_dim = 0;  // 0: the whole head
};

inline constexpr int rope_max_pairs = 256;  // rotary_dim <= 512

template <class T>
struct RopeTensor {
  T* dst;
  const T* src;
  Strides<3> dst_strides, src_strides;
  index_t heads;
  bool rotate;
};

template <class T, class P>
struct RopeParams {
  RopeTensor<T> t[3];
  int count;
  const P* positions;
  index_t position_stride;
  index_t tokens, head_dim, rotary_dim;
  RopeLayout layout;
  float inv_freq[rope_max_pairs];
};

// inv_freq[j] for j < rotary_dim / 2, as the op defines it.
inline float rope_inv_freq(double base, index_t j, index_t rotary_dim) {
  return static_cast<float>(std::pow(base, -2.0 * static_cast<double>(j) / static_cast<double>(rotary_dim)));
}

// Element offsets (within a head) of the two values thread-pair j moves: a rotated pair, or two copied
// elements past the rotary part (j >= rotary_dim / 2) or of a copied tensor.
struct RopePair {
  index_t a, b;
  bool rotate;
};
FUSEKIT_HOST_DEVICE inline RopePair rope_pair(index_t j, index_t rotary_dim, RopeLayout layout, bool rotate) {
  const index_t half = rotary_dim / 2;
  if (!rotate) return {2 * j, 2 * j + 1, false};
  if (j >= half) return {rotary_dim + 2 * (j - half), rotary_dim + 2 * (j - half) + 1, false};
  if (layout == RopeLayout::half_split) return {j, j + half, true};
  return {2 * j, 2 * j + 1, true};
}

// sin and cos of an angle: on the device, a Cody-Waite reduction by 2 pi (three-part constant, exact
// enough for |a| < 25000, i.e. positions up to ~25000 at inv_freq 1) and the hardware's __sincosf on
// [-pi, pi] (absolute error < 4e-7); libm's sincosf beyond. On the host, libm.
FUSEKIT_HOST_DEVICE inline void rope_sincos(float a, float* s, float* c) {
#if FUSEKIT_GPU_COMPILE_PHASE
  if (fabsf(a) < 25000.f) {
    const float k = rintf(a * 0.159154943091895336f);
    float r = fmaf(-k, 6.28318548202514648f, a);  // float(2 pi)
    r = fmaf(-k, -1.74845553146951715e-7f, r);    // 2 pi - float(2 pi)
    __sincosf(r, s, c);
  } else {
    sincosf(a, s, c);
  }
#else
  *s = std::sin(a);
  *c = std::cos(a);
#endif
}

}  // namespace fusekit
