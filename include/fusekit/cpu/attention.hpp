#pragma once
// CPU attention, FlashAttention-style: a task owns a tile of packed query rows (the query heads that
// share a KV head, side by side) and walks the keys in blocks of kBlockKeys, with an online softmax, so
// nothing of size q_len x kv_len exists. Scores and P V are small Eigen products on fp32 copies of the
// blocks. When the tiles alone cannot keep the context's threads busy (decode: a few rows against a long
// cache), the keys are split across tasks too and the partial results combined (flash-decoding).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <Eigen/Core>

#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/attention_params.hpp"
#include "fusekit/ops/tags.hpp"

namespace fusekit {

namespace cpu_attention {

inline constexpr index_t kTileRows = 32;
inline constexpr index_t kBlockKeys = 64;

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// One tile of packed rows over keys [k0, k1): the unnormalised output O, the running max m (log2
// domain) and sum l of every row.
struct Partial {
  RowMatrix o;
  std::vector<float> m, l;
};

template <class T>
struct TileTask {
  const AttentionParams<T>& p;
  index_t b, hk, row0, rows;  // packed rows [row0, row0 + rows) of (b, hk)
  index_t qn, kn;

  index_t query(index_t r) const { return (row0 + r) / p.group(); }
  index_t head(index_t r) const { return hk * p.group() + (row0 + r) % p.group(); }

  // Visible keys per row and the last key any row sees.
  void row_ends(std::vector<index_t>& ends, index_t& max_end) const {
    ends.resize(static_cast<std::size_t>(rows));
    max_end = 0;
    for (index_t r = 0; r < rows; ++r) {
      ends[r] = p.row_end(b, query(r), qn, kn);
      max_end = std::max(max_end, ends[r]);
    }
  }

  void run(index_t k0, index_t k1, Partial& out) const {
    const index_t D = p.head_dim;
    const float inf = std::numeric_limits<float>::infinity();
    const float scale_log2 = p.scale * 1.4426950408889634f;  // exp(x) = exp2(x log2 e)
    std::vector<index_t> ends;
    index_t max_end;
    row_ends(ends, max_end);
    k1 = std::min(k1, max_end);
    RowMatrix q(rows, D), kb(kBlockKeys, D), vb(kBlockKeys, D), s(rows, kBlockKeys);
    for (index_t r = 0; r < rows; ++r) {
      const auto* src = p.q.at(b, p.q_begin(b) + query(r), head(r));
      for (index_t d = 0; d < D; ++d) q(r, d) = to_float(src[d]) * scale_log2;
    }
    out.o.setZero(rows, D);
    out.m.assign(static_cast<std::size_t>(rows), -inf);
    out.l.assign(static_cast<std::size_t>(rows), 0.f);
    for (index_t j0 = k0; j0 < k1; j0 += kBlockKeys) {
      const index_t n = std::min(kBlockKeys, k1 - j0);
      for (index_t j = 0; j < n; ++j) {
        const auto* ks = p.k.at(b, p.k_begin(b) + j0 + j, hk);
        const auto* vs = p.v.at(b, p.k_begin(b) + j0 + j, hk);
        for (index_t d = 0; d < D; ++d) kb(j, d) = to_float(ks[d]), vb(j, d) = to_float(vs[d]);
      }
      s.leftCols(n).noalias() = q * kb.topRows(n).transpose();
      for (index_t r = 0; r < rows; ++r) {
        float mx = out.m[r];
        for (index_t j = 0; j < n; ++j) {
          if (j0 + j >= ends[r]) s(r, j) = -inf;
          mx = std::max(mx, s(r, j));
        }
        if (mx == -inf) {  // nothing visible yet in this row
          s.row(r).head(n).setZero();
          continue;
        }
        const float alpha = std::exp2(out.m[r] - mx);  // 0 when m was -inf
        float sum = 0.f;
        for (index_t j = 0; j < n; ++j) sum += s(r, j) = std::exp2(s(r, j) - mx);
        out.l[r] = out.l[r] * alpha + sum;
        out.m[r] = mx;
        out.o.row(r) *= alpha;
      }
      out.o.noalias() += s.leftCols(n) * vb.topRows(n);
    }
  }

  // out(row) = sum_s o_s exp2(m_s - M) / sum_s l_s exp2(m_s - M), M = max_s m_s; 0 for a masked row.
  void finish(const Partial* parts, index_t count) const {
    const index_t D = p.head_dim;
    const float inf = std::numeric_limits<float>::infinity();
    for (index_t r = 0; r < rows; ++r) {
      float mx = -inf;
      for (index_t s = 0; s < count; ++s) mx = std::max(mx, parts[s].m[r]);
      auto* dst = p.out.at(b, p.q_begin(b) + query(r), head(r));
      if (mx == -inf) {
        for (index_t d = 0; d < D; ++d) dst[d] = convert<std::remove_const_t<T>>(0.f);
        continue;
      }
      float l = 0.f;
      for (index_t s = 0; s < count; ++s) l += parts[s].l[r] * std::exp2(parts[s].m[r] - mx);
      for (index_t d = 0; d < D; ++d) {
        float acc = 0.f;
        for (index_t s = 0; s < count; ++s) acc += parts[s].o(r, d) * std::exp2(parts[s].m[r] - mx);
        dst[d] = convert<std::remove_const_t<T>>(acc / l);
      }
    }
  }
};

}  // namespace cpu_attention

template <>
struct OpImpl<op::Attention, CpuBackend> {
  template <class T>
  static void run(const cpu::Context& ctx, const AttentionParams<T>& p, const AttentionOptions& opt) {
    const int forced_splits = opt.kv_splits;
    using namespace cpu_attention;
    const index_t tiles = (p.q_len * p.group() + kTileRows - 1) / kTileRows;  // per (b, hk), at most
    const index_t items = p.batch * p.kv_heads * tiles;
    const index_t key_blocks = std::max<index_t>(1, (p.kv_len + kBlockKeys - 1) / kBlockKeys);
    index_t splits = forced_splits > 0 ? forced_splits
                                       : (items >= ctx.threads() ? 1 : (ctx.threads() + items - 1) / items);
    splits = std::clamp<index_t>(splits, 1, key_blocks);
    const index_t keys_per_split = (key_blocks + splits - 1) / splits * kBlockKeys;
    auto task = [&](index_t item) {
      const index_t t = item % tiles, bh = item / tiles, b = bh / p.kv_heads, hk = bh % p.kv_heads;
      const index_t qn = p.q_count(b), row0 = t * kTileRows;
      const index_t rows = std::clamp<index_t>(qn * p.group() - row0, 0, kTileRows);
      return TileTask<T>{p, b, hk, row0, rows, qn, p.k_count(b)};
    };
    if (splits == 1) {
      ctx.parallel_for(items, 1, [&](index_t i0, index_t i1) {
        Partial part;
        for (index_t i = i0; i < i1; ++i) {
          const auto tt = task(i);
          if (tt.rows <= 0) continue;
          tt.run(0, tt.kn, part);
          tt.finish(&part, 1);
        }
      });
      return;
    }
    std::vector<Partial> parts(static_cast<std::size_t>(items * splits));
    ctx.parallel_for(items * splits, 1, [&](index_t w0, index_t w1) {
      for (index_t w = w0; w < w1; ++w) {
        const auto tt = task(w / splits);
        const index_t k0 = (w % splits) * keys_per_split;
        if (tt.rows > 0) tt.run(k0, std::min(tt.kn, k0 + keys_per_split), parts[w]);
      }
    });
    ctx.parallel_for(items, 1, [&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) {
        const auto tt = task(i);
        if (tt.rows > 0) tt.finish(parts.data() + i * splits, splits);
      }
    });
  }
};

}  // namespace fusekit
