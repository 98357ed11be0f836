#pragma once
// Float64 reference attention: explicit scores S = scale q k^T, the mask, softmax(S) and softmax(S) v,
// for one dense batch [B, Sq, Hq, D] x [B, Skv, Hkv, D]. The mask is spelled out here again (not taken
// from ops/attention_params.hpp) so that a wrong rule in the library shows as a mismatch.
//   visible(b, i, j) = j < kv_lens[b] (all keys if empty) and j < kv_end[b * Sq + i] (if not empty)
//                      and, if causal, j <= i + kv_lens[b] - Sq
// A row with no visible key gives 0.
#include <cmath>
#include <limits>
#include <vector>

#include "fusekit/core/tensor.hpp"

namespace fusekit::reference {

template <class T>
HostTensor<double, 4> attention(const HostView<const T, 4>& q, const HostView<const T, 4>& k,
                                const HostView<const T, 4>& v, double scale, bool causal,
                                const std::vector<index_t>& kv_lens = {}, const std::vector<index_t>& kv_end = {}) {
  const index_t B = q.size(0), Sq = q.size(1), Hq = q.size(2), D = q.size(3), Skv = k.size(1), Hkv = k.size(2);
  const index_t group = Hq / Hkv;
  HostTensor<double, 4> out({B, Sq, Hq, D});
  std::vector<double> s(static_cast<std::size_t>(Skv));
  for (index_t b = 0; b < B; ++b) {
    const index_t kn = kv_lens.empty() ? Skv : kv_lens[static_cast<std::size_t>(b)];
    for (index_t i = 0; i < Sq; ++i)
      for (index_t h = 0; h < Hq; ++h) {
        const index_t hk = h / group;
        double m = -std::numeric_limits<double>::infinity();
        for (index_t j = 0; j < Skv; ++j) {
          bool visible = j < kn;
          if (!kv_end.empty()) visible = visible && j < kv_end[static_cast<std::size_t>(b * Sq + i)];
          if (causal) visible = visible && j <= i + kn - Sq;
          if (!visible) {
            s[j] = -std::numeric_limits<double>::infinity();
            continue;
          }
          double dot = 0;
          for (index_t d = 0; d < D; ++d) dot += static_cast<double>(q(b, i, h, d)) * static_cast<double>(k(b, j, hk, d));
          s[j] = dot * scale;
          m = std::max(m, s[j]);
        }
        for (index_t d = 0; d < D; ++d) out(b, i, h, d) = 0.0;
        if (m == -std::numeric_limits<double>::infinity()) continue;  // fully masked row
        double sum = 0;
        for (index_t j = 0; j < Skv; ++j) sum += s[j] == -std::numeric_limits<double>::infinity() ? 0.0 : std::exp(s[j] - m);
        for (index_t j = 0; j < Skv; ++j) {
          if (s[j] == -std::numeric_limits<double>::infinity()) continue;
          const double p = std::exp(s[j] - m) / sum;
          for (index_t d = 0; d < D; ++d) out(b, i, h, d) += p * static_cast<double>(v(b, j, hk, d));
        }
      }
  }
  return out;
}

}  // namespace fusekit::reference
