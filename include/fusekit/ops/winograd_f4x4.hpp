#pragma once
// Winograd F(4x4, 3x3) (Lavin & Gray 2015, interpolation points 0, +-1, +-2, inf), shared by the CPU
// (cpu/winograd.hpp) and GPU (kernels/winograd.hpp) convolutions. A 6x6 input tile d and a 3x3 filter g
// give a 4x4 output tile of the cross-correlation:
//   Y = A^T [ (G g G^T) . (B^T d B) ] A
// 36 element-wise products per 16 outputs instead of 144. The matrices are the definition (tests check
// the transforms against them); the 1-D transforms below are their rows written out with the shared
// terms, so that no zero coefficient is multiplied, on the host and on the device alike.
#include "fusekit/config.hpp"

namespace fusekit::winograd {

inline constexpr int tile = 6, out = 4, positions = tile * tile;

inline constexpr float BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                   {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
inline constexpr double G[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
inline constexpr float AT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

// y = B^T x: (4x0 - 5x2 + x4, (x3 + x4) - 4(x1 + x2), (x4 - x3) + 4(x1 - x2), (x4 - x2) + 2(x3 - x1),
//             (x4 - x2) - 2(x3 - x1), 4x1 - 5x3 + x5)
template <class F>
FUSEKIT_HOST_DEVICE inline void bt6(const F (&x)[6], F (&y)[6]) {
  const F s12 = x[1] + x[2], d12 = x[1] - x[2], d42 = x[4] - x[2], d31 = x[3] - x[1];
  y[0] = F(4) * x[0] - F(5) * x[2] + x[4];
  y[1] = (x[3] + x[4]) - F(4) * s12;
  y[2] = (x[4] - x[3]) + F(4) * d12;
  y[3] = d42 + F(2) * d31;
  y[4] = d42 - F(2) * d31;
  y[5] = F(4) * x[1] - F(5) * x[3] + x[5];
}

// y = A^T x: (x0 + (x1 + x2) + (x3 + x4), (x1 - x2) + 2(x3 - x4), (x1 + x2) + 4(x3 + x4),
//             (x1 - x2) + 8(x3 - x4) + x5)
template <class F>
FUSEKIT_HOST_DEVICE inline void at6(const F (&x)[6], F (&y)[4]) {
  const F s12 = x[1] + x[2], d12 = x[1] - x[2], s34 = x[3] + x[4], d34 = x[3] - x[4];
  y[0] = x[0] + s12 + s34;
  y[1] = d12 + F(2) * d34;
  y[2] = s12 + F(4) * s34;
  y[3] = d12 + F(8) * d34 + x[5];
}

// y = G x: (x0 / 4, -(x0 + x1 + x2) / 6, -(x0 - x1 + x2) / 6, x0 / 24 + x1 / 12 + x2 / 6,
//           x0 / 24 - x1 / 12 + x2 / 6, x2)
template <class F>
FUSEKIT_HOST_DEVICE inline void g3(const F (&x)[3], F (&y)[6]) {
  const F s02 = x[0] + x[2], e = x[0] / F(24) + x[2] / F(6), o = x[1] / F(12);
  y[0] = x[0] / F(4);
  y[1] = -(s02 + x[1]) / F(6);
  y[2] = -(s02 - x[1]) / F(6);
  y[3] = e + o;
  y[4] = e - o;
  y[5] = x[2];
}

}  // namespace fusekit::winograd
