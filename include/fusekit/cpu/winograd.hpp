#pragma once
// Winograd F(4x4, 3x3) (Lavin & Gray 2015, interpolation points 0, +-1, +-2, inf) for the CPU
// convolution. A 6x6 input tile d and a 3x3 filter g give a 4x4 output tile of the cross-correlation:
//   Y = A^T [ (G g G^T) . (B^T d B) ] A
// 36 element-wise products per 16 outputs instead of 144. Every transform here works on vectors of
// channels (the innermost, contiguous axis), so the compiler vectorises the channel loops.
#include <algorithm>

#include "fusekit/config.hpp"
#include "fusekit/core/shape.hpp"

namespace fusekit::cpu::winograd {

inline constexpr int tile = 6, out = 4, positions = tile * tile;

inline constexpr float BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                   {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
inline constexpr double G[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
inline constexpr float AT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

// U = G g G^T for one (output, input) channel pair, in double; g(ky, kx) gives the filter.
template <class Filter>
void filter_transform(const Filter& g, double (&u)[6][6]) {
  double t[6][3];
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 3; ++j) t[i][j] = G[i][0] * g(0, j) + G[i][1] * g(1, j) + G[i][2] * g(2, j);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) u[i][j] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
}

// Channels per pass: the 6 x 6 intermediate of a block stays in L1.
inline constexpr index_t channel_block = 64;

// The 1-D transforms, over n channels at once: x(k) points at the k-th of 6 input vectors of channels,
// y(i) at where the i-th result goes (no overlap with the inputs). The rows of B^T and A^T written out
// with their shared terms, so that each channel is loaded and stored once and no zero coefficient is
// multiplied (a loop over the matrices' coefficients, a pass over memory per term, had the transforms at
// half of a 96-channel conv's time).
// B^T: y = (4x0 - 5x2 + x4, (x3 + x4) - 4(x1 + x2), (x4 - x3) + 4(x1 - x2), (x4 - x2) + 2(x3 - x1),
//           (x4 - x2) - 2(x3 - x1), 4x1 - 5x3 + x5)
template <class X, class Y>
inline void bt_1d(const X& x, const Y& y, index_t n) {
  const float *x0 = x(0), *x1 = x(1), *x2 = x(2), *x3 = x(3), *x4 = x(4), *x5 = x(5);
  float *y0 = y(0), *y1 = y(1), *y2 = y(2), *y3 = y(3), *y4 = y(4), *y5 = y(5);
  FUSEKIT_IVDEP
  for (index_t c = 0; c < n; ++c) {
    const float a0 = x0[c], a1 = x1[c], a2 = x2[c], a3 = x3[c], a4 = x4[c], a5 = x5[c];
    const float s12 = a1 + a2, d12 = a1 - a2, d42 = a4 - a2, d31 = a3 - a1;
    y0[c] = 4.f * a0 - 5.f * a2 + a4;
    y1[c] = (a3 + a4) - 4.f * s12;
    y2[c] = (a4 - a3) + 4.f * d12;
    y3[c] = d42 + 2.f * d31;
    y4[c] = d42 - 2.f * d31;
    y5[c] = 4.f * a1 - 5.f * a3 + a5;
  }
}

// A^T: y = (x0 + (x1 + x2) + (x3 + x4), (x1 - x2) + 2(x3 - x4), (x1 + x2) + 4(x3 + x4),
//           (x1 - x2) + 8(x3 - x4) + x5)
template <class X, class Y>
inline void at_1d(const X& x, const Y& y, index_t n) {
  const float *x0 = x(0), *x1 = x(1), *x2 = x(2), *x3 = x(3), *x4 = x(4), *x5 = x(5);
  float *y0 = y(0), *y1 = y(1), *y2 = y(2), *y3 = y(3);
  FUSEKIT_IVDEP
  for (index_t c = 0; c < n; ++c) {
    const float a0 = x0[c], a1 = x1[c], a2 = x2[c], a3 = x3[c], a4 = x4[c], a5 = x5[c];
    const float s12 = a1 + a2, d12 = a1 - a2, s34 = a3 + a4, d34 = a3 - a4;
    y0[c] = a0 + s12 + s34;
    y1[c] = d12 + 2.f * d34;
    y2[c] = s12 + 4.f * s34;
    y3[c] = d12 + 8.f * d34 + a5;
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
