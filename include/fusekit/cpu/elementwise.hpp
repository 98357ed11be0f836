#pragma once
// CPU elementwise engine: in rows mode a plain loop over each row (the compiler vectorises it; Mish and
// SiLU on float rows use Eigen's SIMD forms from cpu/activation_rows.hpp), otherwise a strided loop; both
// split across the context's threads.
#include <algorithm>

#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/cpu/activation_rows.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/ops/operand.hpp"
#include "fusekit/ops/tags.hpp"

namespace fusekit {

template <>
struct OpImpl<op::Elementwise, CpuBackend> {
  template <class C, class Op, class O, std::size_t R, class... I>
  static void run(const cpu::Context& ctx, const Op& op, const Extents<R>& shape, const ElementwiseLayout& layout,
                  Operand<O, R> out, Operand<I, R>... in) {
    constexpr index_t grain = 1 << 14;  // elements per task
    if (layout.rows_mode) {
      const index_t cols = layout.cols;
      ctx.parallel_for(layout.rows, std::max<index_t>(1, grain / cols), [&](index_t r0, index_t r1) {
        for (index_t r = r0; r < r1; ++r) {
          O* o = out.data + r * out.row_stride;
          if constexpr (cpu::has_array_form<Op, O, I...>) {
            cpu::ArrayForm<Op>::run((in.data + r * in.row_stride)..., o, cols);
          } else {
            for (index_t c = 0; c < cols; ++c) apply_at<C>(op, o + c, (in.data + r * in.row_stride + c)...);
          }
        }
      });
    } else {
      ctx.parallel_for(numel(shape), grain, [&](index_t b, index_t e) {
        for (index_t i = b; i < e; ++i)
          apply_at<C>(op, out.data + strided_offset(i, shape, out.strides),
                      (in.data + strided_offset(i, shape, in.strides))...);
      });
    }
  }
};

}  // namespace fusekit
