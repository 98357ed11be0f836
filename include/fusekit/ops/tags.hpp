#pragma once
// Op tags: the first parameter of OpImpl<Op, Backend>. One per kernel family.
namespace fusekit::op {
struct Elementwise {};  // fill, copy/cast, add, ... : out = f(in...) with broadcasting
struct RmsNorm {};      // row RMS normalisation, optional fused residual add
struct LayerNorm {};    // row mean/variance normalisation with bias, optional fused residual add
}  // namespace fusekit::op
