#pragma once
// GPU RoPE: one thread per (token, head, pair) over every tensor of the launch (q heads, then k, then
// v); consecutive threads take consecutive pairs, so the loads of a head are coalesced. Launched
// dependent (hip::launch_dependent, see kernels/norm.hpp).
#include <cstdint>

#include "fusekit/backend/hip/fast_divmod.hpp"
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/backend/hip/vec.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/cpu/rope.hpp"
#include "fusekit/ops/rope_params.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {

using gpu::Vec;

// Thread q's place: work item `item` (of per_head) of head `head` of tensor `tensor`, token `token`.
struct RopeWork {
  std::uint32_t item, token, head;
  int tensor;
};
// Divisions by gpu::FastDivmod: the index math sits before every load of these short-lived threads.
template <class T, class P>
FUSEKIT_DEVICE inline RopeWork rope_work(const RopeParams<T, P>& p, std::uint32_t q, const gpu::FastDivmod& per_head,
                                         const gpu::FastDivmod& heads_all) {
  const std::uint32_t a = per_head.div(q), token = heads_all.div(a);
  RopeWork w{q - a * per_head.divisor_value(), token, a - token * heads_all.divisor_value(), 0};
  while (w.tensor + 1 < p.count && w.head >= p.t[w.tensor].heads)
    w.head -= static_cast<std::uint32_t>(p.t[w.tensor++].heads);
  return w;
}

// The frequency table copied to shared memory by the whole block (every thread must call this): read from
// the kernel parameters, the lanes' different indices would be served one after another (the constant
// cache broadcasts one address at a time; on H200 that made RoPE 2.2x slower).
template <class T, class P>
FUSEKIT_DEVICE inline void stage_inv_freq(const RopeParams<T, P>& p, float* table) {
  for (auto j = static_cast<int>(threadIdx.x); j < p.rotary_dim / 2; j += static_cast<int>(blockDim.x))
    table[j] = p.inv_freq[j];
  __syncthreads();
}

template <class T, class P>
FUSEKIT_GLOBAL void rope_kernel(const FUSEKIT_GRID_CONSTANT RopeParams<T, P> p, std::uint32_t total,
                                gpu::FastDivmod per_head, gpu::FastDivmod heads_all) {
  FUSEKIT_SHARED float inv_freq[rope_max_pairs];
  stage_inv_freq(p, inv_freq);  // from the kernel parameters, so before the wait
  gpu::wait_for_prior_grid();   // launched dependent: nothing before this touches global memory
  gpu::allow_dependent_launch();
  const std::uint32_t q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= total) return;
  const RopeWork w = rope_work(p, q, per_head, heads_all);
  const float pos = static_cast<float>(p.positions[w.token * p.position_stride]);
  rope_apply(p, p.t[w.tensor], w.token, w.head, w.item, pos, inv_freq);
}

// Dense heads (inner stride 1, 16-byte aligned rows, rotary_dim == head_dim, head_dim % 8 == 0): thread
// t of a head moves 4 pairs: half_split elements [4t, 4t + 4) and [4t + D/2, ...) (8-byte vectors,
// threads t < D/8), interleaved elements [8t, 8t + 8); a copied tensor moves [8t, 8t + 8).
template <class T, class P>
FUSEKIT_GLOBAL void rope_vector(const FUSEKIT_GRID_CONSTANT RopeParams<T, P> p, std::uint32_t total,
                                gpu::FastDivmod per_head, gpu::FastDivmod heads_all) {
  FUSEKIT_SHARED float inv_freq[rope_max_pairs];
  stage_inv_freq(p, inv_freq);  // from the kernel parameters, so before the wait
  gpu::wait_for_prior_grid();   // launched dependent: nothing before this touches global memory
  gpu::allow_dependent_launch();
  const std::uint32_t q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= total) return;
  const RopeWork w = rope_work(p, q, per_head, heads_all);
  const std::uint32_t t = w.item;
  const RopeTensor<T>& rt = p.t[w.tensor];
  const T* src = rt.src + w.token * rt.src_strides[0] + w.head * rt.src_strides[1];
  T* dst = rt.dst + w.token * rt.dst_strides[0] + w.head * rt.dst_strides[1];
  const float pos = static_cast<float>(p.positions[w.token * p.position_stride]);
  auto rotate = [&](float a, float b, std::uint32_t j, float& ya, float& yb) {
    float sn, cs;
    rope_sincos(pos * inv_freq[j], &sn, &cs);
    ya = a * cs - b * sn;
    yb = b * cs + a * sn;
  };
  if (rt.rotate && p.layout == RopeLayout::half_split) {
    const auto half = static_cast<std::uint32_t>(p.head_dim / 2);
    using V4 = Vec<T, 4>;
    const V4 a = *reinterpret_cast<const V4*>(src + 4 * t), b = *reinterpret_cast<const V4*>(src + 4 * t + half);
    V4 ya, yb;
    FUSEKIT_UNROLL
    for (int k = 0; k < 4; ++k) {
      float fa, fb;
      rotate(to_float(a.v[k]), to_float(b.v[k]), 4 * t + k, fa, fb);
      ya.v[k] = convert<T>(fa);
      yb.v[k] = convert<T>(fb);
    }
    *reinterpret_cast<V4*>(dst + 4 * t) = ya;
    *reinterpret_cast<V4*>(dst + 4 * t + half) = yb;
    return;
  }
  using V8 = Vec<T, 8>;
  const V8 x = *reinterpret_cast<const V8*>(src + 8 * t);
  V8 y = x;
  if (rt.rotate) {
    FUSEKIT_UNROLL
    for (int k = 0; k < 4; ++k) {
      float fa, fb;
      rotate(to_float(x.v[2 * k]), to_float(x.v[2 * k + 1]), 4 * t + k, fa, fb);
      y.v[2 * k] = convert<T>(fa);
      y.v[2 * k + 1] = convert<T>(fb);
    }
  }
  *reinterpret_cast<V8*>(dst + 8 * t) = y;
}

}  // namespace kernels

template <>
struct OpImpl<op::Rope, HipBackend> {
  template <class T, class P>
  static void run(const hip::Stream& s, const RopeParams<T, P>& p) {
    index_t heads = 0;
    for (int i = 0; i < p.count; ++i) heads += p.t[i].heads;
    const index_t total = p.tokens * heads * (p.head_dim / 2);
    FUSEKIT_CHECK(total < (index_t{1} << 32), "rope: {} pairs exceed one launch (2^32)", total);
    FUSEKIT_CHECK(p.tokens * heads * p.head_dim < (index_t{1} << 31), "rope: {} tokens x {} heads exceed 2^31 elements",
                  p.tokens, heads);
    constexpr int block = 256;
    if (total == 0) return;  // (FastDivmod takes no zero divisor)
    const gpu::FastDivmod heads_all(static_cast<std::uint32_t>(heads));
    if (vectorizable(p)) {
      const index_t vectors = p.tokens * heads * (p.head_dim / 8);
      hip::launch_dependent("rope(vector)", kernels::rope_vector<T, P>, dim3(static_cast<unsigned>((vectors + block - 1) / block)),
                  dim3(block), 0, s, p, static_cast<std::uint32_t>(vectors),
                  gpu::FastDivmod(static_cast<std::uint32_t>(p.head_dim / 8)), heads_all);
      return;
    }
    hip::launch_dependent("rope", kernels::rope_kernel<T, P>, dim3(static_cast<unsigned>((total + block - 1) / block)), dim3(block),
                0, s, p, static_cast<std::uint32_t>(total), gpu::FastDivmod(static_cast<std::uint32_t>(p.head_dim / 2)),
                heads_all);
  }

 private:
  template <class T, class P>
  static bool vectorizable(const RopeParams<T, P>& p) {
    if (p.rotary_dim != p.head_dim || p.head_dim % 8 != 0) return false;
    auto dense = [](const T* q, const Strides<3>& st) {
      return st[2] == 1 && st[0] % 8 == 0 && st[1] % 8 == 0 && reinterpret_cast<std::uintptr_t>(q) % (8 * sizeof(T)) == 0;
    };
    for (int i = 0; i < p.count; ++i)
      if (!dense(p.t[i].src, p.t[i].src_strides) || !dense(p.t[i].dst, p.t[i].dst_strides)) return false;
    return true;
  }
};

}  // namespace fusekit
#endif
