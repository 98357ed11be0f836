#pragma once
// GPU elementwise engine: one templated kernel family for every out = f(in...) op.
//  rows:     every operand is [rows, cols] with a dense inner dimension (any row stride, 0 for a
//            broadcast row); each thread moves kVec elements per operand with vector loads and stores.
//            Needs cols % kVec == 0 and every row start aligned to the operand's vector.
//  strided:  anything else: unravel the row-major index per element (broadcasting = stride 0).
// Both are launched dependent (hip::launch_dependent, see kernels/norm.hpp).
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "fusekit/backend/hip/fast_divmod.hpp"
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/backend/hip/vec.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/ops/activation_functors.hpp"
#include "fusekit/ops/operand.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {

using gpu::Vec;

template <class C, class Op, class O, std::size_t R, class... I>
FUSEKIT_GLOBAL void elementwise_strided(index_t n, Extents<R> shape, Op op, Operand<O, R> out, Operand<I, R>... in) {
  gpu::wait_for_prior_grid();  // launched dependent: nothing before this touches memory
  gpu::allow_dependent_launch();
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

// kUnroll vectors per thread and operand, each operand's loads issued before any arithmetic.
template <class T, int kVec, int kUnroll>
struct Lanes {
  Vec<T, kVec> v[kUnroll];
};

// Row of chunk q: a FastDivmod for 32-bit indices, a plain division for 64-bit ones.
struct RowOfChunk64 {
  index_t chunks_per_row;
  FUSEKIT_DEVICE index_t div(index_t q) const { return q / chunks_per_row; }
  FUSEKIT_DEVICE index_t divisor_value() const { return chunks_per_row; }
};
template <class Idx>
using RowOfChunk = std::conditional_t<std::is_same_v<Idx, std::uint32_t>, gpu::FastDivmod, RowOfChunk64>;

// chunks = rows * cols / kVec; chunk q covers row q / chunks_per_row, columns kVec * (q % chunks_per_row)
// onwards. Thread t takes chunks t, t + step, ..., (kUnroll of them, step = the grid's thread count), so
// each load instruction stays fully coalesced. Idx is 32-bit when the chunk count allows, and the row
// is found by multiply-high and shift (gpu::FastDivmod). Blocks whose chunks all exist (all but the
// grid's last) run without per-load bounds checks: branches around the loads measured 3.5% slower on
// H200 in the RMSNorm kernel, whose blocks likewise live for about one load round trip.
template <class C, int kVec, int kUnroll, class Idx, class Op, class O, std::size_t R, class... I>
FUSEKIT_GLOBAL void elementwise_rows(Idx chunks, RowOfChunk<Idx> rows_of, Op op, Operand<O, R> out,
                                     Operand<I, R>... in) {
  using std::remove_const_t;
  gpu::wait_for_prior_grid();  // launched dependent: nothing before this touches memory
  gpu::allow_dependent_launch();
  const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
  const Idx q0 = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x;
  const Idx chunks_per_row = static_cast<Idx>(rows_of.divisor_value());
  auto offset = [&](Idx q, index_t row_stride) {
    const Idx row = static_cast<Idx>(rows_of.div(q));
    return static_cast<index_t>(row) * row_stride + static_cast<index_t>(q - row * chunks_per_row) * kVec;
  };
  auto body = [&](auto checked) {
    auto exists = [&](Idx q) { return !decltype(checked)::value || q < chunks; };
    auto load = [&](auto operand) {
      using T = remove_const_t<std::remove_pointer_t<decltype(operand.data)>>;
      Lanes<T, kVec, kUnroll> l;
      FUSEKIT_UNROLL
      for (int u = 0; u < kUnroll; ++u) {
        const Idx q = q0 + static_cast<Idx>(u) * step;
        if (exists(q)) l.v[u] = *reinterpret_cast<const Vec<T, kVec>*>(operand.data + offset(q, operand.row_stride));
      }
      return l;
    };
    // every operand is loaded (as an argument) before the lambda body computes
    [&](const auto&... lanes) {
      FUSEKIT_UNROLL
      for (int u = 0; u < kUnroll; ++u) {
        const Idx q = q0 + static_cast<Idx>(u) * step;
        if (!exists(q)) break;
        Vec<O, kVec> y;
        apply_lanes<C, kVec>(op, y, lanes.v[u]...);
        *reinterpret_cast<Vec<O, kVec>*>(out.data + offset(q, out.row_stride)) = y;
      }
    }(load(in)...);
  };
  const Idx block_last = static_cast<Idx>(blockIdx.x) * blockDim.x + (blockDim.x - 1) + static_cast<Idx>(kUnroll - 1) * step;
  if (block_last < chunks) body(std::false_type{});  // block-uniform branch
  else body(std::true_type{});
}

// Launches elementwise_rows with kUnroll chunks per thread (32-bit indices when they fit).
template <class C, int kVec, int kUnroll, class Op, class O, std::size_t R, class... I>
void launch_rows(const hip::Stream& s, index_t chunks, index_t chunks_per_row, const Op& op, Operand<O, R> out,
                 Operand<I, R>... in) {
  constexpr int block = 256;
  const index_t threads = (chunks + kUnroll - 1) / kUnroll;
  const dim3 grid(static_cast<unsigned>(std::min<index_t>((threads + block - 1) / block, 0x7fffffff)));
  if (chunks == 0) return;
  // 32-bit indices while the last thread's last chunk index stays below 2^31 (FastDivmod's range)
  if ((threads + block) * kUnroll < (index_t{1} << 31))
    hip::launch_dependent("elementwise(rows)", elementwise_rows<C, kVec, kUnroll, std::uint32_t, Op, O, R, I...>, grid, dim3(block),
                0, s, static_cast<std::uint32_t>(chunks), gpu::FastDivmod(static_cast<std::uint32_t>(chunks_per_row)), op,
                out, in...);
  else
    hip::launch_dependent("elementwise(rows)", elementwise_rows<C, kVec, kUnroll, index_t, Op, O, R, I...>, grid, dim3(block), 0,
                s, chunks, RowOfChunk64{chunks_per_row}, op, out, in...);
}

}  // namespace kernels

template <>
struct OpImpl<op::Elementwise, HipBackend> {
  // Elements per thread in rows mode: 8 (16 bytes of 16-bit data), 16 for arithmetic-heavy functors of
  // one input (H200: Mish 84% -> 92% of copy; GELU-tanh * up, two inputs, 88% with 8 and 82% with 16).
  // One chunk per thread: on H200, 2 or 4 chunks per thread (a grid apart) measured slower for the
  // two-input gated ops (84% -> 71% of copy bandwidth) and no better for Mish (docs/performance.md).
  static constexpr int vec = 8;

  template <class C, class Op, class O, std::size_t R, class... I>
  static void run(const hip::Stream& s, const Op& op, const Extents<R>& shape, const ElementwiseLayout& layout,
                  Operand<O, R> out, Operand<I, R>... in) {
    constexpr int block = 256;
    if constexpr (act::arithmetic_heavy<Op>() && sizeof...(I) == 1) {
      constexpr int wide = 2 * vec;
      if (layout.rows_mode && layout.cols % wide == 0 && aligned<wide>(out) && (aligned<wide>(in) && ...)) {
        kernels::launch_rows<C, wide, 1>(s, layout.rows * layout.cols / wide, layout.cols / wide, op, out, in...);
        return;
      }
    }
    if (layout.rows_mode && layout.cols % vec == 0 && aligned<vec>(out) && (aligned<vec>(in) && ...)) {
      kernels::launch_rows<C, vec, 1>(s, layout.rows * layout.cols / vec, layout.cols / vec, op, out, in...);
      return;
    }
    const index_t n = numel(shape);
    const dim3 grid(hip::grid_for(n, block, s.device()));
    hip::launch_dependent("elementwise(strided)", kernels::elementwise_strided<C, Op, O, R, I...>, grid, dim3(block), 0, s, n,
                shape, op, out, in...);
  }

 private:
  template <int kVec, class T, std::size_t R>
  static bool aligned(const Operand<T, R>& o) {
    return reinterpret_cast<std::uintptr_t>(o.data) % (sizeof(T) * kVec) == 0 && o.row_stride % kVec == 0;
  }
};

}  // namespace fusekit
#endif
