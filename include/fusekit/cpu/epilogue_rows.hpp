#pragma once
// cpu::store_row: a GEMM epilogue applied to a span of one output row and stored, stage by stage over the
// span rather than element by element through every stage, so that an activation stage runs in its SIMD
// form (cpu::activation_span; a run-time activation such as katago::ActFn is resolved once per span).
// KataGo's convs end in scale, bias, Mish and the board mask, and the scalar Mish per element cost more
// than the GEMM at 96 channels. The order of operations is GemmParams::output's: alpha, beta, then the
// stages in order. Gated and paired epilogues (two accumulator columns per output) go element by element.
#include <algorithm>
#include <type_traits>

#include "fusekit/core/convert.hpp"
#include "fusekit/cpu/activation_rows.hpp"
#include "fusekit/ops/gemm_epilogue.hpp"

namespace fusekit::cpu {

template <class S> inline constexpr bool is_activation_stage = false;
template <class Op> inline constexpr bool is_activation_stage<epi::Activation<Op>> = true;

// Output columns [o0, o1) of row `row` of batch entry b; acc[i] is accumulator column o0 + i (gated
// epilogues: acc[j] is column j, from column 0, as both of an output's columns are needed).
template <class P>
void store_row(const P& p, index_t b, index_t row, const float* acc, index_t o0, index_t o1) {
  using O = typename P::out_type;
  if constexpr (P::epilogue_type::gated) {
    auto at = [&](index_t col) { return acc[col]; };
    for (index_t o = o0; o < o1; ++o) *p.c.at(b, row, o) = convert<O>(p.output(at, b, row, o));
  } else if constexpr (P::epilogue_type::paired) {  // a column's partner sits beside it in the span
    auto at = [&](index_t col) { return acc[col - o0]; };
    for (index_t o = o0; o < o1; ++o) *p.c.at(b, row, o) = convert<O>(p.output(at, b, row, o));
  } else {
    constexpr index_t chunk = 256;  // on the stack: two spans of the row at a time (and a third for a
    float x[chunk], y[chunk], z[chunk];  // stage that stores a NormAct'ed copy)
    for (index_t c0 = o0; c0 < o1; c0 += chunk) {
      const index_t n = std::min(chunk, o1 - c0);
      float* v = x;
      float* spare = y;
      for (index_t i = 0; i < n; ++i) v[i] = p.alpha * acc[c0 - o0 + i];
      if (p.beta != 0.f)
        for (index_t i = 0; i < n; ++i) v[i] += p.beta * to_float(*p.c.at(b, row, c0 + i));
      p.epi.for_each([&](const auto& stage, int) {
        using S = std::remove_cvref_t<decltype(stage)>;
        if constexpr (is_activation_stage<S>) {
          activation_span(stage.op, v, spare, n);
          std::swap(v, spare);
        } else if constexpr (requires { requires S::stores_norm_act; }) {  // epi::store_norm_act, v unchanged
          for (index_t i = 0; i < n; ++i) spare[i] = v[i] * stage.sb.s[c0 + i] + stage.sb.b[c0 + i];
          activation_span(stage.act, spare, z, n);
          const float m = stage.mask_at(EpiCoord{b, row, c0});
          for (index_t i = 0; i < n; ++i) *stage.at_dst(EpiCoord{b, row, c0 + i}) = convert<std::remove_pointer_t<decltype(stage.dst)>>(z[i] * m);
        } else {
          for (index_t i = 0; i < n; ++i) v[i] = stage(v[i], EpiCoord{b, row, c0 + i});
        }
      });
      for (index_t i = 0; i < n; ++i) *p.c.at(b, row, c0 + i) = convert<O>(v[i]);
    }
  }
}

}  // namespace fusekit::cpu
