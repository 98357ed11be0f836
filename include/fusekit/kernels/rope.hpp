#pragma once
// GPU RoPE: one thread per (token, head, pair) over every tensor of the launch (q heads, then k, then
// v); consecutive threads take consecutive pairs, so the loads of a head are coalesced.
#include <cstdint>

#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/cpu/rope.hpp"
#include "fusekit/ops/rope_params.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {

template <class T, class P>
FUSEKIT_GLOBAL void rope_kernel(const FUSEKIT_GRID_CONSTANT RopeParams<T, P> p, std::uint32_t total,
                                std::uint32_t heads_all) {
  const std::uint32_t q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= total) return;
  const auto pairs = static_cast<std::uint32_t>(p.head_dim / 2);
  const std::uint32_t j = q % pairs, hg = q / pairs % heads_all, token = q / pairs / heads_all;
  std::uint32_t h = hg;
  int i = 0;
  while (i + 1 < p.count && h >= p.t[i].heads) h -= static_cast<std::uint32_t>(p.t[i++].heads);
  const float pos = static_cast<float>(p.positions[token * p.position_stride]);
  rope_apply(p, p.t[i], token, h, j, pos);
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
    constexpr int block = 256;
    hip::launch("rope", kernels::rope_kernel<T, P>, dim3(static_cast<unsigned>((total + block - 1) / block)), dim3(block),
                0, s, p, static_cast<std::uint32_t>(total), static_cast<std::uint32_t>(heads));
  }
};

}  // namespace fusekit
#endif
