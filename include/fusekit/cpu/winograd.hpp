#pragma once
// Winograd F(4x4, 3x3) for the CPU convolution (ops/winograd_f4x4.hpp: the matrices and the 1-D
// transforms, shared with the GPU). Every transform here works on vectors of channels (the innermost,
// contiguous axis), so the compiler vectorises the channel loops.
#include <algorithm>

#include "fusekit/config.hpp"
#include "fusekit/core/shape.hpp"
#include "fusekit/ops/winograd_f4x4.hpp"

namespace fusekit::cpu::winograd {

using fusekit::winograd::AT;
using fusekit::winograd::BT;
using fusekit::winograd::out;
using fusekit::winograd::positions;
using fusekit::winograd::tile;

// U = G g G^T for one (output, input) channel pair, in double; g(ky, kx) gives the filter.
template <class Filter>
void filter_transform(const Filter& g, double (&u)[6][6]) {
  double t[3][6];  // t[k] = G (column k of g)
  for (int k = 0; k < 3; ++k) fusekit::winograd::g3<double>({g(0, k), g(1, k), g(2, k)}, t[k]);
  for (int i = 0; i < 6; ++i) fusekit::winograd::g3<double>({t[0][i], t[1][i], t[2][i]}, u[i]);
}

// Channels per pass: the 6 x 6 intermediate of a block stays in L1.
inline constexpr index_t channel_block = 64;

// The 1-D transforms, over n channels at once: x(k) points at the k-th of 6 input vectors of channels,
// y(i) at where the i-th result goes (no overlap with the inputs). Each channel is loaded and stored
// once through the written-out rows (a loop over the matrices' coefficients, a pass over memory per
// term, had the transforms at half of a 96-channel conv's time).
template <class X, class Y>
inline void bt_1d(const X& x, const Y& y, index_t n) {
  const float *x0 = x(0), *x1 = x(1), *x2 = x(2), *x3 = x(3), *x4 = x(4), *x5 = x(5);
  float *y0 = y(0), *y1 = y(1), *y2 = y(2), *y3 = y(3), *y4 = y(4), *y5 = y(5);
  FUSEKIT_IVDEP
  for (index_t c = 0; c < n; ++c) {
    float r[6];
    fusekit::winograd::bt6<float>({x0[c], x1[c], x2[c], x3[c], x4[c], x5[c]}, r);
    y0[c] = r[0], y1[c] = r[1], y2[c] = r[2], y3[c] = r[3], y4[c] = r[4], y5[c] = r[5];
  }
}

template <class X, class Y>
inline void at_1d(const X& x, const Y& y, index_t n) {
  const float *x0 = x(0), *x1 = x(1), *x2 = x(2), *x3 = x(3), *x4 = x(4), *x5 = x(5);
  float *y0 = y(0), *y1 = y(1), *y2 = y(2), *y3 = y(3);
  FUSEKIT_IVDEP
  for (index_t c = 0; c < n; ++c) {
    float r[4];
    fusekit::winograd::at6<float>({x0[c], x1[c], x2[c], x3[c], x4[c], x5[c]}, r);
    y0[c] = r[0], y1[c] = r[1], y2[c] = r[2], y3[c] = r[3];
  }
}

// V[pos] = (B^T d B)[pos]: d(k, l) points at the channels of input tile cell (k, l), v(pos) where
// position pos's channels go. Columns first (t = B^T d), then rows (V = t B), a block of channels at a time.
template <class In, class OutPtr>
void input_transform(const In& d, const OutPtr& v, index_t n) {
  float t[6][6][channel_block];  // (i, l): row i of B^T d, column l
  for (index_t c0 = 0; c0 < n; c0 += channel_block) {
    const index_t cn = std::min(channel_block, n - c0);
    for (int l = 0; l < 6; ++l) bt_1d([&](int k) { return d(k, l) + c0; }, [&](int i) { return t[i][l]; }, cn);
    for (int i = 0; i < 6; ++i) bt_1d([&](int l) { return t[i][l]; }, [&](int j) { return v(i * 6 + j) + c0; }, cn);
  }
}

// Y = A^T M A: m(pos) points at position pos's channels; y is [4][4][n] contiguous.
template <class In>
void output_transform(const In& m, float* y, index_t n) {
  float t[4][6][channel_block];  // (i, l): row i of A^T M, column l
  for (index_t c0 = 0; c0 < n; c0 += channel_block) {
    const index_t cn = std::min(channel_block, n - c0);
    for (int l = 0; l < 6; ++l) at_1d([&](int k) { return m(k * 6 + l) + c0; }, [&](int i) { return t[i][l]; }, cn);
    for (int i = 0; i < 4; ++i)
      at_1d([&](int l) { return t[i][l]; }, [&](int j) { return y + (i * 4 + j) * n + c0; }, cn);
  }
}

}  // namespace fusekit::cpu::winograd
