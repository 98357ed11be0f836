#pragma once
// Float64 reference for Pi0's denoising loop (transformer/pi0.hpp) given the prefix tokens: every step
// runs both experts jointly over [prefix | suffix] with the block mask (reference::gemma_joint, no KV
// cache), builds the suffix from the HF/openpi-named weights with the time embedding concatenated (not
// folded into a bias), and takes the Euler step in double.
#include <vector>

#include "fusekit/reference/gemma.hpp"
#include "fusekit/transformer/pi0.hpp"

namespace fusekit::reference {

// prefix [B, P, prefix width]; state [B, A]; noise [B, H, A]. Returns the actions [B, H, A].
inline HostTensor<double, 3> pi0_actions(const transformer::Pi0Config& c, const transformer::WeightSource& src,
                                         const HostTensor<double, 3>& prefix, const HostTensor<double, 2>& state,
                                         const HostTensor<double, 3>& noise) {
  using namespace detail;
  const index_t B = prefix.size(0), P = prefix.size(1), H = c.horizon, A = c.action_dim, W = c.expert.hidden, S = 1 + H;
  auto bias = [&](const std::string& n, index_t len) { return src.tensor(n + ".bias", Shape<1>{len}, transformer::Init::small); };
  HostTensor<double, 3> x(noise.shape());
  std::copy(noise.data(), noise.data() + noise.numel(), x.data());
  const GemmaExpert e0{&src, "paligemma_with_expert.paligemma.model.language_model.", c.prefix};
  const GemmaExpert e1{&src, "paligemma_with_expert.gemma_expert.model.", c.expert};
  for (index_t k = 0; k < c.steps; ++k) {
    const double t = 1.0 - double(k) / double(c.steps);
    const auto temb = transformer::pi0_time_embedding(t, W);
    std::vector<HostTensor<double, 3>> xs;
    xs.emplace_back(prefix.shape());
    std::copy(prefix.data(), prefix.data() + prefix.numel(), xs[0].data());
    xs.emplace_back(Shape<3>{B, S, W});
    for (index_t b = 0; b < B; ++b) {
      std::vector<double> st(state.data() + b * A, state.data() + (b + 1) * A);
      auto s0 = ref_linear(st, 1, A, src, "state_proj.weight", W);
      const auto sb = bias("state_proj", W);
      for (index_t i = 0; i < W; ++i) xs[1](b, 0, i) = s0[i] + sb(i);
      std::vector<double> xa(x.data() + b * H * A, x.data() + (b + 1) * H * A);
      auto h = ref_linear(xa, H, A, src, "action_in_proj.weight", W);
      const auto hb = bias("action_in_proj", W);
      std::vector<double> cat(H * 2 * W);
      for (index_t r = 0; r < H; ++r)
        for (index_t i = 0; i < W; ++i) cat[r * 2 * W + i] = h[r * W + i] + hb(i), cat[r * 2 * W + W + i] = temb[i];
      auto u = ref_linear(cat, H, 2 * W, src, "action_time_mlp_in.weight", W);
      const auto ub = bias("action_time_mlp_in", W);
      for (index_t r = 0; r < H; ++r)
        for (index_t i = 0; i < W; ++i) {
          const double v = u[r * W + i] + ub(i);
          u[r * W + i] = v / (1.0 + std::exp(-v));
        }
      const auto o = ref_linear(u, H, W, src, "action_time_mlp_out.weight", W);
      const auto ob = bias("action_time_mlp_out", W);
      for (index_t r = 0; r < H; ++r)
        for (index_t i = 0; i < W; ++i) xs[1](b, 1 + r, i) = o[r * W + i] + ob(i);
    }
    std::vector<std::vector<int>> pos(B);
    for (index_t b = 0; b < B; ++b)
      for (index_t i = 0; i < P + S; ++i) pos[b].push_back(static_cast<int>(i));
    gemma_joint({e0, e1}, xs, pos, [&](index_t, index_t i, index_t j) {
      return i < P ? j < P : i == P ? j <= P : true;
    });
    const auto nw = src.tensor(e1.prefix + "norm.weight", Shape<1>{W}, transformer::Init::small);
    for (index_t b = 0; b < B; ++b) {
      std::vector<double> sx(xs[1].data() + b * S * W + W, xs[1].data() + (b + 1) * S * W);
      const auto n = ref_rmsnorm(sx, H, W, nw, c.expert.eps);
      const auto v = ref_linear(n, H, W, src, "action_out_proj.weight", A);
      const auto vb = bias("action_out_proj", A);
      for (index_t r = 0; r < H; ++r)
        for (index_t a = 0; a < A; ++a) x(b, r, a) += -1.0 / double(c.steps) * (v[r * A + a] + vb(a));
    }
  }
  return x;
}

}  // namespace fusekit::reference
