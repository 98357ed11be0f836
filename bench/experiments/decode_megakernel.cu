// Experiment (not built by CMake): the action expert's decode step (Gemma-300M shape, 11 tokens against a
// 788-key prefix, Pi0's block mask) through DecodeStack, the one persistent kernel of
// kernels/decode_stack.hpp, checked against and timed beside the library's gemma_forward in the same run.
// Arguments: the number of layers (18 by default), then optionally the DecodeStack settings to compare,
// each bulk:replicas:ways:pipelined (e.g. 1:1:1:1; bulk takes bits 0 and 1 as DecodeStack::bulk_stage; by
// default five of them).
// Built by hand:
//   nvcc -std=c++20 -O3 -arch=sm_90a --expt-relaxed-constexpr -DFMT_HEADER_ONLY=1 -DFMT_USE_CONSTEXPR=1 -Iinclude \
//     -I.deps/usr/include -I.deps/usr/include/eigen3 -Ibench -x cu bench/experiments/decode_megakernel.cu -o decode_megakernel
#include <cmath>
#include <cstdio>
#include <fusekit/fusekit.hpp>
#include <fusekit/transformer/decode_stack.hpp>
#include <fusekit/ops/transfer.hpp>

#include "gpu_timing.hpp"

using namespace fusekit;
using namespace fusekit::bench;
using namespace fusekit::transformer;


int main(int argc, char** argv) {
  const index_t layers = argc > 1 ? std::atoi(argv[1]) : 18;
  hip::Stream s;
  const auto& dev = s.device();
  std::printf("GPU: %s, %d SMs\n", dev.name.c_str(), dev.multiprocessors);
  using T = bfloat16;
  using Sp = hip::Stream::space;
  constexpr index_t n = 11, S0 = 788, cap = 800;
  GemmaConfig cfg = GemmaConfig::gemma_300m();
  cfg.layers = layers;
  const RandomSource src(7);
  const auto model = load_gemma<T>(s, cfg, src, "model.");
  const GemmaConfig cfgs[] = {cfg};
  KVCache<T, Sp> cache(s, layers, 1, cap, cfg.kv_heads, cfg.head_dim);
  KVCache<T, Sp> cache2(s, layers, 1, cap, cfg.kv_heads, cfg.head_dim);
  const std::size_t cache_elems = static_cast<std::size_t>(layers) * cap * cfg.head_dim;
  {
    const auto kh = pattern_tensor<T, 1>(s, Shape<1>{static_cast<index_t>(cache_elems)}, 11);
    const auto vh = pattern_tensor<T, 1>(s, Shape<1>{static_cast<index_t>(cache_elems)}, 12);
    for (KVCache<T, Sp>* c : {&cache, &cache2}) {
      FUSEKIT_GPU_CHECK(gpu::memcpy_d2d_async(c->k(0).data(), kh.data(), cache_elems * 2, s.get()));
      FUSEKIT_GPU_CHECK(gpu::memcpy_d2d_async(c->v(0).data(), vh.data(), cache_elems * 2, s.get()));
    }
  }
  DecoderScratch<T, Sp> scratch(s, 1, n, cfgs);
  const auto x0 = pattern_tensor<T, 3>(s, Shape<3>{1, n, cfg.hidden}, 13);
  Tensor<T, 3, Sp> x({1, n, cfg.hidden}, s);
  HostTensor<std::int32_t, 2> pos({1, n}), end({1, n});
  for (index_t i = 0; i < n; ++i) pos(0, i) = static_cast<std::int32_t>(S0 + i), end(0, i) = static_cast<std::int32_t>(i == 0 ? S0 + 1 : S0 + n);
  const auto dpos = to_device(s, pos), dend = to_device(s, end);
  const Segment<T, Sp> segs[] = {{&model, x.view()}};
  const StepAttention<Sp> at{.start = S0, .positions = dpos.view(), .masks = {.kv_end = dend.view()}};
  auto lib = [&] {
    FUSEKIT_GPU_CHECK(gpu::memcpy_d2d_async(x.data(), x0.data(), n * cfg.hidden * 2, s.get()));
    gemma_forward(s, std::span(segs), cache, at, scratch);
  };

  Tensor<T, 3, Sp> xm({1, n, cfg.hidden}, s);
  DecodeStack stack(s, model, cache2, n, S0 + n);
  auto mega = [&] {
    FUSEKIT_GPU_CHECK(gpu::memcpy_d2d_async(xm.data(), x0.data(), n * cfg.hidden * 2, s.get()));
    stack.run(s, xm.view(), at);
  };

  // correctness: the final x and the new cache slots, against the library
  lib();
  s.synchronize();
  auto cmp = [&](const char* what, const T* a, const T* b, std::size_t count) {
    std::vector<T> ha(count), hb(count);
    FUSEKIT_GPU_CHECK(cudaMemcpy(ha.data(), a, count * 2, cudaMemcpyDeviceToHost));
    FUSEKIT_GPU_CHECK(cudaMemcpy(hb.data(), b, count * 2, cudaMemcpyDeviceToHost));
    double num = 0, den = 0, mx = 0, mref = 0;
    bool finite = true;
    for (std::size_t i = 0; i < count; ++i) {
      const double u = to_float(ha[i]), v = to_float(hb[i]);
      finite = finite && std::isfinite(u);
      num += (u - v) * (u - v), den += v * v, mx = std::max(mx, std::abs(u - v)), mref = std::max(mref, std::abs(v));
    }
    const double rel = std::sqrt(num / std::max(den, 1e-30));
    std::printf("  %-28s rel RMS %.3e  max |diff| %.3e (max |ref| %.3e)%s\n", what, rel, mx, mref,
                !finite || rel > 3e-2 ? "  WRONG" : "");
  };
  struct Variant {
    int bulk, replicas, ways, pipelined;
  };
  std::vector<Variant> variants = {{1, 1, 1, 1}, {3, 1, 1, 1}, {0, 1, 1, 1}, {1, 1, 1, 0}, {1, 4, 1, 1}};
  if (argc > 2) variants.clear();
  for (int a = 2; a < argc; ++a) {  // further arguments: the settings to run, bulk:replicas:ways:pipelined each
    Variant v{};
    FUSEKIT_CHECK(std::sscanf(argv[a], "%d:%d:%d:%d", &v.bulk, &v.replicas, &v.ways, &v.pipelined) == 4,
                  "setting '{}': expected bulk:replicas:ways:pipelined, e.g. 1:4:8:1", argv[a]);
    variants.push_back(v);
  }
  for (const Variant& v : variants) {
  stack.bulk_stage = v.bulk, stack.replicas = v.replicas, stack.barrier_ways = v.ways, stack.pipelined = v.pipelined;
  const int bulk = v.bulk;
  mega();
  s.synchronize();
  std::printf("check, %lld layers (megakernel, bulk staging %d, %d replicas, %d barrier counters, pipelined %d, against "
              "gemma_forward):\n", static_cast<long long>(layers), bulk, v.replicas, v.ways, v.pipelined);
  cmp("x after the stack", xm.data(), x.data(), n * cfg.hidden);
  cmp("k, new slots, layer 0", cache2.k(0).data() + S0 * 256, cache.k(0).data() + S0 * 256, n * 256);
  cmp("v, new slots, layer 0", cache2.v(0).data() + S0 * 256, cache.v(0).data() + S0 * 256, n * 256);
  cmp("k, new slots, last layer", cache2.k(layers - 1).data() + S0 * 256, cache.k(layers - 1).data() + S0 * 256, n * 256);
  cmp("v, new slots, last layer", cache2.v(layers - 1).data() + S0 * 256, cache.v(layers - 1).data() + S0 * 256, n * 256);

  {  // where the time goes: every block's arrival at and release from each grid barrier
    std::printf("trace, bulk staging %d, %d replicas, %d barrier counters, pipelined %d:\n", bulk,
                v.replicas, v.ways, v.pipelined);
    const int G = stack.blocks(), nb = 1 + 6 * static_cast<int>(layers);
    unsigned long long* tr = nullptr;
    FUSEKIT_GPU_CHECK(cudaMalloc(&tr, std::size_t(G) * 1024 * 2 * 8));
    stack.trace = tr;
    for (int i = 0; i < 3; ++i) mega();
    stack.trace = nullptr;
    s.synchronize();
    std::vector<unsigned long long> h(std::size_t(G) * 1024 * 2);
    FUSEKIT_GPU_CHECK(cudaMemcpy(h.data(), tr, h.size() * 8, cudaMemcpyDeviceToHost));
    auto at = [&](int b, int k, int w) { return static_cast<double>(h[(std::size_t(b) * 1024 + k) * 2 + w]); };
    const char* names[] = {"QKV", "ATT", "COMB", "O", "GEGLU", "DOWN"};
    std::printf("per phase (us, mean over layers): work = arrival - previous release (mean / max over blocks), "
                "barrier = last release - last arrival\n");
    for (int ph = 0; ph < 6; ++ph) {
      double wmean = 0, wmax = 0, bar = 0, span = 0;
      for (int l = 0; l < layers; ++l) {
        const int k = 1 + 6 * l + ph;
        double mx = 0, sum = 0, last_arr = 0, first_rel = 1e30, last_rel = 0, prev_first = 1e30;
        for (int b = 0; b < G; ++b) {
          const double w = at(b, k, 0) - at(b, k - 1, 1);
          sum += w, mx = std::max(mx, w), last_arr = std::max(last_arr, at(b, k, 0));
          first_rel = std::min(first_rel, at(b, k, 1)), last_rel = std::max(last_rel, at(b, k, 1));
          prev_first = std::min(prev_first, at(b, k - 1, 1));
        }
        wmean += sum / G, wmax += mx, bar += last_rel - last_arr, span += last_rel - prev_first;
      }
      double wait = 0, stg = 0;
      for (int b = 0; b < G; ++b) wait += at(b, 1000 + ph, 0), stg += at(b, 1000 + ph, 1);
      std::printf("  %-6s work %6.2f / %6.2f   barrier %5.2f   phase %6.2f   waiting for the ring %5.2f, staging %5.2f\n",
                  names[ph], wmean / layers / 1e3, wmax / layers / 1e3, bar / layers / 1e3, span / layers / 1e3,
                  wait / G / layers / 1e3, stg / G / layers / 1e3);
    }
    std::printf("  whole kernel (block 0, first to last barrier): %.1f us\n", (at(0, nb - 1, 1) - at(0, 0, 1)) / 1e3);
  }
  }

  for (int round = 0; round < 3; ++round) {
    const Timing tl = time_us(s, 1, 20, [&](int) { lib(); }, 5);
    std::printf("round %d: gemma_forward %lld layers: stream %.1f graph %.1f us | megakernel", round,
                static_cast<long long>(layers), tl.median_us, tl.graph_us);
    for (const Variant& v : variants) {
      stack.bulk_stage = v.bulk, stack.replicas = v.replicas, stack.barrier_ways = v.ways, stack.pipelined = v.pipelined;
      const Timing tm = time_us(s, 1, 20, [&](int) { mega(); }, 5);
      std::printf(" | b%d x%d w%d p%d: graph %.1f us", v.bulk, v.replicas, v.ways, v.pipelined, tm.graph_us);
    }
    std::printf("\n");
  }
  return 0;
}
