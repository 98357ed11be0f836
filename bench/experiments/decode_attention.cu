// Experiment (not built by CMake): the Pi0 decode step's attention (11 query rows x 8 heads on 1 KV head,
// head dim 256, 799 cached keys, the block mask), every variant timed in one run beside the library's
// choice and checked against its output. Variants are tile configurations of the matrix-core kernel
// (kernels::AttnMmaConfig: warps, 16-row atoms, keys per tile, key warps, stages, column warps) and key
// split counts. (A first run, twenty-seventh session, also timed 16-key tiles, the 4-warp decode tile with
// key warps and the plain 64-row tile: all slower than the column-warp tiles below. Alone, smaller
// column-warp tiles are faster; inside pi0-policy the 48-row tile made the denoise slower: see
// docs/performance.md before trusting this loop.) Built by hand:
//   nvcc -std=c++20 -O3 -arch=sm_90a --expt-relaxed-constexpr -DFMT_HEADER_ONLY=1 -Iinclude -I.deps/usr/include \
//     -I.deps/usr/include/eigen3 -Ibench -x cu bench/experiments/decode_attention.cu -o decode_attention
#include <cstdio>
#include <string>
#include <fusekit/fusekit.hpp>
#include "gpu_timing.hpp"
using namespace fusekit;
using namespace fusekit::bench;
using Impl = OpImpl<op::Attention, HipBackend>;
using T = bfloat16;


// Floors of the split-and-combine structure (argv[1] == "floor"): kernels of the library's grid that do
// nothing but the dependent-launch handshake, or only the memory traffic of a split block (Q rows, one K/V
// tile, the partial rows out), each timed alone and followed by the library's combine.
__global__ void empty_kernel() {
  gpu::wait_for_prior_grid();
  gpu::allow_dependent_launch();
}

template <int BM, int BN, int D>
__global__ void split_memory_floor(const T* q, const T* k, const T* v, int rows, int keys, kernels::AttnSplits sp) {
  gpu::wait_for_prior_grid();
  using V8 = gpu::Vec<T, 8>;
  constexpr int C = D / 8;
  float acc = 0.f;
  for (int i = threadIdx.x; i < BM * C; i += blockDim.x) {  // Q rows of this tile
    const int r = blockIdx.x * BM + i / C;
    if (r < rows) acc += to_float(reinterpret_cast<const V8*>(q)[r * C + i % C].v[0]);
  }
  for (int i = threadIdx.x; i < BN * C; i += blockDim.x) {  // this split's K/V tile
    const int key = blockIdx.z * BN + i / C;
    if (key < keys) acc += to_float(reinterpret_cast<const V8*>(k)[key * C + i % C].v[1]) +
                           to_float(reinterpret_cast<const V8*>(v)[key * C + i % C].v[2]);
  }
  gpu::allow_dependent_launch();
  const int part = blockIdx.x * sp.splits + blockIdx.z;
  for (int i = threadIdx.x; i < BM * D / 4; i += blockDim.x) {
    const int r = i / (D / 4);
    if (blockIdx.x * BM + r >= rows) continue;
    reinterpret_cast<float4*>(sp.o + (part * BM + r) * D)[i % (D / 4)] = make_float4(acc * 1e-30f, 0.f, 0.f, 0.f);
    if (i % (D / 4) == 0) sp.ml[part * BM + r] = make_float2(0.f, 1.f);
  }
}

int main(int argc, char** argv) {
  hip::Stream s;
  const auto& dev = s.device();
  std::printf("GPU: %s, %d SMs\n", dev.name.c_str(), dev.multiprocessors);
  constexpr index_t Sq = 11, Skv = 799, Hq = 8, Hkv = 1, D = 256;
  const int sets = 8;
  std::vector<DeviceTensor<T, 4>> q, k, v, o;
  for (int i = 0; i < sets; ++i) {
    q.push_back(pattern_tensor<T, 4>(s, {1, Sq, Hq, D}, 100 + i));
    k.push_back(pattern_tensor<T, 4>(s, {1, Skv, Hkv, D}, 200 + i));
    v.push_back(pattern_tensor<T, 4>(s, {1, Skv, Hkv, D}, 300 + i));
    o.emplace_back(Shape<4>{1, Sq, Hq, D}, s);
  }
  HostTensor<std::int32_t, 2> ends({1, Sq});
  for (index_t i = 0; i < Sq; ++i) ends(0, i) = static_cast<std::int32_t>(i == 0 ? Skv - Sq + 1 : Skv);
  const auto dends = to_device(s, ends);
  AttentionMasks<DeviceSpace> masks;
  masks.kv_end = dends.view();
  DeviceTensor<T, 4> ref({1, Sq, Hq, D}, s);
  attention(s, ref, q[0], k[0], v[0], masks);
  const auto href = to_host(s, ref);
  auto params = [&](int i) {
    auto p = detail::attention_params<hip::Stream>("attention", o[i].view(), q[i].view().as_const(), k[i].view().as_const(),
                                                   v[i].view().as_const(), AttentionOptions{});
    p.batch = 1, p.q_len = Sq, p.kv_len = Skv;
    p.kv_end = dends.data(), p.kv_end_batch_stride = Sq, p.kv_end_token_stride = 1;
    return p;
  };
  auto row = [&](const std::string& name, auto launch) {
    FUSEKIT_GPU_CHECK(gpu::memset_async(o[0].data(), 0xff, Sq * Hq * D * 2, s.get()));
    launch(0);
    const auto h = to_host(s, o[0]);
    double md = 0;
    for (index_t i = 0; i < Sq * Hq * D; ++i)
      md = std::max(md, std::abs(double(to_float(h.data()[i])) - double(to_float(href.data()[i]))));
    const Timing t = time_us(s, sets, 100, launch);
    std::printf("%-60s stream %6.2f  graph %6.2f us  max|diff| %.3g%s\n", name.c_str(), t.median_us, t.graph_us, md,
                md > 0.02 || std::isnan(md) ? "  WRONG" : "");
  };
  auto cfg = [&]<class C>(C, const char* what, std::initializer_list<int> splits) {
    for (int sp : splits)
      for (auto comb : {AttentionSplitCombine::automatic, AttentionSplitCombine::workspace}) {
        if (comb == AttentionSplitCombine::workspace && (sp == 0 || sp > kernels::attn_max_cluster_splits)) continue;
        const AttentionOptions opt{.kv_splits = sp, .combine = comb};
        row(fmt::format("{} BM {} splits {}{}", what, C::BM, sp == 0 ? std::string("policy") : std::to_string(sp),
                        comb == AttentionSplitCombine::workspace ? " workspace" : ""),
            [&, opt](int i) { Impl::run_mma<C>(s, params(i), opt); });
      }
  };
  if (argc > 1 && std::string(argv[1]) == "floor") {
    using C = kernels::AttnMmaConfig<T, 256, 8, 1, 32, 1, 2, 2>;  // the library's tile for this step
    constexpr int splits = 25;
    const int q_tiles = (Sq * Hq + C::BM - 1) / C::BM;
    kernels::AttnSplits sp;
    sp.q_tiles = q_tiles, sp.tiles_per_split = 1, sp.splits = splits;
    const std::size_t prow = static_cast<std::size_t>(q_tiles) * splits * C::BM;
    DeviceTensor<float, 1> ws_o(Shape<1>{static_cast<index_t>(prow * 256)}, s);
    DeviceTensor<float, 1> ws_ml(Shape<1>{static_cast<index_t>(prow * 2)}, s);
    sp.o = ws_o.data(), sp.ml = reinterpret_cast<float2*>(ws_ml.data());
    auto* mma = kernels::attention_mma<T, C>;
    FUSEKIT_GPU_CHECK(gpu::func_set_max_dynamic_smem(mma, static_cast<int>(C::smem)));
    const dim3 agrid(q_tiles, 1, splits);
    auto attn = [&](int i) {
      hip::launch_with("attention_mma", mma, agrid, dim3(C::threads), C::smem, s, hip::LaunchAttrs{.dependent = true}, params(i), sp);
    };
    int groups = 0;  // rows per combine block (0: the library's choice)
    auto combine = [&](int i) { Impl::launch_combine(s, params(i), sp, C::BM, 256, groups); };
    auto mem = [&](int i) {
      hip::launch_dependent("split_memory_floor", split_memory_floor<C::BM, 32, 256>, agrid, dim3(C::threads), 0, s, q[i].data(),
                            k[i].data(), v[i].data(), static_cast<int>(Sq * Hq), static_cast<int>(Skv), sp);
    };
    auto empty = [&](dim3 g, dim3 b) { hip::launch_dependent("empty", empty_kernel, g, b, 0, s); };
    auto timed = [&](const char* name, auto launch) {
      const Timing t = time_us(s, sets, 200, launch);
      std::printf("%-60s stream %6.2f  graph %6.2f us\n", name, t.median_us, t.graph_us);
    };
    for (int round = 0; round < 2; ++round) {
      std::printf("-- floors of pi0 decode attention (2 x 25 blocks of 256), round %d\n", round);
      row("library attention (policy)", [&](int i) { attention(s, o[i], q[i], k[i], v[i], masks); });
      for (int g : {8, 4, 2, 1, 0}) {
        groups = g;
        row(fmt::format("attention_mma + attention_combine, {} rows per combine block", g), [&](int i) { attn(i); combine(i); });
        timed(fmt::format("attention_combine alone, {} rows per block", g).c_str(), combine);
      }
      groups = 0;
      timed("attention_mma alone", attn);
      timed("split memory floor + combine", [&](int i) { mem(i); combine(i); });
      timed("split memory floor alone", mem);
      timed("empty (attention grid)", [&](int) { empty(agrid, dim3(C::threads)); });
      timed("empty (attention grid) + empty (combine grid)", [&](int) { empty(agrid, dim3(C::threads)); empty(dim3(32), dim3(256)); });
      timed("empty 1 block", [&](int) { empty(dim3(1), dim3(32)); });
      timed("empty 1 block x 2", [&](int) { empty(dim3(1), dim3(32)); empty(dim3(1), dim3(32)); });
    }
    return 0;
  }
  for (int round = 0; round < 2; ++round) {
    std::printf("-- pi0 decode [1, 11, 8/1, 256] kv 799 block mask, bf16, round %d\n", round);
    row("library attention (policy)", [&](int i) { attention(s, o[i], q[i], k[i], v[i], masks); });
    cfg(kernels::AttnMmaConfig<T, 256, 6, 1, 32, 1, 2, 2>{}, "w6 bn32 colw2", {0, 13});
    cfg(kernels::AttnMmaConfig<T, 256, 8, 1, 32, 1, 2, 2>{}, "w8 bn32 colw2 (library)", {0, 13});
    cfg(kernels::AttnMmaConfig<T, 256, 4, 1, 32, 1, 2, 2>{}, "w4 bn32 colw2", {0, 13, 25});
    cfg(kernels::AttnMmaConfig<T, 256, 2, 1, 32, 1, 2, 2>{}, "w2 bn32 colw2", {0, 13, 25});
    cfg(kernels::AttnMmaConfig<T, 256, 8, 1, 32, 1, 2, 4>{}, "w8 bn32 colw4", {0, 13, 25});
    cfg(kernels::AttnMmaConfig<T, 256, 6, 1, 16, 1, 2, 2>{}, "w6 bn16 colw2", {0, 25, 32});
    cfg(kernels::AttnMmaConfig<T, 256, 6, 1, 32, 1, 3, 2>{}, "w6 bn32 colw2 3 stages", {0});
    cfg(kernels::AttnMmaConfig<T, 256, 12, 1, 32, 1, 2, 2>{}, "w12 bn32 colw2", {0});
  }
}
