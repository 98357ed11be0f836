#pragma once
// CPU GEMM: the output is cut into blocks of rows x columns, one task each on the context's threads.
// A task multiplies its block with Eigen's (single-threaded) GEMM into an fp32 buffer that stays in
// cache, then applies the epilogue to it and stores C: no separate pass over memory.
// fp32 operands only (the CPU backend's dtype); C may be any float dtype.
#include <Eigen/Core>
#include <algorithm>
#include <vector>

#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/cpu/epilogue_rows.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/ops/gemm_params.hpp"
#include "fusekit/ops/tags.hpp"

namespace fusekit {

namespace cpu {

// Rows and output columns per task: the fp32 block (128 x 256 x 4 bytes = 128 KiB) stays in L2 while
// the epilogue runs, and a task's share of B is re-packed once per 128 rows.
inline constexpr index_t gemm_block_rows = 128;
inline constexpr index_t gemm_block_cols = 256;

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using StridedMap = Eigen::Map<const RowMajorF, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;

// rows x cols of a strided operand starting at (r0, c0) of batch entry bi.
inline StridedMap gemm_block(const GemmOperand<const float>& x, index_t bi, index_t r0, index_t c0, index_t rows,
                             index_t cols) {
  return StridedMap(x.at(bi, r0, c0), rows, cols, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(x.row_stride, x.col_stride));
}

}  // namespace cpu

template <>
struct OpImpl<op::Gemm, CpuBackend> {
  template <class T, class O, class Epi>
  static void run(const cpu::Context& ctx, const GemmParams<T, O, Epi>& p, const GemmOptions&) {
    if constexpr (!std::is_same_v<T, float>)
      static_assert(dependent_false<T>,
                    "gemm on cpu::Context: the CPU backend multiplies fp32 matrices (convert f16/bf16 weights to "
                    "fp32 at load time)");
    else run_f32(ctx, p);
  }

 private:
  template <class O, class Epi>
  static void run_f32(const cpu::Context& ctx, const GemmParams<float, O, Epi>& p) {
    const index_t mb = (p.m + cpu::gemm_block_rows - 1) / cpu::gemm_block_rows;
    const index_t nb = (p.n_out + cpu::gemm_block_cols - 1) / cpu::gemm_block_cols;
    const GateLayout layout = p.epi.gate_layout();
    ctx.parallel_for(p.batch * mb * nb, 1, [&](index_t t0, index_t t1) {
      cpu::RowMajorF acc;
      for (index_t t = t0; t < t1; ++t) {
        const index_t bi = t / (mb * nb), r0 = (t / nb % mb) * cpu::gemm_block_rows, o0 = t % nb * cpu::gemm_block_cols;
        const index_t rows = std::min(cpu::gemm_block_rows, p.m - r0), w = std::min(cpu::gemm_block_cols, p.n_out - o0);
        const auto a = cpu::gemm_block(p.a, bi, r0, 0, rows, p.k);
        // acc holds accumulator columns [c0, c0 + w) (and the up half [n_out + o0, ...) at w..2w for a
        // concatenated gate); local(col) finds one.
        index_t c0 = o0, width = w;
        if constexpr (Epi::gated) {
          if (layout == GateLayout::interleaved) c0 = 2 * o0;
          width = 2 * w;
        }
        acc.resize(rows, width);
        if (p.k == 0) {
          acc.setZero();
        } else if (Epi::gated && layout == GateLayout::concatenated) {
          acc.leftCols(w).noalias() = a * cpu::gemm_block(p.b, bi, 0, o0, p.k, w);
          acc.rightCols(w).noalias() = a * cpu::gemm_block(p.b, bi, 0, p.n_out + o0, p.k, w);
        } else {
          acc.noalias() = a * cpu::gemm_block(p.b, bi, 0, c0, p.k, width);
        }
        const bool split = Epi::gated && layout == GateLayout::concatenated;
        for (index_t i = 0; i < rows; ++i) {
          const float* row = acc.data() + i * width;
          if constexpr (!Epi::gated) {
            cpu::store_row(p, bi, r0 + i, row, o0, o0 + w);  // row holds columns [o0, o0 + w)
          } else {
            auto local = [&](index_t col) {
              return row[split && col >= p.n_out ? col - p.n_out - o0 + w : col - c0];
            };
            for (index_t j = o0; j < o0 + w; ++j) *p.c.at(bi, r0 + i, j) = convert<O>(p.output(local, bi, r0 + i, j));
          }
        }
      }
    });
  }
};

}  // namespace fusekit
