#pragma once
// Front end shared by the elementwise ops: space checks, numpy broadcasting, dispatch to the backend.
#include <type_traits>

#include "fusekit/core/backend.hpp"
#include "fusekit/core/format.hpp"
#include "fusekit/core/tensor_view.hpp"
#include "fusekit/cpu/elementwise.hpp"
#include "fusekit/ops/operand.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/kernels/elementwise.hpp"
#endif

namespace fusekit::detail {

// "No tensor" for the optional arguments of the fused ops (residual, bias, mask, ...).
inline constexpr const std::nullptr_t* none = nullptr;

template <class Ctx, class View>
constexpr void require_space() {
  static_assert(std::is_same_v<typename View::space, typename Ctx::space>,
                "fusekit: a tensor lives in another memory space than the context runs on (device tensors "
                "go with hip::Stream, host tensors with cpu::Context): move it with to_device()/to_host() first");
}

// An input operand broadcast to `out`: equal extents keep their stride, extent 1 gets stride 0.
template <class T, std::size_t R, class S>
Operand<const T, R> broadcast_to(const char* op, const char* name, const TensorView<T, R, S>& v,
                                 const Shape<R>& out) {
  Strides<R> st{};
  for (std::size_t d = 0; d < R; ++d) {
    if (v.size(d) == out[d]) st[d] = v.stride(d);
    else if (v.size(d) == 1) st[d] = 0;
    else
      fail("{}: tensor '{}' of shape {} ({}) cannot be broadcast to the output shape {} (dimension {})", op, name,
           v.shape(), dtype_of<T>, out, d);
  }
  return {v.data(), st, 0};
}

// Runs out = op(in...) elementwise: rows mode when every operand reads as rows, strided mode otherwise.
template <class C, class Ctx, class Op, class O, std::size_t R, class S, class... I>
void run_elementwise(Ctx& ctx, const Op& op, const TensorView<O, R, S>& out, Operand<const I, R>... in) {
  if (out.empty()) return;
  Operand<O, R> o{out.data(), out.strides(), 0};
  const bool rows_mode =
      as_rows(out.shape(), o.strides, o.row_stride) && (as_rows(out.shape(), in.strides, in.row_stride) && ...);
  const index_t cols = out.size(R - 1);
  const ElementwiseLayout layout{rows_mode, out.numel() / cols, cols};
  OpImpl<op::Elementwise, backend_of<Ctx>>::template run<C>(ctx, op, out.shape(), layout, o, in...);
}

}  // namespace fusekit::detail
