#pragma once
// GPU attention (front end: ops/attention.hpp). The matrix-core kernel is FlashAttention-2's schedule on
// the MmaSm80 atom (mma.sync m16n8k16, NVIDIA sm_80+ incl. sm_90a):
//   - a block owns BM = 16 * kWarps packed query rows of one (batch entry, KV head): the query heads that
//     share the KV head sit side by side (row = query * group + head), so GQA/MQA read K and V once;
//   - K and V tiles of kBN keys stream through a 2-stage cp.async pipeline into padded shared tiles;
//   - each warp computes its 16 x kBN scores into registers, masks them (one compare per element against
//     the row's last visible key), runs the online softmax in the log2 domain, and feeds the
//     probabilities, rounded to T, straight back as the A operand of P V (the accumulator layout of
//     m16n8k16 is the A layout of the next one);
//   - head dims that are not a multiple of 16 (SigLIP's 72) are zero-padded in shared memory only, to
//     the next multiple of 16 (72 -> 80), never to 128.
// Split keys (flash-decoding): when the tiles cannot fill the GPU, blockIdx.z takes a range of key tiles
// and writes its unnormalised output and (max, sum) per row to the stream's workspace; a second kernel
// combines the splits of every row.
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>

#include "fusekit/backend/hip/async_copy.hpp"
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/kernels/attention_simt.hpp"
#include "fusekit/kernels/mma_atom.hpp"
#include "fusekit/ops/attention_params.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {

// [kRows][kInner] in shared memory with one spare 16-byte chunk per row: a row is an odd number of
// chunks, so 8 consecutive rows at one chunk hit 8 different bank groups (ldmatrix without conflicts)
// for any kInner, including ones whose chunk count is not a power of 2 (80).
template <class T, int kRows, int kInner>
struct PaddedTile {
  static constexpr int chunk = 16 / static_cast<int>(sizeof(T));
  static constexpr int ld = kInner + chunk;
  static constexpr int elements = kRows * ld;
  static_assert(kInner % (2 * chunk) == 0, "PaddedTile: rows of an even number of 16-byte chunks");
  FUSEKIT_HOST_DEVICE static constexpr int offset(int row, int ch) { return row * ld + ch * chunk; }
};

template <class T, int kDim, int kWarps, int kBN>
struct AttnMmaConfig {
  static constexpr int dim = kDim, warps = kWarps, BM = 16 * kWarps, BN = kBN, threads = 32 * kWarps;
  using QTile = PaddedTile<T, BM, kDim>;
  using KVTile = PaddedTile<T, kBN, kDim>;
  static constexpr std::size_t smem = (QTile::elements + 4 * KVTile::elements) * sizeof(T);  // Q + 2 stages of K, V
};

// Where split blocks leave their partial rows: o [tile][split][BM][dim] fp32 (unnormalised) and
// (m, l) [tile][split][BM] (running max in the log2 domain, sum of exp2).
struct AttnSplits {
  int splits = 1;
  int tiles_per_split = 0;  // key tiles per split
  float* o = nullptr;
  float2* ml = nullptr;
  int q_tiles = 0;
};

template <class T>
FUSEKIT_DEVICE inline unsigned pack2(float a, float b) {
  return static_cast<unsigned>(convert<T>(a).bits) | (static_cast<unsigned>(convert<T>(b).bits) << 16);
}

template <class T, class Cfg>
FUSEKIT_GLOBAL void __launch_bounds__(Cfg::threads) attention_mma(const FUSEKIT_GRID_CONSTANT AttentionParams<T> p,
                                                                  const AttnSplits sp) {
#if FUSEKIT_CUDA_ARCH >= 800
  using Atom = MmaSm80<T>;
  using QT = typename Cfg::QTile;
  using KT = typename Cfg::KVTile;
  constexpr int BM = Cfg::BM, BN = Cfg::BN, DP = Cfg::dim, NS = BN / 8, ND = DP / 8, CH = DP / QT::chunk;
  constexpr float inf = std::numeric_limits<float>::infinity();
  extern __shared__ __align__(16) unsigned char attn_smem[];
  T* qs = reinterpret_cast<T*>(attn_smem);
  auto ks = [&](int st) { return qs + QT::elements + st * 2 * KT::elements; };
  auto vs = [&](int st) { return qs + QT::elements + st * 2 * KT::elements + KT::elements; };

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const index_t hk = blockIdx.y % p.kv_heads, b = blockIdx.y / p.kv_heads, G = p.group(), D = p.head_dim;
  const index_t qn = p.q_count(b), kn = p.k_count(b), rows = qn * G, row0 = static_cast<index_t>(blockIdx.x) * BM;
  if (row0 >= rows) return;
  const index_t qb = p.q_begin(b), kb0 = p.k_begin(b);

  // Q tile: packed row pr -> (query pr / G, head hk * G + pr % G); padding rows and columns zero-filled.
  for (int i = tid; i < BM * CH; i += Cfg::threads) {
    const int r = i / CH, c = i % CH;
    const index_t pr = row0 + r;
    const bool ok = pr < rows && c * QT::chunk < D;
    const T* src = ok ? p.q.at(b, qb + pr / G, hk * G + pr % G) + c * QT::chunk : p.q.data;
    gpu::copy_async16(qs + QT::offset(r, c), src, ok);
  }
  // This thread's rows (g and g + 8 of its warp's 16) and the keys they see.
  const index_t r_lo = row0 + warp * 16 + lane / 4, r_hi = r_lo + 8;
  const index_t end_lo = r_lo < rows ? p.row_end(b, r_lo / G, qn, kn) : 0;
  const index_t end_hi = r_hi < rows ? p.row_end(b, r_hi / G, qn, kn) : 0;
  __shared__ int block_end;
  if (tid == 0) block_end = 0;
  __syncthreads();
  atomicMax(&block_end, static_cast<int>(end_lo > end_hi ? end_lo : end_hi));
  __syncthreads();
  const int tiles_needed = (block_end + BN - 1) / BN;
  const int t_begin = sp.splits > 1 ? static_cast<int>(blockIdx.z) * sp.tiles_per_split : 0;
  const int t_end = sp.splits > 1 ? min(tiles_needed, t_begin + sp.tiles_per_split) : tiles_needed;

  auto load_kv = [&](int t, int st) {
    for (int i = tid; i < BN * CH; i += Cfg::threads) {
      const int r = i / CH, c = i % CH;
      const index_t key = static_cast<index_t>(t) * BN + r;
      const bool ok = key < kn && c * KT::chunk < D;  // keys past the end: zeros (P is 0 there, V must not be NaN)
      gpu::copy_async16(ks(st) + KT::offset(r, c), ok ? p.k.at(b, kb0 + key, hk) + c * KT::chunk : p.k.data, ok);
      gpu::copy_async16(vs(st) + KT::offset(r, c), ok ? p.v.at(b, kb0 + key, hk) + c * KT::chunk : p.v.data, ok);
    }
  };
  if (t_begin < t_end) load_kv(t_begin, 0);
  gpu::copy_async_commit();

  typename Atom::C o[ND];
  FUSEKIT_UNROLL
  for (int n = 0; n < ND; ++n) o[n] = {{0.f, 0.f, 0.f, 0.f}};
  float m_lo = -inf, m_hi = -inf, l_lo = 0.f, l_hi = 0.f;
  const float scale_log2 = p.scale * 1.4426950408889634f;

  for (int t = t_begin; t < t_end; ++t) {
    const int st = (t - t_begin) % 2;
    if (t + 1 < t_end) load_kv(t + 1, st ^ 1);
    gpu::copy_async_commit();
    gpu::copy_async_wait<1>();  // tile t (and Q) landed
    __syncthreads();

    typename Atom::C s[NS];
    FUSEKIT_UNROLL
    for (int n = 0; n < NS; ++n) s[n] = {{0.f, 0.f, 0.f, 0.f}};
    FUSEKIT_UNROLL
    for (int kc = 0; kc < DP; kc += 16) {
      typename Atom::A a[1];
      Atom::template load_a<1, QT>(a, qs, warp * 16, kc);
      typename Atom::B kf[NS];
      Atom::template load_b_kmajor<NS, KT>(kf, ks(st), 0, kc);
      FUSEKIT_UNROLL
      for (int n = 0; n < NS; ++n) Atom::mma(s[n], a[0], kf[n]);
    }

    // Mask, online softmax (rows lo: v[0], v[1]; hi: v[2], v[3]; a row spans the 4 lanes of a quad).
    float mx_lo = m_lo, mx_hi = m_hi;
    const index_t key0 = static_cast<index_t>(t) * BN + 2 * (lane % 4);
    FUSEKIT_UNROLL
    for (int n = 0; n < NS; ++n)
      FUSEKIT_UNROLL
      for (int e = 0; e < 2; ++e) {
        const index_t key = key0 + n * 8 + e;
        s[n].v[e] = key < end_lo ? s[n].v[e] * scale_log2 : -inf;
        s[n].v[e + 2] = key < end_hi ? s[n].v[e + 2] * scale_log2 : -inf;
        mx_lo = fmaxf(mx_lo, s[n].v[e]);
        mx_hi = fmaxf(mx_hi, s[n].v[e + 2]);
      }
    mx_lo = fmaxf(mx_lo, gpu::shfl_xor(mx_lo, 1));
    mx_lo = fmaxf(mx_lo, gpu::shfl_xor(mx_lo, 2));
    mx_hi = fmaxf(mx_hi, gpu::shfl_xor(mx_hi, 1));
    mx_hi = fmaxf(mx_hi, gpu::shfl_xor(mx_hi, 2));
    const float base_lo = mx_lo == -inf ? 0.f : mx_lo, base_hi = mx_hi == -inf ? 0.f : mx_hi;
    const float alpha_lo = exp2f(m_lo - base_lo), alpha_hi = exp2f(m_hi - base_hi);
    m_lo = mx_lo;
    m_hi = mx_hi;
    float sum_lo = 0.f, sum_hi = 0.f;
    FUSEKIT_UNROLL
    for (int n = 0; n < NS; ++n) {
      s[n].v[0] = exp2f(s[n].v[0] - base_lo);
      s[n].v[1] = exp2f(s[n].v[1] - base_lo);
      s[n].v[2] = exp2f(s[n].v[2] - base_hi);
      s[n].v[3] = exp2f(s[n].v[3] - base_hi);
      sum_lo += s[n].v[0] + s[n].v[1];
      sum_hi += s[n].v[2] + s[n].v[3];
    }
    l_lo = l_lo * alpha_lo + sum_lo;  // this thread's share; the quad's shares are summed at the end
    l_hi = l_hi * alpha_hi + sum_hi;
    FUSEKIT_UNROLL
    for (int n = 0; n < ND; ++n) {
      o[n].v[0] *= alpha_lo, o[n].v[1] *= alpha_lo;
      o[n].v[2] *= alpha_hi, o[n].v[3] *= alpha_hi;
    }

    // O += P V: P's accumulators are already the A fragments (k pairs 2q, 2q+8 of a 16-key chunk).
    FUSEKIT_UNROLL
    for (int kc = 0; kc < BN / 16; ++kc) {
      typename Atom::A pa;
      pa.r[0] = pack2<T>(s[2 * kc].v[0], s[2 * kc].v[1]);
      pa.r[1] = pack2<T>(s[2 * kc].v[2], s[2 * kc].v[3]);
      pa.r[2] = pack2<T>(s[2 * kc + 1].v[0], s[2 * kc + 1].v[1]);
      pa.r[3] = pack2<T>(s[2 * kc + 1].v[2], s[2 * kc + 1].v[3]);
      FUSEKIT_UNROLL
      for (int n = 0; n < ND; n += 2) {
        typename Atom::B vf[2];
        Atom::template load_b_nmajor<2, KT>(vf, vs(st), n * 8, kc * 16);
        Atom::mma(o[n], pa, vf[0]);
        Atom::mma(o[n + 1], pa, vf[1]);
      }
    }
    __syncthreads();  // stage st is free for tile t + 2
  }
  gpu::copy_async_wait<0>();

  l_lo += gpu::shfl_xor(l_lo, 1);
  l_lo += gpu::shfl_xor(l_lo, 2);
  l_hi += gpu::shfl_xor(l_hi, 1);
  l_hi += gpu::shfl_xor(l_hi, 2);
  const int col0 = 2 * (lane % 4);
  if (sp.splits > 1) {  // partial rows for the combine kernel
    const index_t part = (static_cast<index_t>(blockIdx.y) * sp.q_tiles + blockIdx.x) * sp.splits + blockIdx.z;
    const int rl = warp * 16 + lane / 4;
    float* o_lo = sp.o + (part * BM + rl) * DP;
    float* o_hi = o_lo + 8 * DP;
    FUSEKIT_UNROLL
    for (int n = 0; n < ND; ++n) {
      *reinterpret_cast<float2*>(o_lo + n * 8 + col0) = make_float2(o[n].v[0], o[n].v[1]);
      *reinterpret_cast<float2*>(o_hi + n * 8 + col0) = make_float2(o[n].v[2], o[n].v[3]);
    }
    if (lane % 4 == 0) {
      sp.ml[part * BM + rl] = make_float2(m_lo, l_lo);
      sp.ml[part * BM + rl + 8] = make_float2(m_hi, l_hi);
    }
    return;
  }
  auto store_row = [&](index_t pr, float l, int half) {
    if (pr >= rows) return;
    const float inv = l > 0.f ? 1.f / l : 0.f;  // fully masked row: 0
    T* dst = p.out.at(b, qb + pr / G, hk * G + pr % G);
    FUSEKIT_UNROLL
    for (int n = 0; n < ND; ++n)
      if (n * 8 < D)
        *reinterpret_cast<unsigned*>(dst + n * 8 + col0) = pack2<T>(o[n].v[2 * half] * inv, o[n].v[2 * half + 1] * inv);
  };
  store_row(r_lo, l_lo, 0);
  store_row(r_hi, l_hi, 1);
#else
  (void)p, (void)sp;
  gpu::trap();
#endif
}

// out(row) = sum_s o_s 2^(m_s - M) / sum_s l_s 2^(m_s - M), M = max_s m_s; one block per kRows rows.
inline constexpr int attn_combine_rows = 4, attn_combine_threads = 256;

template <class T>
FUSEKIT_GLOBAL void __launch_bounds__(attn_combine_threads) attention_combine(const AttentionParams<T> p,
                                                                              const AttnSplits sp, int bm, int dp) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  const index_t hk = blockIdx.y % p.kv_heads, b = blockIdx.y / p.kv_heads, G = p.group(), D = p.head_dim;
  const index_t rows = p.q_count(b) * G;
  const index_t tile_rows = static_cast<index_t>(sp.q_tiles) * bm;
  for (int i = threadIdx.x; i < attn_combine_rows * D; i += attn_combine_threads) {
    const index_t pr = static_cast<index_t>(blockIdx.x) * attn_combine_rows + i / D, c = i % D;
    if (pr >= rows || pr >= tile_rows) continue;
    const index_t part0 = (static_cast<index_t>(blockIdx.y) * sp.q_tiles + pr / bm) * sp.splits;
    const index_t rl = pr % bm;
    float mx = -inf;
    for (int s = 0; s < sp.splits; ++s) mx = fmaxf(mx, sp.ml[(part0 + s) * bm + rl].x);
    float l = 0.f, acc = 0.f;
    if (mx != -inf)
      for (int s = 0; s < sp.splits; ++s) {
        const float2 ml = sp.ml[(part0 + s) * bm + rl];
        if (ml.x == -inf) continue;  // a split that saw nothing for this row left its o unwritten
        const float w = exp2f(ml.x - mx);
        l += ml.y * w;
        acc += sp.o[((part0 + s) * bm + rl) * dp + c] * w;
      }
    p.out.at(b, p.q_begin(b) + pr / G, hk * G + pr % G)[c] = convert<T>(l > 0.f ? acc / l : 0.f);
  }
}

// Calls fn(AttnMmaConfig<...>{}) for the padded head dim that holds `dim` (32, 64, 80, 96, 128, 256).
template <class T, class Fn>
void with_attention_config(index_t dim, Fn&& fn) {
  if (dim <= 32) fn(AttnMmaConfig<T, 32, 4, 64>{});
  else if (dim <= 64) fn(AttnMmaConfig<T, 64, 4, 64>{});
  else if (dim <= 80) fn(AttnMmaConfig<T, 80, 4, 64>{});
  else if (dim <= 96) fn(AttnMmaConfig<T, 96, 4, 64>{});
  else if (dim <= 128) fn(AttnMmaConfig<T, 128, 4, 64>{});
  else fn(AttnMmaConfig<T, 256, 4, 32>{});
}

}  // namespace kernels

template <>
struct OpImpl<op::Attention, HipBackend> {
  template <class T>
  static void run(const hip::Stream& s, const AttentionParams<T>& p, int forced_splits, AttentionPath path) {
    FUSEKIT_CHECK(p.head_dim <= kernels::attn_simt_max_dim, "attention: head_dim {} ({}) exceeds the GPU kernels' {}",
                  p.head_dim, dtype_of<T>, kernels::attn_simt_max_dim);
    FUSEKIT_CHECK(p.batch * p.kv_heads <= index_t{65535}, "attention: batch {} x {} KV heads exceeds the grid limit 65535",
                  p.batch, p.kv_heads);
    if constexpr (is_16bit_float<T>)
      if (path == AttentionPath::automatic && mma_blocker(s, p).empty())
        return kernels::with_attention_config<T>(p.head_dim, [&](auto cfg) { run_mma<decltype(cfg)>(s, p, forced_splits); });
    run_simt(s, p);
  }

  // Empty when the matrix-core kernel can take this call.
  template <class T>
  static std::string mma_blocker(const hip::Stream& s, const AttentionParams<T>& p) {
    if constexpr (!is_16bit_float<T>) {
      return "it needs f16 or bf16";
    } else {
      if (!FUSEKIT_VENDOR_CUDA) return "it needs an NVIDIA GPU (sm_80+)";
      const std::string& arch = s.device().arch;
      if (arch.rfind("sm_", 0) != 0 || std::atoi(arch.c_str() + 3) < 80) return "it needs sm_80 or newer";
      if (p.head_dim % 8) return "head_dim must be a multiple of 8";
      auto aligned = [](const auto& t) {
        return reinterpret_cast<std::uintptr_t>(t.data) % 16 == 0 && t.batch_stride % 8 == 0 && t.token_stride % 8 == 0 &&
               t.head_stride % 8 == 0;
      };
      if (!aligned(p.q) || !aligned(p.k) || !aligned(p.v)) return "q, k, v need 16-byte aligned rows";
      if (reinterpret_cast<std::uintptr_t>(p.out.data) % 4 || p.out.batch_stride % 2 || p.out.token_stride % 2 ||
          p.out.head_stride % 2)
        return "out needs 4-byte aligned pairs";
      return {};
    }
  }

  template <class T>
  static void run_simt(const hip::Stream& s, const AttentionParams<T>& p) {
    const index_t tiles = (p.q_len * p.group() + kernels::attn_simt_rows - 1) / kernels::attn_simt_rows;
    hip::launch("attention_simt", kernels::attention_simt<T>,
                dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(p.batch * p.kv_heads)),
                dim3(kernels::attn_simt_threads), 0, s, p);
  }

  template <class Cfg, class T>
  static void run_mma(const hip::Stream& s, const AttentionParams<T>& p, int forced_splits) {
    auto* kernel = kernels::attention_mma<T, Cfg>;
    static const bool ready = [&] {
      int arch = 0;
      FUSEKIT_GPU_CHECK(gpu::func_binary_arch(kernel, &arch));
      FUSEKIT_CHECK(arch >= 80, "attention: the matrix-core kernel was compiled for sm_{}; it needs sm_80 or newer (set "
                                "CMAKE_CUDA_ARCHITECTURES, e.g. 90a)", arch);
      FUSEKIT_GPU_CHECK(gpu::func_set_max_dynamic_smem(kernel, static_cast<int>(Cfg::smem)));
      return true;
    }();
    (void)ready;
    FUSEKIT_CHECK(Cfg::smem <= s.device().shared_memory_per_block_optin,
                  "attention: head_dim {} needs {} bytes of shared memory, the device allows {}", p.head_dim, Cfg::smem,
                  s.device().shared_memory_per_block_optin);
    const index_t q_tiles = (p.q_len * p.group() + Cfg::BM - 1) / Cfg::BM;
    const index_t tiles = q_tiles * p.batch * p.kv_heads;
    const index_t key_tiles = std::max<index_t>(1, (p.kv_len + Cfg::BN - 1) / Cfg::BN);
    // Split the keys only when the tiles leave most multiprocessors idle, into ranges of >= 2 key tiles.
    index_t splits = forced_splits;
    if (splits <= 0) {
      const index_t sms = s.device().multiprocessors;
      splits = tiles * 2 > sms ? 1 : std::min<index_t>({(sms + tiles - 1) / tiles, key_tiles / 2, 32});
    }
    splits = std::clamp<index_t>(splits, 1, key_tiles);
    kernels::AttnSplits sp;
    sp.q_tiles = static_cast<int>(q_tiles);
    if (splits > 1) {
      sp.tiles_per_split = static_cast<int>((key_tiles + splits - 1) / splits);
      sp.splits = static_cast<int>((key_tiles + sp.tiles_per_split - 1) / sp.tiles_per_split);  // none empty
    }
    if (sp.splits > 1) {
      const std::size_t rows = static_cast<std::size_t>(tiles) * sp.splits * Cfg::BM;
      const std::size_t o_bytes = rows * Cfg::dim * sizeof(float);
      auto* ws = static_cast<unsigned char*>(s.workspace(o_bytes + rows * sizeof(float2), 2));
      sp.o = reinterpret_cast<float*>(ws);
      sp.ml = reinterpret_cast<float2*>(ws + o_bytes);
    }
    const dim3 grid(static_cast<unsigned>(q_tiles), static_cast<unsigned>(p.batch * p.kv_heads),
                    static_cast<unsigned>(sp.splits));
    hip::launch("attention_mma", kernel, grid, dim3(Cfg::threads), Cfg::smem, s, p, sp);
    if (sp.splits > 1) {
      const index_t row_blocks = (q_tiles * Cfg::BM + kernels::attn_combine_rows - 1) / kernels::attn_combine_rows;
      hip::launch("attention_combine", kernels::attention_combine<T>,
                  dim3(static_cast<unsigned>(row_blocks), static_cast<unsigned>(p.batch * p.kv_heads)),
                  dim3(kernels::attn_combine_threads), 0, s, p, sp, Cfg::BM, Cfg::dim);
    }
  }
};

}  // namespace fusekit
#endif
