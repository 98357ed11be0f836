// transformer-bench: one transformer layer at the given sequence lengths, prefill and decode.
//   transformer-bench [--device gpu|cpu] [--seq 788,256] [--decode 11] [--images 3] [--iters N] [--json FILE]
// Rows (random weights, bf16 on the GPU, fp32 on the CPU):
//   gemma-2b prefill S       one Gemma-2B-shaped decoder layer over S new tokens (bidirectional)
//   gemma-2b decode n@S      n new tokens against a cache of S (Pi0's block mask: row 0 sees S + 1 keys)
//   gemma-300m decode n@S    the same for the action expert's shape (one Pi0 denoising step = 18 of these)
//   siglip layer             one SigLIP-So400m layer over --images images of 256 patches
// GPU: each call captured as a graph and replayed, median of device-event times; CPU: median wall clock.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>

#include <fusekit/backend/cpu/context.hpp>
#include <fusekit/ops/fill.hpp>
#include <fusekit/transformer/gemma.hpp>
#include <fusekit/transformer/siglip.hpp>
#if FUSEKIT_GPUCC
#include <fusekit/backend/hip.hpp>
#include <fusekit/ops/transfer.hpp>
#endif

#include "args.hpp"

using namespace fusekit;
using namespace fusekit::transformer;

namespace {

const char* usage = "transformer-bench [--device gpu|cpu] [--seq 788,256] [--decode 11] [--images 3] [--iters N] [--json FILE]\n";

struct Row {
  std::string name;
  double ms;
};

template <class Ctx>
double time_ms(Ctx& ctx, int iters, const std::function<void()>& fn) {
  std::vector<double> t;
  if constexpr (std::is_same_v<Ctx, cpu::Context>) {
    fn();
    for (int i = 0; i < iters; ++i) {
      const auto a = std::chrono::steady_clock::now();
      fn();
      t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
  } else {
#if FUSEKIT_GPUCC
    fn();  // sizes workspaces before capture
    const hip::Graph g = hip::capture(ctx, [&](hip::Stream&) { fn(); });
    for (int i = 0; i < 3; ++i) g.replay(ctx);
    for (int i = 0; i < iters; ++i) {
      hip::Event a, b;
      a.record(ctx);
      g.replay(ctx);
      b.record(ctx);
      b.synchronize();
      t.push_back(hip::Event::elapsed_ms(a, b));
    }
#endif
  }
  return examples::median(t);
}

template <class T, class Ctx>
std::vector<Row> run(Ctx& ctx, const std::vector<index_t>& seqs, index_t decode, index_t images, int iters) {
  using S = typename Ctx::space;
  std::vector<Row> rows;
  const RandomSource src(1);
  auto report = [&](std::string name, double ms) {
    std::printf("  %-34s %10.3f ms\n", name.c_str(), ms);
    std::fflush(stdout);
    rows.push_back({std::move(name), ms});
  };
  for (const GemmaConfig base : {GemmaConfig::gemma_2b(), GemmaConfig::gemma_300m()}) {
    GemmaConfig cfg = base;
    cfg.layers = 1;
    const std::string label = cfg.hidden == 2048 ? "gemma-2b" : "gemma-300m";
    const auto model = load_gemma<T>(ctx, cfg, src);
    const index_t max_seq = *std::max_element(seqs.begin(), seqs.end());
    KVCache<T, S> cache(ctx, 1, 1, max_seq + decode, cfg.kv_heads, cfg.head_dim);
    const GemmaConfig cfgs[] = {cfg};
    DecoderScratch<T, S> scratch(ctx, 1, std::max(max_seq, decode), cfgs);
    Tensor<T, 3, S> x({1, std::max(max_seq, decode), cfg.hidden}, ctx);
    fill(ctx, x, 0.5);
    for (index_t seq : seqs) {
      HostTensor<std::int32_t, 2> pos({1, seq + decode}), end({1, decode});
      for (index_t i = 0; i < seq + decode; ++i) pos(0, i) = static_cast<std::int32_t>(i);
      for (index_t i = 0; i < decode; ++i) end(0, i) = static_cast<std::int32_t>(i == 0 ? seq + 1 : seq + decode);
      Tensor<std::int32_t, 2, S> pre_pos({1, seq}, ctx), dec_pos({1, decode}, ctx), dec_end({1, decode}, ctx);
      HostTensor<std::int32_t, 2> pp({1, seq}), dp({1, decode});
      for (index_t i = 0; i < seq; ++i) pp(0, i) = pos(0, i);
      for (index_t i = 0; i < decode; ++i) dp(0, i) = pos(0, seq + i);
      if constexpr (std::is_same_v<S, HostSpace>) {
        pre_pos = pp.clone(), dec_pos = dp.clone(), dec_end = end.clone();
      } else {
#if FUSEKIT_GPUCC
        pre_pos = to_device(ctx, pp), dec_pos = to_device(ctx, dp), dec_end = to_device(ctx, end);
#endif
      }
      const auto xs = x.view().slice(1, 0, seq);
      const Segment<T, S> pre[] = {{&model, xs}};
      if (cfg.hidden == 2048)
        report(fmt::format("{} prefill {}", label, seq), time_ms(ctx, iters, [&] {
                 gemma_layer(ctx, 0, std::span(pre), cache, StepAttention<S>{.start = 0, .positions = pre_pos.view()}, scratch);
               }));
      else
        gemma_layer(ctx, 0, std::span(pre), cache, StepAttention<S>{.start = 0, .positions = pre_pos.view()}, scratch);
      const Segment<T, S> dec[] = {{&model, x.view().slice(1, 0, decode)}};
      StepAttention<S> at{.start = seq, .positions = dec_pos.view()};
      at.masks.kv_end = dec_end.view();
      report(fmt::format("{} decode {}@{}", label, decode, seq),
             time_ms(ctx, iters, [&] { gemma_layer(ctx, 0, std::span(dec), cache, at, scratch); }));
    }
  }
  SiglipConfig vc;
  vc.layers = 1;
  const auto vis = load_siglip<T>(ctx, vc, src);
  SiglipScratch<T, S> vs(ctx, vc, images);
  fill(ctx, vs.x, 0.25);
  const TensorView<T, 2, S> vx(vs.x.data(), {images * vc.patches(), vc.hidden});
  report(fmt::format("siglip layer {}x{}", images, vc.patches()),
         time_ms(ctx, iters, [&] { siglip_layer(ctx, vx, vis.layers[0], vc, images, vs); }));
  return rows;
}

}  // namespace

int main(int argc, char** argv) try {
  const examples::Args args(argc, argv,
                            {{"device", FUSEKIT_GPUCC ? "gpu" : "cpu"}, {"seq", "788"}, {"decode", "11"}, {"images", "3"},
                             {"iters", "20"}, {"json", ""}},
                            usage);
  const auto seqs = examples::int_list(args["seq"]);
  FUSEKIT_CHECK(!seqs.empty(), "--seq needs at least one length");
  const index_t decode = std::stoll(args["decode"]), images = std::stoll(args["images"]);
  const int iters = std::max(1, args.integer("iters"));
  std::vector<Row> rows;
  std::string label;
  if (args["device"] == "cpu") {
    cpu::Context ctx;
    label = fmt::format("CPU fp32, {} threads", ctx.threads());
    std::printf("%s\n", label.c_str());
    rows = run<float>(ctx, seqs, decode, images, iters);
  } else {
    FUSEKIT_CHECK(args["device"] == "gpu", "--device must be gpu or cpu");
#if FUSEKIT_GPUCC
    hip::Stream s;
    label = s.device().name + ", bf16, graph replay";
    std::printf("%s\n", label.c_str());
    rows = run<bfloat16>(s, seqs, decode, images, iters);
#else
    fail("this build has no GPU backend: use --device cpu");
#endif
  }
  if (!args["json"].empty()) {
    std::ofstream f(args["json"]);
    f << "{\"device\": \"" << label << "\", \"rows\": [";
    for (std::size_t i = 0; i < rows.size(); ++i)
      f << (i ? ", " : "") << "{\"name\": \"" << rows[i].name << "\", \"ms\": " << rows[i].ms << "}";
    f << "]}\n";
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "transformer-bench: %s\n", e.what());
  return 1;
}
