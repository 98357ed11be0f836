// katago-bench: latency and throughput of a KataGo network for the batch sizes given.
//   katago-bench [--model FILE] [--device cpu|gpu] [--dtype fp32|fp16] [--batch 1,8,64,256]
//                [--threads N] [--seconds S] [--json FILE] [--peak-tflops P] [--no-graph]
//                [--conv-prologue automatic|staged|in_loader] [--norm-act automatic|consumer|producer]
// Default network: a random-weight b18c384nbt. Each batch size: warm-up, then repeated evaluations for
// about --seconds; the median time per batch is reported (GPU: device events around the graph replay,
// inputs staged once; CPU: wall clock of the whole evaluation). Effective TFLOP/s counts convolutions,
// matmuls and attention (katago/flops.hpp); % of peak uses --peak-tflops or, on known GPUs, the dense
// fp16/fp32 matrix peak.
#include <algorithm>
#include <chrono>
#include <fstream>

#include <fusekit/katago/flops.hpp>

#include "katago_common.hpp"

using namespace fusekit;
using namespace fusekit::examples;

namespace {

const char* usage =
    "katago-bench [--model FILE] [--device cpu|gpu] [--dtype fp32|fp16] [--batch 1,8,64,256] [--threads N]\n"
    "             [--seconds S] [--json FILE] [--peak-tflops P] [--no-graph] [--seed S]\n"
    "             [--conv-prologue automatic|staged|in_loader]   (GPU: where convs apply their NormAct)\n"
    "             [--norm-act automatic|consumer|producer]       (which conv applies the stream's NormAct)\n";

ConvPrologue conv_prologue(const std::string& s) {
  if (s == "automatic") return ConvPrologue::automatic;
  if (s == "staged") return ConvPrologue::staged;
  FUSEKIT_CHECK(s == "in_loader", "--conv-prologue must be automatic, staged or in_loader (got {})", s);
  return ConvPrologue::in_loader;
}

katago::NormActPlacement norm_act(const std::string& s) {
  if (s == "automatic") return katago::NormActPlacement::automatic;
  if (s == "consumer") return katago::NormActPlacement::consumer;
  FUSEKIT_CHECK(s == "producer", "--norm-act must be automatic, consumer or producer (got {})", s);
  return katago::NormActPlacement::producer;
}

// Dense matrix peaks (TFLOP/s) of GPUs we time on; 0 when unknown.
double known_peak(const std::string& label, const std::string& dtype) {
  const bool fp16 = dtype == "fp16";
  if (label.find("H100") != std::string::npos || label.find("H200") != std::string::npos) return fp16 ? 989.4 : 66.9;
  return 0;
}

struct Row {
  index_t batch;
  double ms, positions_per_s, tflops, peak_pct;
  int iterations;
};

}  // namespace

int main(int argc, char** argv) try {
  const Args args(argc, argv,
                  {{"model", ""}, {"device", "cpu"}, {"dtype", "fp32"}, {"batch", "1,8"}, {"threads", "0"}, {"seconds", "2"},
                   {"json", ""}, {"peak-tflops", "0"}, {"no-graph", "false"}, {"seed", "1"}, {"conv-prologue", "automatic"},
                   {"norm-act", "automatic"}},
                  usage);
  const katago::ModelDesc m = load_or_default(args["model"], static_cast<std::uint64_t>(std::stoull(args["seed"])));
  const std::vector<index_t> batches = int_list(args["batch"]);
  FUSEKIT_CHECK(!batches.empty(), "--batch needs at least one size");
  const index_t max_batch = *std::max_element(batches.begin(), batches.end());
  const double flops = katago::flops_per_position(m);
  const double seconds = std::stod(args["seconds"]);
  std::printf("model %s: %.2f GFLOP per 19x19 position\n", m.name.c_str(), flops / 1e9);
  const auto positions = example_positions();

  katago::NetworkOptions opt;
  opt.max_batch = max_batch;
  opt.conv_prologue = conv_prologue(args["conv-prologue"]);
  opt.norm_act = norm_act(args["norm-act"]);
  with_evaluator(args["device"], args["dtype"], m, opt, args.integer("threads"), !args.flag("no-graph"),
                 [&](auto& eval, const std::string& label) {
    using E = std::remove_cvref_t<decltype(eval)>;
    double peak = std::stod(args["peak-tflops"]);
    if (peak <= 0) peak = known_peak(label, args["dtype"]);
    std::vector<Row> rows;
    for (index_t batch : batches) {
      std::vector<Position> ps;
      for (index_t i = 0; i < batch; ++i) ps.push_back(positions[static_cast<std::size_t>(i) % positions.size()]);
      const auto [s, g] = featurize(ps, 19, 19);
      katago::Outputs out = eval.make_outputs(batch);
      std::vector<double> times;
      auto once = [&] {
        if constexpr (E::on_device) {
#if FUSEKIT_GPUCC
          hip::Event a, b;
          a.record(eval.context());
          eval.run_staged(batch);
          b.record(eval.context());
          b.synchronize();
          return static_cast<double>(hip::Event::elapsed_ms(a, b));
#else
          return 0.0;
#endif
        } else {
          const auto t0 = std::chrono::steady_clock::now();
          eval.evaluate(s.view(), g.view(), {}, katago::views_of(out));
          return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        }
      };
      eval.evaluate(s.view(), g.view(), {}, katago::views_of(out));  // stages the inputs, captures the graph
      const auto start = std::chrono::steady_clock::now();
      for (int w = 0; w < 3; ++w) once();
      while (times.size() < 5 || (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds &&
                                  times.size() < 10000)) {
        times.push_back(once());
        if (times.size() % 20 == 1)
          std::fprintf(stderr, "\r  batch %lld: %zu runs, median %.3f ms   ", static_cast<long long>(batch), times.size(), median(times));
      }
      const double ms = median(times);
      const double tflops = flops * batch / (ms * 1e-3) / 1e12;
      rows.push_back({batch, ms, batch / (ms * 1e-3), tflops, peak > 0 ? 100 * tflops / peak : 0, static_cast<int>(times.size())});
      std::fprintf(stderr, "\r%60s\r", "");
    }
    std::printf("%s, model %s\n", label.c_str(), m.name.c_str());
    std::printf("%8s %12s %14s %10s %9s %7s\n", "batch", "ms/batch", "positions/s", "TFLOP/s", "% peak", "runs");
    for (const Row& r : rows)
      std::printf("%8lld %12.3f %14.1f %10.2f %9s %7d\n", static_cast<long long>(r.batch), r.ms, r.positions_per_s, r.tflops,
                  peak > 0 ? fmt::format("{:.1f}", r.peak_pct).c_str() : "-", r.iterations);
    if (!args["json"].empty()) {
      std::ofstream f(args["json"]);
      f << "{\"device\": \"" << label << "\", \"model\": \"" << m.name << "\", \"dtype\": \"" << args["dtype"]
        << "\", \"gflop_per_position\": " << flops / 1e9 << ", \"rows\": [";
      for (std::size_t i = 0; i < rows.size(); ++i)
        f << (i ? ", " : "") << "{\"batch\": " << rows[i].batch << ", \"ms\": " << rows[i].ms << ", \"positions_per_s\": "
          << rows[i].positions_per_s << ", \"tflops\": " << rows[i].tflops << ", \"runs\": " << rows[i].iterations << "}";
      f << "]}\n";
    }
  });
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "katago-bench: %s\n", e.what());
  return 1;
}
