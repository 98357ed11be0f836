#pragma once
// GPU elementwise engine: one templated kernel family for every out = f(in...) op.
//  rows:     every operand is [rows, cols] with a dense inner dimension (any row stride, 0 for a
//            broadcast row); each thread moves kVec elements per operand with vector loads and stores.
//            Needs cols % kVec == 0 and every row start aligned to the operand's vector.
//  strided:  anything else: unravel the row-major index per element (broadcasting = stride 0).
#include <algorithm>
#include <type_traits>

#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/backend/hip/vec.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/ops/operand.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {

using gpu::Vec;

template <class C, class Op, class O, std::size_t R, class... I>
FUSEKIT_GLOBAL void elementwise_strided(index_t n, Extents<R> shape, Op op, Operand<O, R> out, Operand<I, R>... in) {
  const index_t step = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    apply_at<C>(op, out.data + strided_offset(i, shape, out.strides),
                (in.data + strided_offset(i, shape, in.strides))...);
}

template <class C, int kVec, class Op, class O, class... L>
FUSEKIT_DEVICE inline void apply_lanes(const Op& op, Vec<O, kVec>& y, const L&... lanes) {
  FUSEKIT_UNROLL
  for (int k = 0; k < kVec; ++k) y.v[k] = convert<O>(op(convert<C>(lanes.v[k])...));
}

// chunks = rows * cols / kVec; chunk q covers row q / (cols / kVec), columns kVec * (q % (cols / kVec)) ...
template <class C, int kVec, class Op, class O, std::size_t R, class... I>
FUSEKIT_GLOBAL void elementwise_rows(index_t chunks, index_t chunks_per_row, Op op, Operand<O, R> out,
                                     Operand<I, R>... in) {
  using std::remove_const_t;
  const index_t step = static_cast<index_t>(gridDim.x) * blockDim.x;
  for (index_t q = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; q < chunks; q += step) {
    const index_t row = q / chunks_per_row;
    const index_t col = (q - row * chunks_per_row) * kVec;
    // every input's vector is loaded (as an argument) before any is used
    auto load = [&](auto operand) {
      using T = remove_const_t<std::remove_pointer_t<decltype(operand.data)>>;
      return *reinterpret_cast<const Vec<T, kVec>*>(operand.data + row * operand.row_stride + col);
    };
    Vec<O, kVec> y;
    apply_lanes<C, kVec>(op, y, load(in)...);
    *reinterpret_cast<Vec<O, kVec>*>(out.data + row * out.row_stride + col) = y;
  }
}

}  // namespace kernels

template <>
struct OpImpl<op::Elementwise, HipBackend> {
  static constexpr int vec = 8;  // elements per thread in rows mode (16 bytes of 16-bit data)

  template <class C, class Op, class O, std::size_t R, class... I>
  static void run(const hip::Stream& s, const Op& op, const Extents<R>& shape, const ElementwiseLayout& layout,
                  Operand<O, R> out, Operand<I, R>... in) {
    constexpr int block = 256;
    if (layout.rows_mode && layout.cols % vec == 0 && aligned(out) && (aligned(in) && ...)) {
      const index_t chunks = layout.rows * layout.cols / vec;
      // One chunk per thread (no grid-stride cap): many independent 16-byte loads in flight per SM.
      const dim3 grid(static_cast<unsigned>(std::min<index_t>((chunks + block - 1) / block, 0x7fffffff)));
      hip::launch("elementwise(rows)", kernels::elementwise_rows<C, vec, Op, O, R, I...>, grid, dim3(block), 0, s,
                  chunks, layout.cols / vec, op, out, in...);
      return;
    }
    const index_t n = numel(shape);
    const dim3 grid(hip::grid_for(n, block, s.device()));
    hip::launch("elementwise(strided)", kernels::elementwise_strided<C, Op, O, R, I...>, grid, dim3(block), 0, s, n,
                shape, op, out, in...);
  }

 private:
  template <class T, std::size_t R>
  static bool aligned(const Operand<T, R>& o) {
    return reinterpret_cast<std::uintptr_t>(o.data) % (sizeof(T) * vec) == 0 && o.row_stride % vec == 0;
  }
};

}  // namespace fusekit
#endif
