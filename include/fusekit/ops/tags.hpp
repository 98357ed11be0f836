#pragma once
// Op tags: the first parameter of OpImpl<Op, Backend>. One per kernel family.
namespace fusekit::op {
struct Elementwise {};  // fill, copy/cast, add, ... : out = f(in...) with broadcasting
struct RmsNorm {};      // row RMS normalisation, optional fused residual add
struct LayerNorm {};    // row mean/variance normalisation with bias, optional fused residual add
struct NormAct {};      // per-channel scale + bias, activation, board mask (KataGo), NCHW or NHWC
struct Softmax {};      // softmax / log-softmax over the last axis with optional masks
struct GlobalPool {};   // KataGo's masked global pooling over H x W
struct Rope {};         // rotary position embedding, optionally writing into a KV cache
struct Gemm {};         // C = epilogue(alpha A B + beta C), strided batches
struct Conv {};         // 2-D convolution (implicit GEMM / Winograd) with input prologue and epilogue
struct Attention {};    // softmax(q k^T) v without the score matrix: prefill and KV-cache decode
struct Embedding {};    // rows of a table gathered by token id, scaled
struct AdaptiveRmsNorm {};  // RMSNorm modulated per batch entry: * (1 + scale[b]) + shift[b] (pi0.5)
}  // namespace fusekit::op
