#pragma once
// GPU elementwise engine: one templated kernel for every out = f(in...) op. The dense variant indexes
// linearly; the strided variant unravels the row-major index (broadcasting = stride 0).
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/ops/operand.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {

template <class C, bool kDense, class Op, class O, std::size_t R, class... I>
FUSEKIT_GLOBAL void elementwise(index_t n, Extents<R> shape, Op op, Operand<O, R> out, Operand<I, R>... in) {
  const index_t step = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    if constexpr (kDense) {
      apply_at<C>(op, out.data + i, (in.data + i)...);
    } else {
      apply_at<C>(op, out.data + strided_offset(i, shape, out.strides),
                  (in.data + strided_offset(i, shape, in.strides))...);
    }
  }
}

}  // namespace kernels

template <>
struct OpImpl<op::Elementwise, HipBackend> {
  template <class C, class Op, class O, std::size_t R, class... I>
  static void run(const hip::Stream& s, const Op& op, const Extents<R>& shape, bool dense, Operand<O, R> out,
                  Operand<I, R>... in) {
    constexpr int block = 256;
    const index_t n = numel(shape);
    const dim3 grid(hip::grid_for(n, block, s.device()));
    if (dense)
      hip::launch("elementwise(dense)", kernels::elementwise<C, true, Op, O, R, I...>, grid, dim3(block), 0, s, n,
                  shape, op, out, in...);
    else
      hip::launch("elementwise(strided)", kernels::elementwise<C, false, Op, O, R, I...>, grid, dim3(block), 0, s,
                  n, shape, op, out, in...);
  }
};

}  // namespace fusekit
#endif
