#pragma once
// epi::store_norm_act(dst, input_norm_act(scale, bias[, mask], act)): a conv2d epilogue stage that also
// stores the NormAct of the value it sees, act(v * scale[c] + bias[c]) * mask[n, 0, h, w], into dst (an
// (N, C, H, W) image shaped like the output), and passes v on unchanged.
//
// What it is for: a residual stream that the next convolution reads through a NormAct (KataGo's blocks
// start with one). The convolution that writes the stream then writes the next one's input too, instead
// of a separate NormAct pass (or the next conv's staged prologue) reading the stream back. Place it after
// the stages that make the stream's value (e.g. after epi::residual). dst may not overlap the op's
// operands or output (conv2d and gemm check; in a gemm the image's pixels are the output's rows).
#include <type_traits>
#include <utility>

#include "fusekit/core/convert.hpp"
#include "fusekit/core/format.hpp"
#include "fusekit/ops/conv.hpp"

namespace fusekit {
namespace epi {

template <class T, class MaskT, class Space, class Act>
struct StoreNormAct {
  using space = Space;
  static constexpr bool stores_norm_act = true, side_store = true;
  T* dst;
  index_t batch_stride, row_stride, col_stride;  // dst: image, pixel, channel (epi::is_side_store)
  ScaleBias<Space> sb;  // its plan is this stage's
  const MaskT* mask;  // nullptr (or MaskT = void): no mask
  index_t mask_batch_stride, mask_row_stride;
  Act act;
  index_t batch, rows, cols;             // extents, for check
  const char *bytes_lo, *bytes_hi;        // what dst's stores can touch (host: the overlap check)

  using Plan = typename ScaleBias<Space>::Plan;
  FUSEKIT_HOST_DEVICE Plan plan(index_t col) const { return sb.plan(col); }
  FUSEKIT_HOST_DEVICE float mask_at(EpiCoord at) const {
    if constexpr (std::is_void_v<MaskT>) return (void)at, 1.f;
    else return mask ? to_float(mask[at.batch * mask_batch_stride + at.row * mask_row_stride]) : 1.f;
  }
  // The value stored into dst for v at `at`.
  FUSEKIT_HOST_DEVICE float side_value(float v, EpiCoord at, const Plan& pl) const {
    return act(sb.apply(v, at, pl)) * mask_at(at);
  }
  FUSEKIT_HOST_DEVICE T* at_dst(EpiCoord at) const {
    return dst + at.batch * batch_stride + at.row * row_stride + at.col * col_stride;
  }
  FUSEKIT_HOST_DEVICE float apply(float v, EpiCoord at, const Plan& pl) const {
    *at_dst(at) = convert<T>(side_value(v, at, pl));
    return v;
  }
  FUSEKIT_HOST_DEVICE float operator()(float v, EpiCoord at) const { return apply(v, at, plan(at.col)); }
  void check(const EpiExtents& e) const {
    FUSEKIT_CHECK(batch == e.batch && rows == e.rows && cols == e.cols,
                  "{}: epi::store_norm_act writes {} images of {} pixels x {} channels but the {} is {} x {} x {}", e.op,
                  batch, rows, cols, e.where, e.batch, e.rows, e.cols);
    FUSEKIT_CHECK(sb.s.size == e.cols && sb.b.size == e.cols,
                  "{}: epi::store_norm_act has scale of {} and bias of {} elements but the {} has {} channels", e.op,
                  sb.s.size, sb.b.size, e.where, e.cols);
  }
  std::pair<const char*, const char*> written_bytes() const { return {bytes_lo, bytes_hi}; }
};

template <TensorLike V, class MaskT, class Space, class Act>
auto store_norm_act(V&& dst, const InputNormAct<MaskT, Space, Act>& norm) {
  const auto d = dst.view();
  using DV = std::remove_cvref_t<decltype(d)>;
  using T = typename DV::value_type;
  static_assert(DV::rank == 4 && FloatStorage<T> && !std::is_const_v<T>,
                "epi::store_norm_act: dst must be a writable (N, C, H, W) f32/f16/bf16 image");
  static_assert(std::is_same_v<typename DV::space, Space>,
                "epi::store_norm_act: dst and the NormAct's tensors must live in one memory space");
  check_pixel_rows("epi::store_norm_act: dst", d);
  index_t mask_n = 0, mask_px = 0;
  if constexpr (!std::is_void_v<MaskT>) {
    if (norm.mask) {
      const Shape<4>& ms = norm.mask_shape;
      FUSEKIT_CHECK(ms[0] == d.size(0) && ms[1] == 1 && ms[2] == d.size(2) && ms[3] == d.size(3),
                    "epi::store_norm_act: the mask is {} but dst is {}: it must be (N, 1, H, W) of dst's N, H, W", ms,
                    d.shape());
      FUSEKIT_CHECK(ms[2] <= 1 || ms[3] <= 1 || norm.mask_strides[2] == ms[3] * norm.mask_strides[3],
                    "epi::store_norm_act: the mask's (h, w) must collapse into one pixel axis; shape {}, strides {}", ms,
                    norm.mask_strides);
      mask_n = norm.mask_strides[0];
      mask_px = norm.mask_strides[3];
    }
  }
  const auto [lo, hi] = detail::byte_span(d);
  return StoreNormAct<T, MaskT, Space, Act>{d.data(), d.stride(0), d.stride(3), d.stride(1), norm.sb, norm.mask, mask_n, mask_px, norm.act, d.size(0), d.size(2) * d.size(3),
                                            d.size(1), d.empty() ? nullptr : lo, d.empty() ? nullptr : hi};
}

template <class S> inline constexpr bool is_store_norm_act = requires { requires S::stores_norm_act; };

}  // namespace epi
}  // namespace fusekit
