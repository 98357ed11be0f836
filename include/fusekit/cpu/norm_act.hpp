#pragma once
// CPU NormAct: walks the tensor as rows along its innermost dense axis (channels for NHWC, the H x W
// plane for NCHW), computes each chunk of a row into a float buffer, applies the activation (Eigen SIMD
// forms for Mish/SiLU, cpu/activation_rows.hpp) and stores act * mask.
#include <algorithm>

#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/config.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/cpu/activation_rows.hpp"
#include "fusekit/ops/norm_act_params.hpp"
#include "fusekit/ops/tags.hpp"

namespace fusekit {

template <>
struct OpImpl<op::NormAct, CpuBackend> {
  template <class T, class W, class Act>
  static void run(const cpu::Context& ctx, const NormActParams<T, W>& p, const Act& f) {
    const index_t N = p.shape[0], C = p.shape[1], H = p.shape[2], Wd = p.shape[3];
    const auto& xs = p.x_strides;
    const auto& os = p.out_strides;
    const auto& ms = p.mask_strides;
    // Row = the innermost axis: channels (NHWC-like) or w, widened to the whole H x W plane when every
    // tensor's (h, w) collapse into one axis.
    const bool channel_rows = C > 1 && xs[1] == 1 && os[1] == 1;
    const bool plane = !channel_rows && xs[2] == Wd * xs[3] && os[2] == Wd * os[3] && (!p.mask || ms[2] == Wd * ms[3]);
    const index_t len = channel_rows ? C : plane ? H * Wd : Wd;
    const index_t rows = channel_rows ? N * H * Wd : plane ? N * C : N * C * H;
    const index_t sx = channel_rows ? xs[1] : xs[3], so = channel_rows ? os[1] : os[3];
    const index_t sm = channel_rows ? 0 : ms[3];
    // Channel rows with every stride 1 (KataGo's NHWC activations): the fast path below.
    const bool unit = channel_rows && sx == 1 && so == 1 && p.scale_stride == 1 && p.bias_stride == 1;
    ctx.parallel_for(rows, std::max<index_t>(1, (1 << 14) / len), [&](index_t r0, index_t r1) {
      constexpr index_t chunk = 256;
      float pre[chunk], post[chunk];
      for (index_t r = r0; r < r1; ++r) {
        index_t n, c = 0, h = 0, w = 0;  // the row's first element
        if (channel_rows) { n = r / (H * Wd); h = r / Wd % H; w = r % Wd; }
        else if (plane) { n = r / C; c = r % C; }
        else { n = r / (C * H); c = r / H % C; h = r % H; }
        const T* x = p.x + n * xs[0] + c * xs[1] + h * xs[2] + w * xs[3];
        T* out = p.out + n * os[0] + c * os[1] + h * os[2] + w * os[3];
        const T* m = p.mask ? p.mask + n * ms[0] + h * ms[2] + w * ms[3] : nullptr;
        for (index_t i0 = 0; i0 < len; i0 += chunk) {
          const index_t k = std::min(chunk, len - i0);
          if (unit) {  // the same steps with unit strides, so that they vectorise
            const T* xr = x + i0;
            const W *sc = p.scale + i0, *bi = p.bias + i0;
            FUSEKIT_IVDEP
            for (index_t i = 0; i < k; ++i) pre[i] = to_float(xr[i]) * to_float(sc[i]) + to_float(bi[i]);
            cpu::activation_span(f, pre, post, k);
            const float mv = m ? to_float(*m) : 1.f;  // one mask value per pixel
            T* o = out + i0;
            FUSEKIT_IVDEP
            for (index_t i = 0; i < k; ++i) o[i] = convert<T>(m ? post[i] * mv : post[i]);
            continue;
          }
          for (index_t i = 0; i < k; ++i) {
            const index_t ch = channel_rows ? i0 + i : c;
            pre[i] = to_float(x[(i0 + i) * sx]) * to_float(p.scale[ch * p.scale_stride]) +
                     to_float(p.bias[ch * p.bias_stride]);
          }
          cpu::activation_span(f, pre, post, k);
          for (index_t i = 0; i < k; ++i)
            out[(i0 + i) * so] = convert<T>(m ? post[i] * to_float(m[(i0 + i) * sm]) : post[i]);
        }
      }
    });
  }
};

}  // namespace fusekit
