#pragma once
// GEMM/conv epilogues: small functors composed into a chain that every backend applies to the fp32
// accumulator of each output element, in order:
//
//   v = alpha * acc (+ beta * C)                       (beta only without a gate)
//   v = stage_1(v, at), stage_2(v, at), ...            stages before a Gate see accumulator columns
//   out = Gate(v[gate column], v[up column])           optional: halves the width (GeGLU / SwiGLU)
//   v = stage_k(v, at), ...                            stages after the Gate see output columns
//   C = convert<O>(v)
//
// A pair stage (epi::rope, ops/gemm_epilogue_rope.hpp) is the other kind of two-column stage: output
// column c combines v[c] with v[partner(c)] (both through the stages before it) and keeps the width.
// An epilogue has at most one gate or pair stage.
//
// Stages (namespace epi, built from views so that the front end can check dtype, shape and space):
//   epi::bias(b)               v + b[col]                       b: fp32 [cols]
//   epi::scale_bias(s, b)      v * s[col] + b[col]              folded batch norm; fp32 [cols]
//   epi::activation<Op>()      Op(v)                            any act:: functor
//   epi::gate<Op>(layout)      Op(gate) * up                    [gate | up] concatenated or interleaved
//   epi::residual(r)           v + r(row, col)                  r: [M, cols] or [batch, M, cols], any float
//                                                               dtype; for conv2d an (N, C, H, W) image
//   epi::board_mask(mask)      v * mask[n, 0, h, w]             conv2d only: the (N, 1, H, W) board mask
// Per-column vectors are fp32: they are tiny, and loaders convert them once.
//
// Column plans: a stage may split its work into what depends on the column only, plan(col), and the
// rest, apply(v, at, plan) (equal to stage(v, at)). A kernel that stores many rows of the same columns
// (kernels/gemm_tile.hpp: store_tile) takes every stage's plan once per column (Epilogue::plan) instead
// of redoing the column arithmetic and parameter loads for every row; per-element callers compute the
// plan on the spot, so both go through the same code.
#include <cstddef>
#include <initializer_list>
#include <type_traits>
#include <utility>

#include "fusekit/core/convert.hpp"
#include "fusekit/core/format.hpp"
#include "fusekit/core/matrix_ref.hpp"
#include "fusekit/core/tensor_view.hpp"
#include "fusekit/ops/activation_functors.hpp"

namespace fusekit {

// How the gate and up halves of a gated projection sit in the accumulator's columns.
//   concatenated: [gate_0 .. gate_{n-1} | up_0 .. up_{n-1}]   (HF checkpoints fused by concatenation)
//   interleaved:  [gate_0, up_0, gate_1, up_1, ...]
enum class GateLayout { concatenated, interleaved };

// Where an epilogue stage is applied: batch entry, row, and column (accumulator or output column).
struct EpiCoord {
  index_t batch, row, col;
};

// What a stage sees, for the front end's checks: the extents and which columns (accumulator or output).
struct EpiExtents {
  const char* op;
  index_t batch, rows, cols;
  const char* where;
};

namespace epi {

// A per-column fp32 vector.
struct ColumnVector {
  const float* data;
  index_t stride;
  index_t size;
  FUSEKIT_HOST_DEVICE float operator[](index_t c) const { return data[c * stride]; }
};

template <class Space>
struct Bias {
  using space = Space;
  ColumnVector b;
  struct Plan {
    float b;
  };
  FUSEKIT_HOST_DEVICE Plan plan(index_t col) const { return {b[col]}; }
  FUSEKIT_HOST_DEVICE float apply(float v, EpiCoord, const Plan& pl) const { return v + pl.b; }
  FUSEKIT_HOST_DEVICE float operator()(float v, EpiCoord at) const { return apply(v, at, plan(at.col)); }
  void check(const EpiExtents& e) const {
    FUSEKIT_CHECK(b.size == e.cols, "{}: bias has {} elements but the {} has {} columns", e.op, b.size, e.where, e.cols);
  }
};

template <class Space>
struct ScaleBias {
  using space = Space;
  ColumnVector s, b;
  struct Plan {
    float s, b;
  };
  FUSEKIT_HOST_DEVICE Plan plan(index_t col) const { return {s[col], b[col]}; }
  FUSEKIT_HOST_DEVICE float apply(float v, EpiCoord, const Plan& pl) const { return v * pl.s + pl.b; }
  FUSEKIT_HOST_DEVICE float operator()(float v, EpiCoord at) const { return apply(v, at, plan(at.col)); }
  void check(const EpiExtents& e) const {
    FUSEKIT_CHECK(s.size == e.cols && b.size == e.cols,
                  "{}: scale_bias has scale of {} and bias of {} elements but the {} has {} columns", e.op, s.size,
                  b.size, e.where, e.cols);
  }
};

template <class Op>
struct Activation {
  using space = void;  // no tensor
  Op op;
  FUSEKIT_HOST_DEVICE float operator()(float v, EpiCoord) const { return op(v); }
  void check(const EpiExtents&) const {}
};

template <class Op>
struct Gate {
  using space = void;
  Op op;
  GateLayout layout;
  FUSEKIT_HOST_DEVICE float combine(float gate, float up) const { return op(gate) * up; }
};

template <class T, class Space>
struct Residual {
  using space = Space;
  MatrixRef<const T> r;
  index_t batch_stride;
  index_t batch, rows, cols;  // extents, for check
  FUSEKIT_HOST_DEVICE float operator()(float v, EpiCoord at) const {
    return v + to_float(r.data[at.batch * batch_stride + at.row * r.row_stride + at.col * r.col_stride]);
  }
  void check(const EpiExtents& e) const {
    FUSEKIT_CHECK(cols == e.cols, "{}: residual has {} columns but the {} has {} columns", e.op, cols, e.where, e.cols);
    FUSEKIT_CHECK(rows == e.rows && (batch == 1 || batch == e.batch),
                  "{}: residual is [{}, {}, {}] but the output is [{}, {}, {}]", e.op, batch, rows, cols, e.batch,
                  e.rows, e.cols);
  }
};

// r + gate[batch, col] * v: a gated residual (pi0.5's adaptive norms gate each sublayer per batch entry).
template <class T, class G, class Space>
struct GatedResidual {
  using space = Space;
  Residual<T, Space> res;
  MatrixRef<const G> gate;  // [batch, cols]
  index_t gate_rows, gate_cols;
  FUSEKIT_HOST_DEVICE float operator()(float v, EpiCoord at) const {
    return res(to_float(gate(at.batch, at.col)) * v, at);
  }
  void check(const EpiExtents& e) const {
    res.check(e);
    FUSEKIT_CHECK(gate_rows == e.batch && gate_cols == e.cols,
                  "{}: the gate is [{}, {}] but the output has {} batch entries of {} columns", e.op, gate_rows, gate_cols,
                  e.batch, e.cols);
  }
};

// v * mask at the output pixel (a conv2d output row = one pixel of one image).
template <class T, class Space>
struct BoardMask {
  using space = Space;
  const T* mask;
  index_t batch_stride, row_stride;
  index_t batch, rows;  // extents, for check
  FUSEKIT_HOST_DEVICE float operator()(float v, EpiCoord at) const {
    return v * to_float(mask[at.batch * batch_stride + at.row * row_stride]);
  }
  void check(const EpiExtents& e) const {
    FUSEKIT_CHECK(batch == e.batch && rows == e.rows, "{}: the board mask covers {} images of {} cells but the output has {} images of {} cells",
                  e.op, batch, rows, e.batch, e.rows);
  }
};

// Rows of a logical (N, C, H, W) image view: the (h, w) pair must collapse into one pixel axis.
template <class V>
void check_pixel_rows(const char* what, const V& v) {
  FUSEKIT_CHECK(v.size(3) <= 1 || v.size(2) <= 1 || v.stride(2) == v.size(3) * v.stride(3),
                "{}: the image's (h, w) must collapse into one pixel axis (stride(h) == W * stride(w)); shape {}, "
                "strides {}", what, v.shape(), v.strides());
}

template <class S>
ColumnVector column_vector(const TensorView<const float, 1, S>& v) {
  return {v.data(), v.stride(0), v.size(0)};
}

template <class V>
auto bias(const V& b) {
  const auto v = b.view().as_const();
  static_assert(std::is_same_v<typename decltype(v)::value_type, float> && decltype(v)::rank == 1,
                "epi::bias: the bias must be a rank-1 fp32 [cols] tensor (convert it once at load time)");
  return Bias<typename decltype(v)::space>{column_vector(v)};
}

// Also the scale and bias of conv2d's input_norm_act.
template <class VS, class VB>
auto scale_bias(const VS& scale, const VB& bias) {
  const auto s = scale.view().as_const();
  const auto b = bias.view().as_const();
  static_assert(std::is_same_v<typename decltype(s)::value_type, float> &&
                    std::is_same_v<typename decltype(b)::value_type, float> && decltype(s)::rank == 1 &&
                    decltype(b)::rank == 1,
                "epi::scale_bias / input_norm_act: scale and bias must be rank-1 fp32 [channels] tensors "
                "(convert them once at load time)");
  static_assert(std::is_same_v<typename decltype(s)::space, typename decltype(b)::space>,
                "epi::scale_bias / input_norm_act: scale and bias must live in one memory space");
  return ScaleBias<typename decltype(s)::space>{column_vector(s), column_vector(b)};
}

template <class Op>
Activation<Op> activation(Op op = {}) {
  return {op};
}

template <class Op>
Gate<Op> gate(GateLayout layout, Op op = {}) {
  return {op, layout};
}

// r: [M, cols] (shared by every batch entry) or [batch, M, cols]; for conv2d a logical (N, C, H, W) image.
template <class V>
auto residual(const V& r) {
  const auto v = r.view().as_const();
  using VT = decltype(v);
  using T = typename VT::value_type;
  static_assert(FloatStorage<T>, "epi::residual: the residual must be f32, f16 or bf16");
  static_assert(VT::rank >= 2 && VT::rank <= 4,
                "epi::residual: the residual must be [M, cols], [batch, M, cols] or an (N, C, H, W) image");
  constexpr std::size_t R = VT::rank;
  if constexpr (R == 4) {
    check_pixel_rows("epi::residual", v);
    return Residual<T, typename VT::space>{
        {v.data(), v.stride(3), v.stride(1)}, v.stride(0), v.size(0), v.size(2) * v.size(3), v.size(1)};
  } else {
    return Residual<T, typename VT::space>{{v.data(), v.stride(R - 2), v.stride(R - 1)},
                                           R == 3 ? v.stride(0) : 0,
                                           R == 3 ? v.size(0) : 1,
                                           v.size(R - 2),
                                           v.size(R - 1)};
  }
}

template <class T, class S, class G, class GS>
GatedResidual<T, G, S> gated_residual_of(const Residual<T, S>& res, const TensorView<const G, 2, GS>& g) {
  static_assert(FloatStorage<G>, "epi::gated_residual: the gate must be f32, f16 or bf16");
  static_assert(std::is_same_v<S, GS>, "epi::gated_residual: the residual and the gate must live in one memory space");
  return {res, {g.data(), g.stride(0), g.stride(1)}, g.size(0), g.size(1)};
}

// r as for residual() ([M, cols] or [batch, M, cols]); gate [batch, cols], any float dtype.
template <class V, class VG>
auto gated_residual(const V& r, const VG& gate) {
  return gated_residual_of(residual(r), gate.view().as_const());
}

// mask: the (N, 1, H, W) board mask (1 on the board, 0 off it), any float dtype.
template <class V>
auto board_mask(const V& mask) {
  const auto v = mask.view().as_const();
  using VT = decltype(v);
  using T = typename VT::value_type;
  static_assert(FloatStorage<T> && VT::rank == 4, "epi::board_mask: the mask must be an (N, 1, H, W) f32/f16/bf16 view");
  FUSEKIT_CHECK(v.size(1) == 1, "epi::board_mask: the mask must be (N, 1, H, W), got {}", v.shape());
  check_pixel_rows("epi::board_mask", v);
  return BoardMask<T, typename VT::space>{v.data(), v.stride(0), v.stride(3), v.size(0), v.size(2) * v.size(3)};
}

template <class S> inline constexpr bool is_gate = false;
template <class Op> inline constexpr bool is_gate<Gate<Op>> = true;
// A pair stage declares `static constexpr bool pairs_columns = true` and has partner(col) (-1: the column
// passes through), combine(v, v_partner, at), and turn(v, w, at) for an even column and its partner
// col + 1 (both results of combine, computed once).
template <class S> inline constexpr bool is_pair = requires { requires S::pairs_columns; };
// A side store (epi::store_norm_act) writes a value derived from v into a second tensor and passes v on;
// it has side_value(v, at, plan), at_dst(at) and col_stride. As the last stage of an epilogue without a
// gate or pair stage, the tiled GPU kernels store 8 columns of it with one vector store (store_tile).
template <class S> inline constexpr bool is_side_store = requires { requires S::side_store; };

// A stage's column plan (NoPlan for stages without one), and the stage applied with it.
struct NoPlan {};
template <class S> inline constexpr bool has_plan = requires(const S& s, index_t c) { s.plan(c); };
template <class S>
FUSEKIT_HOST_DEVICE auto plan_of(const S& s, index_t col) {
  if constexpr (has_plan<S>) return s.plan(col);
  else return (void)s, (void)col, NoPlan{};
}
template <class S> using plan_t = decltype(plan_of(std::declval<const S&>(), index_t{}));
template <class S, class P>
FUSEKIT_HOST_DEVICE float apply_planned(const S& s, float v, EpiCoord at, const P& pl) {
  if constexpr (has_plan<S>) return s.apply(v, at, pl);
  else return (void)pl, s(v, at);
}

}  // namespace epi

// The chain of stages, stored in a tiny tuple that device code can index without std::tuple.
template <class... S>
struct EpiChain;
template <>
struct EpiChain<> {};
template <class H, class... R>
struct EpiChain<H, R...> {
  H head;
  EpiChain<R...> tail;
};

namespace detail {
// Index of the first true flag, -1 if none (the stage chains' trait lists end in a spare false).
constexpr int first_of(std::initializer_list<bool> flags) {
  int i = 0;
  for (bool f : flags) {
    if (f) return i;
    ++i;
  }
  return -1;
}
// Whether the last of the stages is a side store.
template <class... S>
constexpr bool last_is_side_store() {
  bool last = false;
  ((last = epi::is_side_store<S>), ...);
  return last;
}
}  // namespace detail

template <class... S>
struct Epilogue {
  static constexpr std::size_t count = sizeof...(S);
  static constexpr int gate_index = detail::first_of({epi::is_gate<S>..., false});
  static constexpr bool gated = gate_index >= 0;
  static constexpr int pair_index = detail::first_of({epi::is_pair<S>..., false});
  static constexpr bool paired = pair_index >= 0;
  static_assert(((epi::is_gate<S> || epi::is_pair<S> ? 1 : 0) + ... + 0) <= 1,
                "fusekit epilogue: at most one two-column stage (epi::gate, epi::rope) per epilogue");
  // The two-column stage's index (count: none); pre() applies the stages before it, post() those after.
  static constexpr int split_index = gated ? gate_index : paired ? pair_index : static_cast<int>(count);
  // The last stage is a side store (and there is no gate or pair stage): kernels may store it themselves.
  static constexpr bool side_last = !gated && !paired && detail::last_is_side_store<S...>();

  EpiChain<S...> stages;
  // Every stage's plan for one column (gate stages: NoPlan).
  using Plan = EpiChain<epi::plan_t<S>...>;

  FUSEKIT_HOST_DEVICE Plan plan(index_t col) const {
    Plan pl{};
    plan_into<0>(stages, pl, col);
    return pl;
  }
  // Stages before the gate or pair stage (all of them without one), at accumulator column at.col.
  FUSEKIT_HOST_DEVICE float pre(float v, EpiCoord at, const Plan& pl) const {
    return apply<0, 0, split_index>(stages, pl, v, at);
  }
  FUSEKIT_HOST_DEVICE float pre(float v, EpiCoord at) const { return pre(v, at, plan(at.col)); }
  // With side_last: every stage but the last, and the last stage itself and its plan.
  FUSEKIT_HOST_DEVICE float pre_before_side(float v, EpiCoord at, const Plan& pl) const {
    static_assert(side_last, "pre_before_side: for epilogues that end in a side store");
    return apply<0, 0, static_cast<int>(count) - 1>(stages, pl, v, at);
  }
  FUSEKIT_HOST_DEVICE const auto& side_stage() const { return stage<static_cast<int>(count) - 1>(stages); }
  FUSEKIT_HOST_DEVICE static const auto& side_plan(const Plan& pl) { return stage<static_cast<int>(count) - 1>(pl); }
  // Stages after the gate or pair stage (at output columns).
  FUSEKIT_HOST_DEVICE float post(float v, EpiCoord at, const Plan& pl) const {
    if constexpr (gated || paired) return apply<0, split_index + 1, static_cast<int>(count)>(stages, pl, v, at);
    else return (void)pl, v;
  }
  FUSEKIT_HOST_DEVICE float post(float v, EpiCoord at) const {
    if constexpr (gated || paired) return post(v, at, plan(at.col));
    else return v;
  }
  // The pair stage with plans: does even column `pl`'s pair turn, and the turn itself.
  FUSEKIT_HOST_DEVICE bool turns(const Plan& pl) const {
    if constexpr (paired) return stage<pair_index>(pl).turns;
    else return (void)pl, false;
  }
  FUSEKIT_HOST_DEVICE void turn_pair(float& v, float& w, EpiCoord at, const Plan& pl) const {
    if constexpr (paired) stage<pair_index>(stages).turn(v, w, at, stage<pair_index>(pl));
    else (void)v, (void)w, (void)at, (void)pl;
  }
  // The pair stage: the partner of output column col (-1: col passes through), and the combination.
  FUSEKIT_HOST_DEVICE index_t partner(index_t col) const {
    if constexpr (paired) return stage<pair_index>(stages).partner(col);
    else return (void)col, -1;
  }
  FUSEKIT_HOST_DEVICE float combine_pair(float v, float w, EpiCoord at) const {
    if constexpr (paired) return stage<pair_index>(stages).combine(v, w, at);
    else return (void)w, (void)at, v;
  }
  // Both columns of a pair (at.col even, its partner at.col + 1) at once: what combine_pair gives each.
  FUSEKIT_HOST_DEVICE void turn_pair(float& v, float& w, EpiCoord at) const {
    if constexpr (paired) stage<pair_index>(stages).turn(v, w, at);
    else (void)v, (void)w, (void)at;
  }
  FUSEKIT_HOST_DEVICE float combine(float gate, float up) const {
    if constexpr (gated) return stage<gate_index>(stages).combine(gate, up);
    else return gate;
  }
  FUSEKIT_HOST_DEVICE GateLayout gate_layout() const {
    if constexpr (gated) return stage<gate_index>(stages).layout;
    else return GateLayout::concatenated;
  }

  template <int I, class C>
  FUSEKIT_HOST_DEVICE static const auto& stage(const C& c) {
    if constexpr (I == 0) return c.head;
    else return stage<I - 1>(c.tail);
  }

  // Visits every stage on the host (front-end checks): fn(stage, index).
  template <class Fn>
  void for_each(Fn&& fn) const {
    visit<0>(stages, fn);
  }

 private:
  // Applies the stages with index in [Begin, End) with their plans; I is the index of c's head in the
  // whole chain.
  template <int I, int Begin, int End, class C, class P>
  FUSEKIT_HOST_DEVICE static float apply(const C& c, const P& pl, float v, EpiCoord at) {
    if constexpr (I >= End || std::is_same_v<C, EpiChain<>>) {
      return (void)pl, v;
    } else {
      using H = std::remove_cvref_t<decltype(c.head)>;
      if constexpr (I >= Begin && !epi::is_gate<H> && !epi::is_pair<H>) v = epi::apply_planned(c.head, v, at, pl.head);
      return apply<I + 1, Begin, End>(c.tail, pl.tail, v, at);
    }
  }
  template <int I, class C, class P>
  FUSEKIT_HOST_DEVICE static void plan_into(const C& c, P& pl, index_t col) {
    if constexpr (!std::is_same_v<C, EpiChain<>>) {
      pl.head = epi::plan_of(c.head, col);
      plan_into<I + 1>(c.tail, pl.tail, col);
    }
  }
  template <int I, class C, class Fn>
  static void visit(const C& c, Fn& fn) {
    if constexpr (!std::is_same_v<C, EpiChain<>>) {
      fn(c.head, I);
      visit<I + 1>(c.tail, fn);
    }
  }
};

namespace detail {
template <class C, class H, class... R>
void assign_chain(C& c, const H& h, const R&... r) {
  c.head = h;
  if constexpr (sizeof...(R) > 0) assign_chain(c.tail, r...);
}
}  // namespace detail

template <class... S>
Epilogue<S...> make_epilogue(const S&... s) {
  Epilogue<S...> e{};
  if constexpr (sizeof...(S) > 0) detail::assign_chain(e.stages, s...);
  return e;
}

}  // namespace fusekit
