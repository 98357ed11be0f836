#pragma once
// CPU RoPE: one token per step; per pair the same fp32 formula as the GPU kernel.
#include <cmath>

#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/rope_params.hpp"
#include "fusekit/ops/tags.hpp"

namespace fusekit {

// The pair update shared by both backends: reads both elements, then writes both (in place is safe).
// inv_freq: p.inv_freq, or a copy of it (the GPU kernels read a shared-memory one).
template <class T, class P>
FUSEKIT_HOST_DEVICE inline void rope_apply(const RopeParams<T, P>& p, const RopeTensor<T>& t, index_t token,
                                           index_t head, index_t j, float angle_pos, const float* inv_freq) {
  const RopePair pr = rope_pair(j, p.rotary_dim, p.layout, t.rotate);
  const T* s = t.src + token * t.src_strides[0] + head * t.src_strides[1];
  T* d = t.dst + token * t.dst_strides[0] + head * t.dst_strides[1];
  const float a = to_float(s[pr.a * t.src_strides[2]]), b = to_float(s[pr.b * t.src_strides[2]]);
  float ya = a, yb = b;
  if (pr.rotate) {
    float sn, cs;
    rope_sincos(angle_pos * inv_freq[j], &sn, &cs);
    ya = a * cs - b * sn;
    yb = b * cs + a * sn;
  }
  d[pr.a * t.dst_strides[2]] = convert<T>(ya);
  d[pr.b * t.dst_strides[2]] = convert<T>(yb);
}

template <>
struct OpImpl<op::Rope, CpuBackend> {
  template <class T, class P>
  static void run(const cpu::Context& ctx, const RopeParams<T, P>& p) {
    const index_t pairs = p.head_dim / 2;
    ctx.parallel_for(p.tokens, 16, [&](index_t t0, index_t t1) {
      for (index_t tok = t0; tok < t1; ++tok) {
        const float pos = static_cast<float>(p.positions[tok * p.position_stride]);
        for (int i = 0; i < p.count; ++i)
          for (index_t h = 0; h < p.t[i].heads; ++h)
            for (index_t j = 0; j < pairs; ++j) rope_apply(p, p.t[i], tok, h, j, pos, p.inv_freq);
      }
    });
  }
};

}  // namespace fusekit
