#pragma once
// Float64 reference for Gemma decoder stacks attending jointly (transformer/gemma.hpp), written from the
// HF definitions and reading the weights by their HF names (not through fusekit's fused loaders), so a
// wrong fusion, layout or mask in the library shows as a mismatch. Everything is double: RMSNorm
// (1 + w), projections, RoPE (rotate-half, double angles), attention with an explicit visibility rule,
// GELU-tanh gating.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "fusekit/core/tensor.hpp"
#include "fusekit/transformer/config.hpp"
#include "fusekit/transformer/weight_source.hpp"

namespace fusekit::reference {

struct GemmaExpert {
  const transformer::WeightSource* src;
  std::string prefix;  // e.g. "model."
  transformer::GemmaConfig cfg;
};

// visible(b, i, j): may row i of the concatenated sequence (all experts' tokens, in order) see key j?
using Visibility = std::function<bool(index_t b, index_t i, index_t j)>;

namespace detail {

// y [n, out] = x [n, in] W^T for W [out, in] read from the source.
inline std::vector<double> ref_linear(const std::vector<double>& x, index_t n, index_t in, const transformer::WeightSource& src,
                                      const std::string& name, index_t out) {
  const auto w = src.tensor(name, Shape<2>{out, in}, transformer::Init::fan_in);
  std::vector<double> y(static_cast<std::size_t>(n * out));
  for (index_t r = 0; r < n; ++r)
    for (index_t o = 0; o < out; ++o) {
      double acc = 0;
      for (index_t k = 0; k < in; ++k) acc += x[r * in + k] * double(w(o, k));
      y[r * out + o] = acc;
    }
  return y;
}

inline std::vector<double> ref_rmsnorm(const std::vector<double>& x, index_t n, index_t h, const HostTensor<float, 1>& w,
                                       double eps) {
  std::vector<double> y(x.size());
  for (index_t r = 0; r < n; ++r) {
    double ss = 0;
    for (index_t c = 0; c < h; ++c) ss += x[r * h + c] * x[r * h + c];
    const double s = 1.0 / std::sqrt(ss / double(h) + eps);
    for (index_t c = 0; c < h; ++c) y[r * h + c] = x[r * h + c] * s * (1.0 + double(w(c)));
  }
  return y;
}

// Rotate-half RoPE in place on [n, heads, d] rows with the given positions.
inline void ref_rope(std::vector<double>& x, index_t n, index_t heads, index_t d, const std::vector<int>& pos, double theta) {
  for (index_t r = 0; r < n; ++r)
    for (index_t hh = 0; hh < heads; ++hh) {
      double* v = &x[(r * heads + hh) * d];
      for (index_t j = 0; j < d / 2; ++j) {
        const double ang = pos[r] * std::pow(theta, -2.0 * double(j) / double(d));
        const double a = v[j], b = v[j + d / 2];
        v[j] = a * std::cos(ang) - b * std::sin(ang);
        v[j + d / 2] = b * std::cos(ang) + a * std::sin(ang);
      }
    }
}

inline double ref_gelu_tanh(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
}

}  // namespace detail

// Runs every layer over xs[e] ([B, n_e, hidden_e], updated in place) with RoPE positions pos[b][i] over
// the concatenated rows. Returns nothing: xs hold the residual streams after the last layer (no final norm).
inline void gemma_joint(const std::vector<GemmaExpert>& experts, std::vector<HostTensor<double, 3>>& xs,
                        const std::vector<std::vector<int>>& pos, const Visibility& visible) {
  using namespace detail;
  const auto& c0 = experts.at(0).cfg;
  const index_t B = xs.at(0).size(0), Hq = c0.heads, Hkv = c0.kv_heads, D = c0.head_dim;
  index_t n = 0;
  for (const auto& x : xs) n += x.size(1);
  for (index_t l = 0; l < c0.layers; ++l)
    for (index_t b = 0; b < B; ++b) {
      std::vector<double> q(n * Hq * D), k(n * Hkv * D), v(n * Hkv * D);
      index_t off = 0;
      for (std::size_t e = 0; e < experts.size(); ++e) {
        const auto& ex = experts[e];
        const std::string p = fmt::format("{}layers.{}.", ex.prefix, l);
        const index_t ne = xs[e].size(1), h = ex.cfg.hidden;
        std::vector<double> x(xs[e].data() + b * ne * h, xs[e].data() + (b + 1) * ne * h);
        const auto xn = ref_rmsnorm(x, ne, h, ex.src->tensor(p + "input_layernorm.weight", Shape<1>{h}, transformer::Init::small),
                                    ex.cfg.eps);
        const auto qe = ref_linear(xn, ne, h, *ex.src, p + "self_attn.q_proj.weight", Hq * D);
        const auto ke = ref_linear(xn, ne, h, *ex.src, p + "self_attn.k_proj.weight", Hkv * D);
        const auto ve = ref_linear(xn, ne, h, *ex.src, p + "self_attn.v_proj.weight", Hkv * D);
        std::copy(qe.begin(), qe.end(), q.begin() + off * Hq * D);
        std::copy(ke.begin(), ke.end(), k.begin() + off * Hkv * D);
        std::copy(ve.begin(), ve.end(), v.begin() + off * Hkv * D);
        off += ne;
      }
      ref_rope(q, n, Hq, D, pos[b], c0.rope_theta);
      ref_rope(k, n, Hkv, D, pos[b], c0.rope_theta);
      std::vector<double> a(n * Hq * D, 0.0);
      for (index_t i = 0; i < n; ++i)
        for (index_t hh = 0; hh < Hq; ++hh) {
          const index_t kh = hh / (Hq / Hkv);
          std::vector<double> s(n);
          double mx = -INFINITY;
          for (index_t j = 0; j < n; ++j) {
            if (!visible(b, i, j)) continue;
            double dot = 0;
            for (index_t d = 0; d < D; ++d) dot += q[(i * Hq + hh) * D + d] * k[(j * Hkv + kh) * D + d];
            s[j] = dot / std::sqrt(double(D));
            mx = std::max(mx, s[j]);
          }
          double sum = 0;
          for (index_t j = 0; j < n; ++j)
            if (visible(b, i, j)) sum += (s[j] = std::exp(s[j] - mx));
          for (index_t j = 0; j < n; ++j)
            if (visible(b, i, j))
              for (index_t d = 0; d < D; ++d) a[(i * Hq + hh) * D + d] += s[j] / sum * v[(j * Hkv + kh) * D + d];
        }
      off = 0;
      for (std::size_t e = 0; e < experts.size(); ++e) {
        const auto& ex = experts[e];
        const std::string p = fmt::format("{}layers.{}.", ex.prefix, l);
        const index_t ne = xs[e].size(1), h = ex.cfg.hidden, m = ex.cfg.mlp;
        double* x = xs[e].data() + b * ne * h;
        const std::vector<double> ae(a.begin() + off * Hq * D, a.begin() + (off + ne) * Hq * D);
        const auto o = ref_linear(ae, ne, Hq * D, *ex.src, p + "self_attn.o_proj.weight", h);
        for (index_t i = 0; i < ne * h; ++i) x[i] += o[i];
        const std::vector<double> xv(x, x + ne * h);
        const auto xn = ref_rmsnorm(xv, ne, h,
                                    ex.src->tensor(p + "post_attention_layernorm.weight", Shape<1>{h}, transformer::Init::small),
                                    ex.cfg.eps);
        const auto g = ref_linear(xn, ne, h, *ex.src, p + "mlp.gate_proj.weight", m);
        auto u = ref_linear(xn, ne, h, *ex.src, p + "mlp.up_proj.weight", m);
        for (std::size_t i = 0; i < u.size(); ++i) u[i] *= ref_gelu_tanh(g[i]);
        const auto dn = ref_linear(u, ne, m, *ex.src, p + "mlp.down_proj.weight", h);
        for (index_t i = 0; i < ne * h; ++i) x[i] += dn[i];
        off += ne;
      }
    }
}

}  // namespace fusekit::reference
