#pragma once
// KataGo network test cases shared by the CPU and GPU tests: KataGo's own reference outputs for the
// shared nets, random positions, and comparisons on on-board entries (off-board policy and ownership
// logits are unmasked garbage in KataGo's raw output, so they are not compared).
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"
#include "fusekit/io/npy.hpp"
#include "fusekit/katago/evaluator.hpp"
#include "fusekit/katago/model_reader.hpp"
#include "fusekit/katago/random_model.hpp"

namespace fusekit::test::katago_cases {

using fusekit::katago::Outputs;

inline const char* const shared_nets[] = {"g170-b6c96-s175395328-d26788732", "b3c64nbt-synth-v15-mish",
                                          "b7c96h3tfrs-test5-cnorm"};

inline std::string model_path(const std::string& name) { return shared_dir() + "/models/katago/" + name + ".bin.gz"; }
inline std::string reference_dir(const std::string& name) { return shared_dir() + "/reference/katago/" + name + "/"; }
inline bool have_reference(const std::string& name) {
  return std::filesystem::exists(model_path(name)) && std::filesystem::exists(reference_dir(name) + "out_value.npy");
}

struct Reference {
  HostTensor<float, 4> spatial;
  HostTensor<float, 2> global;
  Outputs want;
};

inline Reference load_reference(const std::string& name) {
  const std::string d = reference_dir(name);
  return {io::load_npy<float, 4>(d + "bin_input.npy"), io::load_npy<float, 2>(d + "global_input.npy"),
          Outputs{.pass = io::load_npy<float, 2>(d + "out_policy_pass.npy"), .value = io::load_npy<float, 2>(d + "out_value.npy"),
                  .score = io::load_npy<float, 2>(d + "out_scorevalue.npy"), .policy = io::load_npy<float, 4>(d + "out_policy.npy"),
                  .ownership = io::load_npy<float, 4>(d + "out_ownership.npy")}};
}

// Random positions: the board is a b x b square in the top-left corner of the H x W tensor (board size
// per entry from `boards`, cycled), binary feature planes on it, small global features.
inline std::pair<HostTensor<float, 4>, HostTensor<float, 2>> random_inputs(index_t n, index_t H, index_t W,
                                                                           std::initializer_list<index_t> boards,
                                                                           std::uint64_t salt) {
  HostTensor<float, 4> s({n, 22, H, W});
  HostTensor<float, 2> g({n, 19});
  std::mt19937_64 rng(base_seed() ^ (salt * 0x9E3779B97F4A7C15ull));
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<index_t> sizes(boards);
  for (index_t b = 0; b < n; ++b) {
    const index_t size = sizes[static_cast<std::size_t>(b) % sizes.size()];
    for (index_t c = 0; c < 22; ++c)
      for (index_t y = 0; y < H; ++y)
        for (index_t x = 0; x < W; ++x) {
          const bool on = y < size && x < size;
          s(b, c, y, x) = !on ? 0.f : c == 0 ? 1.f : (u(rng) < 0.25f ? 1.f : 0.f);
        }
    for (index_t i = 0; i < 19; ++i) g(b, i) = u(rng) < 0.3f ? u(rng) - 0.5f : 0.f;
  }
  return {std::move(s), std::move(g)};
}

// Largest |got - want| / (atol + rtol |want|) over on-board entries (mask = spatial channel 0), per
// output; <= 1 passes.
inline void expect_outputs_near(const Outputs& got, const Outputs& want, const HostTensor<float, 4>& spatial, double atol,
                                double rtol, const std::string& what) {
  const index_t n = want.value.size(0), H = spatial.size(2), W = spatial.size(3);
  auto check = [&](const char* name, const float* g, const float* w, index_t count, index_t per_image, bool on_board_only) {
    double worst = 0, worst_abs = 0;
    index_t at = -1;
    for (index_t i = 0; i < count; ++i) {
      if (on_board_only) {
        const index_t b = i / per_image, cell = i % (H * W);
        if (spatial.data()[b * spatial.size(1) * H * W + cell] == 0.f) continue;
      }
      const double d = std::fabs(static_cast<double>(g[i]) - w[i]);
      const double r = d == 0 ? 0 : d / (atol + rtol * std::fabs(static_cast<double>(w[i])));
      if (!(r <= worst)) worst = r, worst_abs = d, at = i;  // NaN counts as worst
    }
    EXPECT_LE(worst, 1.0) << what << ": " << name << " differs by " << worst_abs << " at flat index " << at << " (got "
                          << (at >= 0 ? g[at] : 0.f) << ", want " << (at >= 0 ? w[at] : 0.f) << "; atol " << atol
                          << ", rtol " << rtol << ")";
    return worst_abs;
  };
  ASSERT_EQ(got.policy.shape(), want.policy.shape()) << what;
  ASSERT_EQ(got.pass.shape(), want.pass.shape()) << what;
  ASSERT_EQ(got.value.shape(), want.value.shape()) << what;
  ASSERT_EQ(got.score.shape(), want.score.shape()) << what;
  ASSERT_EQ(got.ownership.shape(), want.ownership.shape()) << what;
  const double e[5] = {
      check("policy", got.policy.data(), want.policy.data(), want.policy.numel(), want.policy.size(1) * H * W, true),
      check("pass", got.pass.data(), want.pass.data(), want.pass.numel(), 1, false),
      check("value", got.value.data(), want.value.data(), want.value.numel(), 1, false),
      check("score", got.score.data(), want.score.data(), want.score.numel(), 1, false),
      check("ownership", got.ownership.data(), want.ownership.data(), want.ownership.numel(), H * W, true)};
  std::printf("  %s: max |diff| policy %.2e pass %.2e value %.2e score %.2e ownership %.2e (batch %lld)\n", what.c_str(), e[0],
              e[1], e[2], e[3], e[4], static_cast<long long>(n));
}

// Entry b of a batch of outputs, as a batch of one.
inline Outputs entry(const Outputs& o, index_t b) {
  auto one = [b](const auto& t) {
    auto v = t.view().slice(0, b, b + 1);
    std::remove_cvref_t<decltype(t)> r(v.shape());
    for (index_t i = 0; i < r.numel(); ++i) r.data()[i] = v.data()[i];
    return r;
  };
  return {.pass = one(o.pass), .value = one(o.value), .score = one(o.score), .policy = one(o.policy), .ownership = one(o.ownership)};
}

// The top-left b x b corner of every H x W plane of an (N, C, H, W) tensor.
inline HostTensor<float, 4> corner(const HostTensor<float, 4>& t, index_t b) {
  HostTensor<float, 4> r({t.size(0), t.size(1), b, b});
  for (index_t n = 0; n < t.size(0); ++n)
    for (index_t c = 0; c < t.size(1); ++c)
      for (index_t y = 0; y < b; ++y)
        for (index_t x = 0; x < b; ++x) r(n, c, y, x) = t(n, c, y, x);
  return r;
}
inline Outputs corner(const Outputs& o, index_t b) {
  return {.pass = o.pass.clone(), .value = o.value.clone(), .score = o.score.clone(), .policy = corner(o.policy, b),
          .ownership = corner(o.ownership, b)};
}

// Largest |a - b| over every element of every output (NaN on either side counts as infinite).
inline double max_abs_diff(const Outputs& a, const Outputs& b) {
  double worst = 0;
  auto scan = [&](const auto& x, const auto& y) {
    if (x.shape() != y.shape()) worst = INFINITY;
    for (index_t i = 0; i < std::min(x.numel(), y.numel()); ++i) {
      const double d = std::fabs(static_cast<double>(x.data()[i]) - y.data()[i]);
      if (!(d <= worst)) worst = std::isnan(d) ? INFINITY : d;
    }
  };
  scan(a.policy, b.policy), scan(a.pass, b.pass), scan(a.value, b.value), scan(a.score, b.score),
      scan(a.ownership, b.ownership);
  return worst;
}

// One network shared by `threads` threads, each with its own context (make_ctx()) and evaluator, each
// evaluating batches of 1..4 positions (board x board tensors) many times in its own order: every result must equal the
// single-threaded one within `tol` (0: bit for bit -- same kernels, same sizes, same summation order).
template <class Ctx, class T, class MakeCtx>
void threads_share_one_network(Ctx& build_ctx, MakeCtx make_ctx, const std::string& arch, double tol,
                               int threads = 4, int rounds = 12, index_t board = 19) {
  using Net = katago::Network<Ctx, T>;
  const auto net = std::make_shared<const Net>(build_ctx, katago::random_model(arch, 6), katago::NetworkOptions{4, board, board});
  std::vector<std::pair<HostTensor<float, 4>, HostTensor<float, 2>>> inputs;
  for (index_t i = 0; i < 6; ++i) {
    const index_t n = 1 + i % 4;
    const std::uint64_t salt = 100 + static_cast<std::uint64_t>(i);
    inputs.push_back(board == 19 ? random_inputs(n, 19, 19, {19, 13, 9}, salt)
                                 : random_inputs(n, board, board, {board, board - 2, board - 4}, salt));
  }
  std::vector<Outputs> want;
  {
    auto ctx = make_ctx();
    katago::Evaluator<Ctx, T> eval(*ctx, net);
    for (const auto& [s, g] : inputs) want.push_back(eval.evaluate(s.view(), g.view()));
  }
  std::vector<double> worst(static_cast<std::size_t>(threads), 0.0);
  std::vector<std::string> errors(worst.size());
  std::vector<int> evaluations(worst.size(), 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        auto ctx = make_ctx();
        katago::Evaluator<Ctx, T> eval(*ctx, net);
        for (int r = 0; r < rounds; ++r)
          for (std::size_t k = 0; k < inputs.size(); ++k) {
            const std::size_t i = (k + static_cast<std::size_t>(t + r)) % inputs.size();
            const Outputs got = eval.evaluate(inputs[i].first.view(), inputs[i].second.view());
            worst[t] = std::max(worst[t], max_abs_diff(got, want[i]));
            ++evaluations[t];
          }
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < threads; ++t) {
    EXPECT_EQ(errors[t], "") << arch << " thread " << t;
    EXPECT_EQ(evaluations[t], rounds * static_cast<int>(inputs.size())) << arch << " thread " << t;
    EXPECT_LE(worst[t], tol) << arch << " thread " << t << ": results differ from the single-threaded run";
  }
}

}  // namespace fusekit::test::katago_cases
