#pragma once
// cpu::PackedMatrix / packed_gemm: C = A B where B is a weight packed once (at model load) into panels
// of two SIMD packets' width, so that no call re-packs it. Eigen's product packs both operands on every
// call; for the CPU convolution's thin products ([25 Winograd tiles x 192] x [192 x 192] per position
// at batch 1) packing the weight took almost as long as multiplying with it.
//
// Micro-kernel: mr rows x nr = 2 packets of columns in registers for the whole K; per k, two packet loads
// of B's panel row and one broadcast of A per row (Eigen's packet primitives, so it is AVX-512, AVX2 or
// SSE code as the build targets; mr keeps the accumulators within the register file).
#include <algorithm>
#include <vector>

#include <Eigen/Core>

#include "fusekit/core/shape.hpp"

namespace fusekit::cpu {

namespace packed {
using Packet = Eigen::internal::packet_traits<float>::type;
inline constexpr int lanes = Eigen::internal::packet_traits<float>::size;
inline constexpr int nr = 2 * lanes;                                // columns per panel
inline constexpr int mr = lanes >= 16 ? 8 : lanes == 8 ? 6 : 4;     // rows per micro-tile (2 mr accumulators)
}  // namespace packed

// B [K x N] as ceil(N / nr) panels; panel p holds B[k][p nr + j] at (p K + k) nr + j, zero past N.
struct PackedMatrix {
  index_t k = 0, n = 0;
  std::vector<float, Eigen::aligned_allocator<float>> data;
};

// b: K x N, element (k, j) at b[k * ldb + j].
inline PackedMatrix pack_matrix(const float* b, index_t k, index_t n, index_t ldb) {
  constexpr index_t nr = packed::nr;
  PackedMatrix p{k, n, {}};
  const index_t panels = (n + nr - 1) / nr;
  p.data.assign(static_cast<std::size_t>(panels * k * nr), 0.f);
  for (index_t pn = 0; pn < panels; ++pn)
    for (index_t r = 0; r < k; ++r)
      for (index_t j = 0; j < std::min(nr, n - pn * nr); ++j) p.data[static_cast<std::size_t>((pn * k + r) * nr + j)] = b[r * ldb + pn * nr + j];
  return p;
}

namespace packed {
// C[kRows x cols] = A[kRows x K] panel, cols <= nr.
template <int kRows>
inline void micro_tile(const float* a, index_t lda, const float* panel, index_t K, float* c, index_t ldc, index_t cols) {
  using namespace Eigen::internal;
  Packet acc0[kRows], acc1[kRows];
  for (int i = 0; i < kRows; ++i) acc0[i] = acc1[i] = pset1<Packet>(0.f);
  for (index_t k = 0; k < K; ++k) {
    const Packet b0 = pload<Packet>(panel + k * nr);
    const Packet b1 = pload<Packet>(panel + k * nr + lanes);
    for (int i = 0; i < kRows; ++i) {
      const Packet ai = pset1<Packet>(a[i * lda + k]);
      acc0[i] = pmadd(ai, b0, acc0[i]);
      acc1[i] = pmadd(ai, b1, acc1[i]);
    }
  }
  if (cols == nr) {
    for (int i = 0; i < kRows; ++i) {
      pstoreu(c + i * ldc, acc0[i]);
      pstoreu(c + i * ldc + lanes, acc1[i]);
    }
  } else {  // the last panel of an N that is not a multiple of nr
    alignas(64) float row[nr];
    for (int i = 0; i < kRows; ++i) {
      pstore(row, acc0[i]);
      pstore(row + lanes, acc1[i]);
      std::copy(row, row + cols, c + i * ldc);
    }
  }
}

template <int kRows = mr>
inline void tail_tile(int rows, const float* a, index_t lda, const float* panel, index_t K, float* c, index_t ldc,
                      index_t cols) {
  if constexpr (kRows > 1) {
    if (rows == kRows - 1) return micro_tile<kRows - 1>(a, lda, panel, K, c, ldc, cols);
    return tail_tile<kRows - 1>(rows, a, lda, panel, K, c, ldc, cols);
  }
}
}  // namespace packed

inline index_t panels(const PackedMatrix& b) { return (b.n + packed::nr - 1) / packed::nr; }

// C[M x N] (row stride ldc) = A[M x K] (row stride lda) B, or only the columns of panels [p0, p1) (a
// thread's share of N). Panels outermost, so that one panel of B (K x nr floats) stays in cache while
// every row tile of A passes by.
inline void packed_gemm(const float* a, index_t lda, const PackedMatrix& b, float* c, index_t ldc, index_t m,
                        index_t p0 = 0, index_t p1 = -1) {
  constexpr index_t nr = packed::nr, mr = packed::mr;
  const index_t K = b.k;
  if (p1 < 0) p1 = panels(b);
  for (index_t pn = p0; pn < p1; ++pn) {
    const float* panel = b.data.data() + pn * K * nr;
    const index_t cols = std::min(nr, b.n - pn * nr);
    index_t i = 0;
    for (; i + mr <= m; i += mr) packed::micro_tile<mr>(a + i * lda, lda, panel, K, c + i * ldc + pn * nr, ldc, cols);
    if (i < m) packed::tail_tile(static_cast<int>(m - i), a + i * lda, lda, panel, K, c + i * ldc + pn * nr, ldc, cols);
  }
}

}  // namespace fusekit::cpu
