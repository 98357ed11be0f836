#pragma once
// GEMM epilogue stages for attention projections (the chain: ops/gemm_epilogue.hpp), so that a Q|K|V
// projection leaves RoPE'd q in its output and RoPE'd k and v in the KV cache, with no pass of its own:
//
//   epi::rope(positions, head_dim, begin, end[, opts])
//       RoPE on the heads in columns [begin, end): adjacent columns (2i, 2i + 1) of a head are pair i
//       (RopeLayout::interleaved), turned by the row's position as rope() turns them (ops/rope_params.hpp:
//       the same inv_freq table, angle and sin/cos), in fp32 on the accumulators, one rounding.
//       positions: int32/int64 [rows] (every batch entry) or [batch, rows].
//       Checkpoints in the half-split layout (rotate_half: Llama, Gemma) turn pairs (i, i + D/2): permute
//       their q and k weight rows once at load (rope_interleave_row) and use this stage. Attention only
//       takes dot products of q and k rows, which one permutation of both leaves unchanged; q, k and the
//       KV cache then hold heads in that order.
//   epi::store_heads(dst, begin)
//       also stores columns [begin, begin + H * D) into dst [rows, H, D] or [batch, rows, H, D] (the KV
//       cache slots of the projected tokens, say); C keeps its copy of them.
// A pair stage needs each column's partner in the same tile: every backend's tiles start at even
// columns and are an even number of columns wide.
#include <cstdint>
#include <type_traits>

#include "fusekit/core/convert.hpp"
#include "fusekit/core/format.hpp"
#include "fusekit/core/tensor_view.hpp"
#include "fusekit/ops/gemm_epilogue.hpp"
#include "fusekit/ops/rope_params.hpp"

namespace fusekit {
namespace epi {

// Column -> (head, dim) for heads of `dim` columns, in 32-bit arithmetic: a shift and a mask for
// power-of-two head dims (64, 128, 256), a 32-bit division otherwise. Epilogue stages run per output
// element, where a 64-bit division costs more than the GEMM's own store.
struct HeadSplit {
  int dim = 1, shift = 0;  // shift < 0: dim is not a power of two
  static HeadSplit of(index_t d) {
    HeadSplit h{static_cast<int>(d), -1};
    for (int s = 0; s < 31; ++s)
      if (index_t{1} << s == d) h.shift = s;
    return h;
  }
  FUSEKIT_HOST_DEVICE int head(int c) const { return shift >= 0 ? c >> shift : c / dim; }
  FUSEKIT_HOST_DEVICE int in_head(int c) const { return shift >= 0 ? c & (dim - 1) : c % dim; }
};

template <class P, class Space>
struct Rope {
  using space = Space;
  static constexpr bool pairs_columns = true;
  const P* pos;
  index_t pos_batch_stride, pos_row_stride;
  index_t pos_batch, pos_rows;  // extents, for check
  index_t begin, end, head_dim, rotary_dim;
  HeadSplit hs;
  float inv_freq[rope_max_pairs];

  FUSEKIT_HOST_DEVICE index_t partner(index_t col) const {
    if (col < begin || col >= end || hs.in_head(static_cast<int>(col - begin)) >= rotary_dim) return -1;
    return col ^ 1;  // begin and head_dim are even
  }
  // Column plan: whether the column's pair turns, and its frequency.
  struct Plan {
    bool turns;
    float freq;
  };
  FUSEKIT_HOST_DEVICE Plan plan(index_t col) const {
    if (partner(col) < 0) return {false, 0.f};
    return {true, inv_freq[hs.in_head(static_cast<int>(col - begin)) / 2]};
  }
  // The angle's sin and cos at row at.row with the column's frequency.
  FUSEKIT_HOST_DEVICE void sincos_at(EpiCoord at, float freq, float* sn, float* cs) const {
    const float p = static_cast<float>(pos[at.batch * pos_batch_stride + at.row * pos_row_stride]);
    rope_sincos(p * freq, sn, cs);
  }
  // v at column at.col, w at its partner.
  FUSEKIT_HOST_DEVICE float combine(float v, float w, EpiCoord at) const {
    float sn, cs;
    sincos_at(at, plan(at.col).freq, &sn, &cs);
    return at.col % 2 == 0 ? v * cs - w * sn : v * cs + w * sn;  // begin is even: column parity is d's
  }
  // Columns at.col (even) and at.col + 1 of one pair together, one sin/cos: combine() of each.
  FUSEKIT_HOST_DEVICE void turn(float& v, float& w, EpiCoord at, const Plan& pl) const {
    float sn, cs;
    sincos_at(at, pl.freq, &sn, &cs);
    const float v2 = v * cs - w * sn, w2 = w * cs + v * sn;
    v = v2, w = w2;
  }
  FUSEKIT_HOST_DEVICE void turn(float& v, float& w, EpiCoord at) const { turn(v, w, at, plan(at.col)); }
  void check(const EpiExtents& e) const {
    FUSEKIT_CHECK(end <= e.cols, "{}: epi::rope turns columns [{}, {}) but the output has {} columns", e.op, begin, end,
                  e.cols);
    FUSEKIT_CHECK(e.cols < (index_t{1} << 31), "{}: epi::rope takes outputs below 2^31 columns (got {})", e.op, e.cols);
    FUSEKIT_CHECK(pos_rows == e.rows && (pos_batch == 1 || pos_batch == e.batch),
                  "{}: epi::rope has positions for {} batch entries of {} rows but the output is {} of {} rows", e.op,
                  pos_batch, pos_rows, e.batch, e.rows);
  }
};

template <class T, class Space>
struct StoreHeads {
  using space = Space;
  T* dst;
  index_t batch_stride, row_stride, head_stride, dim_stride;
  index_t begin, heads, head_dim;
  index_t batch, rows;  // extents, for check
  HeadSplit hs;
  // Column plan: where the column goes in a row of dst (-1: not one of the stored columns).
  struct Plan {
    index_t offset;
  };
  FUSEKIT_HOST_DEVICE Plan plan(index_t col) const {
    const index_t c = col - begin;
    if (c < 0 || c >= heads * head_dim) return {-1};
    const int c32 = static_cast<int>(c);
    return {index_t{hs.head(c32)} * head_stride + index_t{hs.in_head(c32)} * dim_stride};
  }
  FUSEKIT_HOST_DEVICE float apply(float v, EpiCoord at, const Plan& pl) const {
    if (pl.offset >= 0) dst[at.batch * batch_stride + at.row * row_stride + pl.offset] = convert<T>(v);
    return v;
  }
  FUSEKIT_HOST_DEVICE float operator()(float v, EpiCoord at) const { return apply(v, at, plan(at.col)); }
  void check(const EpiExtents& e) const {
    FUSEKIT_CHECK(e.cols < (index_t{1} << 31), "{}: epi::store_heads takes outputs below 2^31 columns (got {})", e.op, e.cols);
    FUSEKIT_CHECK(begin + heads * head_dim <= e.cols,
                  "{}: epi::store_heads takes columns [{}, {}) but the output has {} columns", e.op, begin,
                  begin + heads * head_dim, e.cols);
    FUSEKIT_CHECK(rows == e.rows && batch == e.batch,
                  "{}: epi::store_heads writes {} batch entries of {} rows but the output is {} of {} rows", e.op, batch,
                  rows, e.batch, e.rows);
  }
};

template <class PV>
auto rope(const PV& positions, index_t head_dim, index_t begin, index_t end, const RopeOptions& opt = {}) {
  const auto v = positions.view().as_const();
  using VT = decltype(v);
  using P = typename VT::value_type;
  static_assert((VT::rank == 1 || VT::rank == 2) && (std::is_same_v<P, std::int32_t> || std::is_same_v<P, std::int64_t>),
                "epi::rope: positions must be an int32 or int64 [rows] or [batch, rows] view");
  const index_t rot = opt.rotary_dim ? opt.rotary_dim : head_dim;
  FUSEKIT_CHECK(opt.layout == RopeLayout::interleaved,
                "epi::rope turns adjacent column pairs (RopeLayout::interleaved); for a half-split checkpoint "
                "permute the q and k weight rows at load (rope_interleave_row) and pass interleaved");
  FUSEKIT_CHECK(head_dim > 0 && head_dim % 2 == 0 && rot % 2 == 0 && rot > 0 && rot <= head_dim && rot <= 2 * rope_max_pairs,
                "epi::rope: head_dim {} and rotary_dim {} must be even, with 0 < rotary_dim <= head_dim and rotary_dim "
                "<= {}", head_dim, rot, 2 * rope_max_pairs);
  FUSEKIT_CHECK(begin >= 0 && begin % 2 == 0 && end >= begin && (end - begin) % head_dim == 0,
                "epi::rope: columns [{}, {}) must start at an even column and hold whole heads of {}", begin, end, head_dim);
  FUSEKIT_CHECK(opt.base > 0.f, "epi::rope: base must be positive (got {})", opt.base);
  Rope<P, typename VT::space> r{};
  r.pos = v.data();
  r.pos_batch_stride = VT::rank == 2 ? v.stride(0) : 0;
  r.pos_row_stride = v.stride(VT::rank - 1);
  r.pos_batch = VT::rank == 2 ? v.size(0) : 1;
  r.pos_rows = v.size(VT::rank - 1);
  r.begin = begin, r.end = end, r.head_dim = head_dim, r.rotary_dim = rot;
  r.hs = HeadSplit::of(head_dim);
  for (index_t j = 0; j < rot / 2; ++j) r.inv_freq[j] = rope_inv_freq(opt.base, j, rot);
  return r;
}

// dst: [rows, H, D] (a GEMM without batch) or [batch, rows, H, D], any float dtype, any strides.
template <class V>
auto store_heads(V&& dst, index_t begin) {
  const auto v = dst.view();
  using VT = decltype(v);
  using T = typename VT::value_type;
  static_assert(FloatStorage<T> && !std::is_const_v<T> && (VT::rank == 3 || VT::rank == 4),
                "epi::store_heads: dst must be a writable f32/f16/bf16 [rows, heads, dim] or [batch, rows, heads, dim] view");
  constexpr std::size_t R = VT::rank;
  FUSEKIT_CHECK(begin >= 0, "epi::store_heads: begin must not be negative (got {})", begin);
  FUSEKIT_CHECK(v.size(R - 1) > 0 && v.size(R - 1) < (index_t{1} << 31), "epi::store_heads: head dim {} out of range",
                v.size(R - 1));
  return StoreHeads<T, typename VT::space>{v.data(),       R == 4 ? v.stride(0) : 0, v.stride(R - 3), v.stride(R - 2),
                                           v.stride(R - 1), begin, v.size(R - 2), v.size(R - 1),
                                           R == 4 ? v.size(0) : 1, v.size(R - 3), HeadSplit::of(v.size(R - 1))};
}

}  // namespace epi

// Half-split to interleaved: row i of the permuted weight is row rope_interleave_row(i) of the original
// (per head of head_dim rows: 2j <- j, 2j + 1 <- j + rotary_dim / 2; rows past rotary_dim stay). Apply
// it to the q and k rows of a Q|K|V weight (and bias) once at load, then use epi::rope.
inline index_t rope_interleave_row(index_t i, index_t head_dim, index_t rotary_dim = 0) {
  const index_t rot = rotary_dim ? rotary_dim : head_dim;
  const index_t head = i / head_dim, d = i % head_dim;
  if (d >= rot) return i;
  return head * head_dim + (d % 2 == 0 ? d / 2 : d / 2 + rot / 2);  // 2j <- j, 2j + 1 <- j + rot / 2
}

}  // namespace fusekit
