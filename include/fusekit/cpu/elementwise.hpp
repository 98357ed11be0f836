#pragma once
// CPU elementwise engine: a dense loop when every operand is contiguous with the output's shape (the
// compiler vectorises it), otherwise a strided loop; both split across the context's threads.
#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/ops/operand.hpp"
#include "fusekit/ops/tags.hpp"

namespace fusekit {

template <>
struct OpImpl<op::Elementwise, CpuBackend> {
  template <class C, class Op, class O, std::size_t R, class... I>
  static void run(const cpu::Context& ctx, const Op& op, const Extents<R>& shape, bool dense, Operand<O, R> out,
                  Operand<I, R>... in) {
    const index_t n = numel(shape);
    constexpr index_t grain = 1 << 14;
    if (dense) {
      ctx.parallel_for(n, grain, [&](index_t b, index_t e) {
        for (index_t i = b; i < e; ++i) apply_at<C>(op, out.data + i, (in.data + i)...);
      });
    } else {
      ctx.parallel_for(n, grain, [&](index_t b, index_t e) {
        for (index_t i = b; i < e; ++i)
          apply_at<C>(op, out.data + strided_offset(i, shape, out.strides),
                      (in.data + strided_offset(i, shape, in.strides))...);
      });
    }
  }
};

}  // namespace fusekit
