#pragma once
// Float64 reference for a stride-1 "same" 2-D convolution (cross-correlation, as in PyTorch):
//   y[n, o, h, w] = sum_{c, ky, kx} x[n, c, h + ky - p, w + kx - p] * wt[o, c, ky, kx],  p = K / 2,
// x zero outside the image. x is given in double (the tests apply the input prologue to it first);
// epilogues are applied by the tests from their definitions.
#include "fusekit/core/tensor.hpp"

namespace fusekit::reference {

template <class W>
HostTensor<double, 4> conv2d(const HostView<const double, 4>& x, const HostView<const W, 4>& wt) {
  const index_t N = x.size(0), C = x.size(1), H = x.size(2), Wd = x.size(3);
  const index_t O = wt.size(0), KH = wt.size(2), KW = wt.size(3), ph = KH / 2, pw = KW / 2;
  HostTensor<double, 4> y(Shape<4>{N, O, H, Wd});
  for (index_t n = 0; n < N; ++n)
    for (index_t o = 0; o < O; ++o)
      for (index_t h = 0; h < H; ++h)
        for (index_t w = 0; w < Wd; ++w) {
          double s = 0;
          for (index_t c = 0; c < C; ++c)
            for (index_t ky = 0; ky < KH; ++ky) {
              const index_t ih = h + ky - ph;
              if (ih < 0 || ih >= H) continue;
              for (index_t kx = 0; kx < KW; ++kx) {
                const index_t iw = w + kx - pw;
                if (iw >= 0 && iw < Wd) s += x(n, c, ih, iw) * static_cast<double>(wt(o, c, ky, kx));
              }
            }
          y(n, o, h, w) = s;
        }
  return y;
}

}  // namespace fusekit::reference
