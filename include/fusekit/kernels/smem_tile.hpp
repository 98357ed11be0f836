#pragma once
// SwizzledTile<T, kRows, kInner>: a [kRows][kInner] tile in shared memory, inner dimension contiguous, in
// 16-byte chunks whose position in the row is XOR-ed with a function of the row. Eight consecutive rows
// at one logical chunk then fall into eight different 16-byte bank groups, so ldmatrix (8 rows x 16
// bytes per matrix) and the MFMA/SIMT loads read without bank conflicts, and no padding is needed.
#include "fusekit/config.hpp"

namespace fusekit::kernels {

template <class T, int kRows, int kInner>
struct SwizzledTile {
  static constexpr int chunk = 16 / static_cast<int>(sizeof(T));  // elements per 16-byte chunk
  static constexpr int chunks_per_row = kInner / chunk;
  static constexpr int elements = kRows * kInner;
  static_assert(kInner % chunk == 0, "SwizzledTile: rows must be whole 16-byte chunks");
  static_assert((chunks_per_row & (chunks_per_row - 1)) == 0, "SwizzledTile: chunks per row must be a power of 2");

  // (row, chunk) -> element offset. Rows shorter than 128 bytes share a 128-byte bank line with their
  // neighbours, so the XOR pattern changes every 128 / row_bytes rows.
  FUSEKIT_HOST_DEVICE static constexpr int offset(int row, int ch) {
    constexpr int rows_per_line = chunks_per_row >= 8 ? 1 : 8 / chunks_per_row;
    constexpr int mask = chunks_per_row >= 8 ? 7 : chunks_per_row - 1;
    return row * kInner + ((ch ^ ((row / rows_per_line) & mask)) * chunk);
  }
};

}  // namespace fusekit::kernels
