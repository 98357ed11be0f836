// katago-eval: evaluates a KataGo network on positions and writes KataGo's raw outputs.
//   katago-eval [--model FILE] [--bin-input X.npy --global-input G.npy] [--output-dir DIR]
//               [--device cpu|gpu] [--dtype fp32|fp16] [--batch N] [--threads N]
// Without --model: a random-weight b18c384nbt-shaped network from a fixed seed (--seed). Without
// inputs: built-in example positions. Prints the top policy moves, pass, and the value and score of each
// position (KataGo's post-processing, side to move's view); --output-dir writes policy.npy,
// policy_pass.npy, value.npy, scorevalue.npy, ownership.npy (float32, raw).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <numeric>

#include <fusekit/io/npy.hpp>
#include <fusekit/katago/model_writer.hpp>
#include <fusekit/katago/postprocess.hpp>

#include "katago_common.hpp"

using namespace fusekit;
using namespace fusekit::examples;

namespace {

const char* usage =
    "katago-eval [--model FILE] [--bin-input X.npy --global-input G.npy] [--output-dir DIR]\n"
    "            [--device cpu|gpu] [--dtype fp32|fp16] [--batch N] [--threads N] [--seed S] [--top K]\n"
    "            [--save-model FILE]\n"
    "  --model         KataGo .bin.gz/.bin/.txt.gz/.txt (default: random b18c384nbt-shaped net, --seed)\n"
    "  --bin-input     spatial features [N, C, 19, 19] float32 .npy (with --global-input [N, G])\n"
    "  --output-dir    writes policy.npy, policy_pass.npy, value.npy, scorevalue.npy, ownership.npy\n"
    "  --batch         positions per network call (default: all)\n"
    "  --save-model    writes the network evaluated (e.g. the random default) as a model file\n";

template <class T, std::size_t R>
HostTensor<T, R> rows_of(const HostTensor<T, R>& t, index_t begin, index_t end) {
  Shape<R> s = t.shape();
  s[0] = end - begin;
  HostTensor<T, R> r(s);
  const index_t per = t.numel() / std::max<index_t>(t.size(0), 1);
  std::copy(t.data() + begin * per, t.data() + end * per, r.data());
  return r;
}

template <class T, std::size_t R>
void put_rows(HostTensor<T, R>& dst, const HostTensor<T, R>& src, index_t begin) {
  const index_t per = dst.numel() / std::max<index_t>(dst.size(0), 1);
  std::copy(src.data(), src.data() + src.numel(), dst.data() + begin * per);
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args(argc, argv,
                  {{"model", ""}, {"bin-input", ""}, {"global-input", ""}, {"output-dir", ""}, {"device", "cpu"},
                   {"dtype", "fp32"}, {"batch", "0"}, {"threads", "0"}, {"seed", "1"}, {"top", "5"}, {"save-model", ""}},
                  usage);
  const katago::ModelDesc m = load_or_default(args["model"], static_cast<std::uint64_t>(std::stoull(args["seed"])));
  HostTensor<float, 4> spatial;
  HostTensor<float, 2> global;
  std::vector<std::string> titles;
  if (!args["bin-input"].empty()) {
    FUSEKIT_CHECK(!args["global-input"].empty(), "--bin-input needs --global-input");
    spatial = io::load_npy<float, 4>(args["bin-input"]);
    global = io::load_npy<float, 2>(args["global-input"]);
    for (index_t i = 0; i < spatial.size(0); ++i) titles.push_back(fmt::format("{} #{}", args["bin-input"], i));
  } else {
    std::tie(spatial, global) = featurize(example_positions(), 19, 19);
    for (const auto& p : example_positions()) titles.push_back(p.title);
  }
  const index_t n = spatial.size(0), H = spatial.size(2), W = spatial.size(3);
  if (!args["save-model"].empty()) katago::write_model(m, args["save-model"]);
  const index_t batch = args.integer("batch") > 0 ? args.integer("batch") : std::max<index_t>(n, 1);
  std::printf("model %s (version %d, %zu blocks, %d channels, %.1f M parameters)\n", m.name.c_str(), m.version,
              m.trunk.blocks.size(), m.trunk.trunk_c, m.parameter_count / 1e6);

  with_evaluator(args["device"], args["dtype"], m, {batch, H, W}, args.integer("threads"), true, [&](auto& eval, const std::string& label) {
    katago::Outputs all = eval.make_outputs(n);
    const auto t0 = std::chrono::steady_clock::now();
    for (index_t b = 0; b < n; b += batch) {
      const index_t e = std::min(n, b + batch);
      const auto s = rows_of(spatial, b, e);
      const auto g = rows_of(global, b, e);
      const katago::Outputs o = eval.evaluate(s.view(), g.view());
      put_rows(all.policy, o.policy, b), put_rows(all.pass, o.pass, b), put_rows(all.value, o.value, b);
      put_rows(all.score, o.score, b), put_rows(all.ownership, o.ownership, b);
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s: %lld positions in %.1f ms (batch %lld, first call included)\n\n", label.c_str(), static_cast<long long>(n), ms,
                static_cast<long long>(batch));
    const int top = args.integer("top");
    for (index_t b = 0; b < n; ++b) {
      const katago::Evaluation ev = katago::postprocess(all, spatial.view(), b, m);
      std::vector<index_t> order(ev.policy.size());
      std::iota(order.begin(), order.end(), index_t{0});
      std::partial_sort(order.begin(), order.begin() + std::min<index_t>(top, order.size()), order.end(),
                        [&](index_t a, index_t c) { return ev.policy[a] > ev.policy[c]; });
      index_t size = 0;  // board size from the mask row 0
      while (size < W && spatial(b, 0, 0, size) != 0.f) ++size;
      std::printf("%s\n  top moves:", titles[static_cast<std::size_t>(b)].c_str());
      for (int k = 0; k < top && k < static_cast<int>(order.size()); ++k) {
        const index_t i = order[k];
        const std::string name = i == H * W ? "pass" : point_name(static_cast<int>(i / W), static_cast<int>(i % W), static_cast<int>(size));
        std::printf(" %s %.1f%%", name.c_str(), 100.0 * ev.policy[i]);
      }
      std::printf("\n  value: win %.1f%% loss %.1f%% no-result %.2f%%, score lead %+.1f (mean %+.1f, stdev %.1f)\n", 100 * ev.win,
                  100 * ev.loss, 100 * ev.no_result, ev.lead, ev.score_mean, ev.score_stdev);
    }
    if (!args["output-dir"].empty()) {
      const std::filesystem::path d = args["output-dir"];
      std::filesystem::create_directories(d);
      io::save_npy((d / "policy.npy").string(), all.policy);
      io::save_npy((d / "policy_pass.npy").string(), all.pass);
      io::save_npy((d / "value.npy").string(), all.value);
      io::save_npy((d / "scorevalue.npy").string(), all.score);
      io::save_npy((d / "ownership.npy").string(), all.ownership);
      io::save_npy((d / "bin_input.npy").string(), spatial);  // the inputs, for peers to check against
      io::save_npy((d / "global_input.npy").string(), global);
      std::printf("\nraw outputs written to %s\n", d.string().c_str());
    }
  });
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "katago-eval: %s\n", e.what());
  return 1;
}
