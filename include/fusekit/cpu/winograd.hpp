#pragma once
// Winograd F(4x4, 3x3) (Lavin & Gray 2015, interpolation points 0, +-1, +-2, inf) for the CPU
// convolution. A 6x6 input tile d and a 3x3 filter g give a 4x4 output tile of the cross-correlation:
//   Y = A^T [ (G g G^T) . (B^T d B) ] A
// 36 element-wise products per 16 outputs instead of 144. Every transform here works on vectors of
// channels (the innermost, contiguous axis), so the compiler vectorises the channel loops.
#include <algorithm>

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

// out(i, j) = sum_k sum_l M[i][k] in(k, l) M[j][l] for i, j < R, over channels [0, n): in(k, l) and
// out(i, j) point at n contiguous channels. Zero coefficients are skipped.
template <int R, class In, class Out>
void separable_transform(const float (&mat)[R][6], const In& in, const Out& out, index_t n) {
  auto combine = [](float* r, const float (&coef)[6], index_t cn, auto&& src) {
    std::fill(r, r + cn, 0.f);
    for (int k = 0; k < 6; ++k) {
      if (coef[k] == 0.f) continue;
      const float* x = src(k);
      for (index_t c = 0; c < cn; ++c) r[c] += coef[k] * x[c];
    }
  };
  float t[R][6][channel_block];
  for (index_t c0 = 0; c0 < n; c0 += channel_block) {
    const index_t cn = std::min(channel_block, n - c0);
    for (int i = 0; i < R; ++i)
      for (int l = 0; l < 6; ++l) combine(t[i][l], mat[i], cn, [&](int k) { return in(k, l) + c0; });
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < R; ++j) combine(out(i, j) + c0, mat[j], cn, [&](int l) { return t[i][l]; });
  }
}

// V[pos] = (B^T d B)[pos]: d(k, l) points at the channels of input tile cell (k, l), v(pos) where
// position pos's channels go.
template <class In, class OutPtr>
void input_transform(const In& d, const OutPtr& v, index_t n) {
  separable_transform(BT, d, [&](int i, int j) { return v(i * 6 + j); }, n);
}

// Y = A^T M A: m(pos) points at position pos's channels; y is [4][4][n] contiguous.
template <class In>
void output_transform(const In& m, float* y, index_t n) {
  separable_transform(AT, [&](int k, int l) { return m(k * 6 + l); }, [&](int i, int j) { return y + (i * 4 + j) * n; }, n);
}

}  // namespace fusekit::cpu::winograd
