#pragma once
// A Gemma expert's whole decode step (every layer, few new tokens against a KV cache) as ONE persistent
// kernel, NVIDIA sm_90a (front end: transformer/decode_stack.hpp).
//
// Why: with 11 new tokens a layer is six small kernels, each bound by its fixed costs (launch, the first
// load round trip, the tail), about 42 us a layer on an H100 against 11.5 us for the layer's 34.6 MB of
// weights at DRAM speed (docs/performance.md). Here one block per SM runs every layer:
//   - a producer warp streams the block's share of every weight matrix (and of the prefix K/V tiles,
//     which no step writes) through a ring of shared-memory stages with 1-D bulk copies, running ahead
//     across phases and layers as far as the ring allows: the DRAM stream never waits for a barrier;
//   - 8 consumer warps compute, and meet every other block at a grid barrier between phases:
//       QKV    16 weight rows x all of K per item; the residual's bf16 copy xb staged once per block, the
//              products scaled by each token's 1 / rms; RoPE (interleaved pairs); q -> qbuf, k and v ->
//              the new cache slots
//       ATT    (head pair, 32-key tile) per item: scores, softmax, P V; fp32 partial rows + (max, sum)
//       COMB   every block combines a share of the rows' partials -> attn (T)
//       O      16 rows x 1024 of K per item: the partial sums red.add into the fp32 residual x; the block
//              adding a column tile's last share rounds it into xb
//       GEGLU  8 gate + 8 up rows x all of K per item: gelu_tanh(g) * u -> h (T)
//       DOWN   16 rows x 1024 of K per item: red.add into x, the last share into xb
//   - every block stages the same activation rows (xb, attn, h: n x 2 KB) right after a barrier; they
//     may be kept in several copies so that fewer blocks read the same lines at once (`replicas`)
//   - items of a phase go round-robin to the blocks, the starting block advancing by the phase's count, so
//     every block streams about the same bytes per layer.
// GEMM items use mma.sync m16n8k16 with the weight rows in the A role and the tokens in the B role, both
// read as 16-byte vectors per lane (the k order permuted alike in both operands, as gemm_small_m does).
// The residual stream is fp32 inside the kernel (the token rows come in and go out in T); the order in
// which O and DOWN partial sums reach it is not fixed, so results vary in the last bits between runs.
#include <cstdint>
#include <utility>

#include "fusekit/backend/hip/tma.hpp"
#include "fusekit/backend/hip/vendor.hpp"
#include "fusekit/core/bfloat16.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/kernels/attention.hpp"
#include "fusekit/kernels/mma_atom.hpp"
#include "fusekit/ops/activation_functors.hpp"
#include "fusekit/ops/rope_params.hpp"

namespace fusekit::kernels {

// Fixed by the kernel's tiling: Pi0's action expert (Gemma-300M: hidden 1024, heads of 256, one KV head).
struct DecodeStackDims {
  static constexpr int hidden = 1024, head_dim = 256, max_tokens = 16, max_heads = 16;
  static constexpr int kc = 1024;  // K of one weight item
};

struct DecodeStackLayer {
  const std::uint16_t *qkv, *o, *gate_up, *down;  // [N, K] rows of T (qkv rows: q and k in interleaved RoPE order)
  std::uint16_t *k, *v;                           // the layer's cache [capacity, head_dim]
};

struct DecodeStackParams {
  const DecodeStackLayer* layers;
  int L, n, start, kv;  // layers, new tokens, their first cache slot, keys seen (start + n)
  int heads, mlp;
  const std::int32_t* pos;     // [n] RoPE positions
  const std::int32_t* kv_end;  // [n] keys each row sees (nullptr: all kv)
  float eps, scale_log2;       // RMSNorm epsilon; softmax scale * log2(e)
  const std::uint16_t* x_in;   // [n, hidden] T
  std::uint16_t* x_out;        // [n, hidden] T (may be x_in)
  float* x;                    // [n, hidden] the fp32 residual
  std::uint16_t* xb;           // [n, hidden] the residual rounded to T: what the norm phases stage
  unsigned* tiles_done;        // [2][hidden / 16] K-split shares summed into each column tile (O, DOWN); 0 at launch
  int bulk_stage;              // staged by 1-D bulk copies, else by 16-byte loads of every thread: bit 0 activation rows, bit 1 Q rows
  int pipelined;               // a GEMM item's epilogue overlaps the next item's products (one barrier less an item)
  int replicas;                // copies of xb, qbuf, attn and h (each [n, width] after the other): block b
                               // reads copy b % replicas, so that fewer blocks read the same lines at once
  std::uint16_t *qbuf, *attn, *h;  // [n, heads * 256], [n, heads * 256], [n, mlp]
  float* part;                     // [tiles][heads n][256] partial rows
  float* ml;                       // [tiles][heads n][2] (max, sum)
  unsigned* counter;               // the grid barrier: barrier_ways counters 128 bytes apart, 0 at launch
  int barrier_ways;                // block b arrives on counter b % ways (1..32, lanes of a warp read them): fewer adds to one address
  int l2_ahead;                    // ring items the producer's L2 prefetches run ahead of its copies
  unsigned long long* trace;       // optional: [blocks][2 per barrier] globaltimer at arrival and at release
  float inv_freq[DecodeStackDims::head_dim / 2];
};

#if FUSEKIT_GPUCC && FUSEKIT_VENDOR_CUDA
namespace decode_stack {

using Dims = DecodeStackDims;
constexpr int H = Dims::hidden, D = Dims::head_dim, KC = Dims::kc, MAXN = Dims::max_tokens;
constexpr int CW = 8, threads = 32 * (CW + 1);  // 8 consumer warps + 1 producer warp
constexpr int WPITCH = 2 * KC + 64;  // bytes per weight / activation row: 8 rows x 4 lanes' 16 B hit 32 banks
constexpr int KT = 32;               // keys per attention item
constexpr int KPITCH = 2 * D + 64;   // Q and K rows (16-byte loads by lanes (g, q), as weight rows)
constexpr int VPITCH = 2 * D + 16;   // V rows (ldmatrix.trans: 8 rows at 8 bank groups)
constexpr int CHUNK_BYTES = 16 * WPITCH, TILE_BYTES = KT * (KPITCH + VPITCH);
constexpr int STAGE = CHUNK_BYTES > TILE_BYTES ? CHUNK_BYTES : TILE_BYTES;
constexpr int NST = 5;               // ring stages (a block streams 8-9 items a layer)
constexpr int QR_BYTES = 32 * KPITCH;  // an attention item's Q; the GEMM's warp partials; P and row stats
constexpr int smem_bytes = NST * STAGE + STAGE + QR_BYTES;  // dynamic; the stages' barriers are static
constexpr int PPITCH = 40;  // P rows (T): 20 words, 8 rows at 8 bank groups
static_assert(2 * CW * 16 * 16 * 4 <= QR_BYTES, "decode_stack: two items' warp partial tiles fit the Q space");
static_assert(H == KC, "decode_stack: QKV and GEGLU items take all of K");

enum Phase { QKV, ATT, COMB, O, GEGLU, DOWN, NPHASE };
constexpr int kMaxPending = 8;  // O / DOWN column tiles a block adds shares to before it counts them

// Copy r of a replicated [n, width] T buffer.
FUSEKIT_DEVICE inline std::uint16_t* replica(std::uint16_t* base, const DecodeStackParams& p, int width, int r) {
  return base + static_cast<std::size_t>(r) * p.n * width;
}
// Stores `bits` (a T or a T pair) at element `at` of every copy.
template <class Bits>
FUSEKIT_DEVICE inline void store_replicas(std::uint16_t* base, const DecodeStackParams& p, int width, std::size_t at, Bits bits) {
  for (int r = 0; r < p.replicas; ++r) *reinterpret_cast<Bits*>(replica(base, p, width, r) + at) = bits;
}
FUSEKIT_DEVICE inline unsigned pack_bf16(float a, float b) { return pack2<bfloat16>(a, b); }
FUSEKIT_DEVICE inline void consumers_sync() { asm volatile("bar.sync 1, 256;\n" ::: "memory"); }
FUSEKIT_DEVICE inline uint4 lds128(const unsigned char* p) { return *reinterpret_cast<const uint4*>(p); }
using Atom = MmaSm80<bfloat16>;
// The atom on fragments held as plain registers (the permuted-k 16-byte loads fill them word by word).
FUSEKIT_DEVICE inline void mma_bf16(float (&c)[4], unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
  Atom::C acc{{c[0], c[1], c[2], c[3]}};
  Atom::mma(acc, Atom::A{{a0, a1, a2, a3}}, Atom::B{{b0, b1}});
  FUSEKIT_UNROLL
  for (int e = 0; e < 4; ++e) c[e] = acc.v[e];
}

// The block's items of each phase, the same sequence for producer and consumers.
struct Schedule {
  int G, b, base = 0;
  FUSEKIT_DEVICE int first(int count) {
    const int f = ((b - base) % G + G) % G;
    base = (base + count) % G;
    return f;
  }
};
FUSEKIT_DEVICE inline int phase_items(const DecodeStackParams& p, int ph, int tiles) {
  switch (ph) {
    case QKV: return (p.heads + 2) * D / 16;
    case ATT: return p.heads / 2 * tiles;
    case O: return H / 16 * (p.heads * D / KC);
    case GEGLU: return p.mlp / 8;
    case DOWN: return H / 16 * (p.mlp / KC);
    default: return 0;
  }
}
// An attention tile streams through the ring when this launch writes none of its keys.
FUSEKIT_DEVICE inline bool tile_in_ring(const DecodeStackParams& p, int tile) { return (tile + 1) * KT <= p.start; }

// Row r (0..15) of weight item i of phase ph: KC elements.
FUSEKIT_DEVICE inline const std::uint16_t* item_row(const DecodeStackParams& p, const DecodeStackLayer& w, int ph, int i, int r) {
  const int qd = p.heads * D;
  if (ph == QKV) return w.qkv + static_cast<std::size_t>(16 * i + r) * H;
  if (ph == O) return w.o + static_cast<std::size_t>(16 * (i % (H / 16)) + r) * qd + i / (H / 16) * KC;
  if (ph == GEGLU) return w.gate_up + static_cast<std::size_t>((r < 8 ? 0 : p.mlp) + 8 * i + r % 8) * H;
  return w.down + static_cast<std::size_t>(16 * (i % (H / 16)) + r) * p.mlp + i / (H / 16) * KC;
}

// Producer: the warp's lanes copy the rows of item i of phase ph into stage st.
FUSEKIT_DEVICE inline void produce(const DecodeStackParams& p, const DecodeStackLayer& w, int ph, int i, int tiles,
                                   unsigned char* st, std::uint64_t* full, int lane) {
  if (ph == ATT) {
    if (lane == 0) gpu::mbarrier_arrive_expect_tx(full, 2 * KT * 2 * D);
    __syncwarp();
    const std::size_t key = static_cast<std::size_t>(i % tiles) * KT + lane;
    gpu::bulk_copy_g2s(st + lane * KPITCH, w.k + key * D, 2 * D, full);
    gpu::bulk_copy_g2s(st + KT * KPITCH + lane * VPITCH, w.v + key * D, 2 * D, full);
    return;
  }
  if (lane == 0) gpu::mbarrier_arrive_expect_tx(full, 16 * 2 * KC);
  __syncwarp();
  if (lane >= 16) return;
  gpu::bulk_copy_g2s(st + lane * WPITCH, item_row(p, w, ph, i, lane), 2 * KC, full);
}

// The producer's walk over the block's ring items (weights, and attention tiles no launch writes), in
// the consumers' order.
struct RingCursor {
  const DecodeStackParams* p;
  Schedule sc;
  int tiles, l = 0, ph = -1, i = 0, count = 0;
  FUSEKIT_DEVICE RingCursor(const DecodeStackParams& pp, int G, int b, int t) : p(&pp), sc{G, b}, tiles(t) {}
  FUSEKIT_DEVICE bool next() {
    if (l >= p->L) return false;
    for (;;) {
      if (ph >= 0 && (i += sc.G) < count) {
        if (ph == ATT && !tile_in_ring(*p, i % tiles)) continue;
        return true;
      }
      if (++ph == NPHASE) {
        ph = 0;
        if (++l >= p->L) return false;
      }
      count = phase_items(*p, ph, tiles);
      i = sc.first(count) - sc.G;  // (the loop's first step adds G)
    }
  }
};
// The rows of the cursor's item to L2 (lanes 0..15 one weight row each; 32 lanes one K and V row each).
FUSEKIT_DEVICE inline void prefetch_l2(const DecodeStackParams& p, const RingCursor& c, int tiles, int lane) {
  const DecodeStackLayer& w = p.layers[c.l];
  if (c.ph == ATT) {
    const std::size_t key = static_cast<std::size_t>(c.i % tiles) * KT + lane;
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(w.k + key * D), "r"(2 * D) : "memory");
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(w.v + key * D), "r"(2 * D) : "memory");
    return;
  }
  if (lane >= 16) return;
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(item_row(p, w, c.ph, c.i, lane)), "r"(2 * KC) : "memory");
}

// Every block's consumers meet here; writes before are visible to every block after (CUTLASS's
// generic barrier: fence.acq_rel + relaxed add by one thread after the block's barrier, acquire loads).
FUSEKIT_DEVICE inline unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %globaltimer;\n" : "=l"(t));
  return t;
}
FUSEKIT_DEVICE inline void grid_sync(const DecodeStackParams& p, unsigned& target, int& nsync) {
  consumers_sync();
  target += gridDim.x;
  if (threadIdx.x == 0) {
    if (p.trace) p.trace[(static_cast<std::size_t>(blockIdx.x) * 1024 + nsync) * 2] = global_ns();
    asm volatile("fence.acq_rel.gpu;\nred.relaxed.gpu.global.add.u32 [%0], 1;\n" ::"l"(
                     p.counter + 32 * (blockIdx.x % p.barrier_ways))
                 : "memory");
  }
  if (threadIdx.x < 32) {  // lane w watches counter w; the warp sums them
    unsigned sum;
    do {
      unsigned v = 0;
      if (static_cast<int>(threadIdx.x) < p.barrier_ways)
        asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(p.counter + 32 * threadIdx.x) : "memory");
      sum = v;
      FUSEKIT_UNROLL
      for (int m = 16; m > 0; m /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, m);
    } while (sum < target);
    if (threadIdx.x == 0 && p.trace) p.trace[(static_cast<std::size_t>(blockIdx.x) * 1024 + nsync) * 2 + 1] = global_ns();
  }
  ++nsync;
  consumers_sync();
}

// RMSNorm's 1 / rms of each staged token row (the norm weight is folded into the weights): the
// products of the norm phases are scaled by it per token instead of the rows before rounding.
FUSEKIT_DEVICE inline void row_scales(const DecodeStackParams& p, const unsigned char* act, float* rs, int warp, int lane) {
  FUSEKIT_UNROLL
  for (int j = 0; j < 2; ++j) {
    const int t = warp + CW * j;
    float ss = 0.f;
    FUSEKIT_UNROLL
    for (int e = 0; e < 4; ++e) {
      const uint4 v = lds128(act + t * WPITCH + lane * 64 + 16 * e);
      for (const unsigned u : {v.x, v.y, v.z, v.w}) {
        const float a = __uint_as_float(u << 16), b = __uint_as_float(u & 0xffff0000u);
        ss += a * a + b * b;
      }
    }
    FUSEKIT_UNROLL
    for (int m = 16; m > 0; m /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, m);
    if (lane == 0) rs[t] = t < p.n ? rsqrtf(ss / H + p.eps) : 0.f;
  }
}
// `count` rows of `bytes` into shared memory by one thread's 1-D bulk copies (row r: `rows(r)` gives
// {destination, source}); every consumer waits for them. The rows were written by other blocks before a
// grid barrier, or this block's generic writes held the space before: both ordered before the copies.
template <class Rows>
FUSEKIT_DEVICE inline void bulk_rows(int count, unsigned bytes, Rows rows, std::uint64_t* bar, unsigned& parity) {
  gpu::fence_proxy_async_shared();
  consumers_sync();
  if (threadIdx.x == 0) {
    asm volatile("fence.proxy.async.global;\n" ::: "memory");
    gpu::mbarrier_arrive_expect_tx(bar, count * bytes);
    for (int r = 0; r < count; ++r) {
      const auto [dst, src] = rows(r);
      gpu::bulk_copy_g2s(dst, src, bytes, bar);
    }
  }
  gpu::mbarrier_wait_parity(bar, parity);
  parity ^= 1;
}
// Token rows [n][KC] of a T buffer (row stride ld) into `act`. Rows past n are zeros (loads) or stale
// (bulk copies): either way only their own columns of a product, which nothing stores, see them.
FUSEKIT_DEVICE inline void stage_rows(const DecodeStackParams& p, unsigned char* act, const std::uint16_t* src, int ld,
                                      int warp, int lane, std::uint64_t* bar, unsigned& parity) {
  if (p.bulk_stage & 1) {
    auto row = [&](int t) { return std::pair{act + t * WPITCH, src + static_cast<std::size_t>(t) * ld}; };
    bulk_rows(p.n, 2 * KC, row, bar, parity);
    return;
  }
  uint4 v[2][4];
  FUSEKIT_UNROLL
  for (int j = 0; j < 2; ++j) {
    const int t = warp + CW * j;
    const uint4* s = reinterpret_cast<const uint4*>(src + static_cast<std::size_t>(t) * ld + lane * 32);
    FUSEKIT_UNROLL
    for (int e = 0; e < 4; ++e) v[j][e] = t < p.n ? __ldcg(s + e) : make_uint4(0, 0, 0, 0);
  }
  FUSEKIT_UNROLL
  for (int j = 0; j < 2; ++j)
    FUSEKIT_UNROLL
    for (int e = 0; e < 4; ++e) reinterpret_cast<uint4*>(act + (warp + CW * j) * WPITCH + lane * 64)[e] = v[j][e];
}

// One weight item: [16 weight rows] x [16 token rows] over KC, the warps splitting K; each warp's partial
// tile [token][row] into red.
FUSEKIT_DEVICE inline void gemm_item(const unsigned char* st, const unsigned char* act, float* red, int n, int warp, int lane) {
  const int g = lane / 4, q = lane % 4;
  float acc[2][4] = {};
  FUSEKIT_UNROLL
  for (int u = 0; u < KC / 32 / CW; ++u) {
    const int kb = 2 * (warp * (KC / CW) + 32 * u + 8 * q);
    const uint4 wl = lds128(st + g * WPITCH + kb), wh = lds128(st + (g + 8) * WPITCH + kb);
    const uint4 x0 = lds128(act + g * WPITCH + kb), x1 = lds128(act + (g + 8) * WPITCH + kb);
    mma_bf16(acc[0], wl.x, wh.x, wl.y, wh.y, x0.x, x0.y);
    mma_bf16(acc[0], wl.z, wh.z, wl.w, wh.w, x0.z, x0.w);
    if (n > 8) {
      mma_bf16(acc[1], wl.x, wh.x, wl.y, wh.y, x1.x, x1.y);
      mma_bf16(acc[1], wl.z, wh.z, wl.w, wh.w, x1.z, x1.w);
    }
  }
  float* mine = red + warp * 256;
  FUSEKIT_UNROLL
  for (int j = 0; j < 2; ++j)
    FUSEKIT_UNROLL
    for (int e = 0; e < 4; ++e) mine[(8 * j + 2 * q + e % 2) * 16 + g + 8 * (e / 2)] = acc[j][e];
}
FUSEKIT_DEVICE inline float red_sum(const float* red, int idx) {
  float s = 0.f;
  FUSEKIT_UNROLL
  for (int w = 0; w < CW; ++w) s += red[w * 256 + idx];
  return s;
}

// One attention item: head pair hp (atom a: head 2 hp + a, rows = tokens), keys [KT tile, KT tile + KT).
// Warp (a, c): scores of atom a against keys [8c, 8c + 8) over all of D; then P V for columns [64c, 64c + 64).
FUSEKIT_DEVICE inline void att_item(const DecodeStackParams& p, const unsigned char* kv, unsigned char* qr, int hp, int tile,
                                    int warp, int lane) {
  const int g = lane / 4, q = lane % 4, a = warp / 4, c = warp % 4;
  int end[2];  // keys rows g and g + 8 see (loaded before the scores: one round trip less after them)
  FUSEKIT_UNROLL
  for (int r = 0; r < 2; ++r) {
    const int tok = g + 8 * r;
    end[r] = tok >= p.n ? 0 : p.kv_end == nullptr ? p.kv : min(p.kv, __ldg(p.kv_end + tok));
  }
  const unsigned char* ks = kv;
  const unsigned char* vs = kv + KT * KPITCH;
  float s[4] = {};
  FUSEKIT_UNROLL
  for (int u = 0; u < D / 32; ++u) {
    const int db = 2 * (32 * u + 8 * q);
    const uint4 ql = lds128(qr + (16 * a + g) * KPITCH + db), qh = lds128(qr + (16 * a + g + 8) * KPITCH + db);
    const uint4 k = lds128(ks + (8 * c + g) * KPITCH + db);
    mma_bf16(s, ql.x, qh.x, ql.y, qh.y, k.x, k.y);
    mma_bf16(s, ql.z, qh.z, ql.w, qh.w, k.z, k.w);
  }
  consumers_sync();  // every warp has read Q: its space takes P and the row statistics
  auto* P = reinterpret_cast<std::uint16_t*>(qr);                // [2][16][PPITCH]
  float* mx = reinterpret_cast<float*>(qr + 2 * 16 * PPITCH * 2);  // [2][4][16]
  float* sm = mx + 2 * 4 * 16;                                    // [2][4][16]
  // element e: row g + 8 (e / 2), key 8c + 2q + e % 2 of the tile
  float m2[2] = {-INFINITY, -INFINITY};
  FUSEKIT_UNROLL
  for (int e = 0; e < 4; ++e) {
    const int key = tile * KT + 8 * c + 2 * q + e % 2;
    const bool vis = key < end[e / 2];
    s[e] = vis ? s[e] * p.scale_log2 : -INFINITY;
    m2[e / 2] = fmaxf(m2[e / 2], s[e]);
  }
  FUSEKIT_UNROLL
  for (int r = 0; r < 2; ++r) {
    m2[r] = fmaxf(m2[r], __shfl_xor_sync(0xffffffffu, m2[r], 1));
    m2[r] = fmaxf(m2[r], __shfl_xor_sync(0xffffffffu, m2[r], 2));
    if (q == 0) mx[(a * 4 + c) * 16 + g + 8 * r] = m2[r];
  }
  consumers_sync();
  float M[2], l2[2] = {0.f, 0.f};
  FUSEKIT_UNROLL
  for (int r = 0; r < 2; ++r) {
    M[r] = -INFINITY;
    FUSEKIT_UNROLL
    for (int k = 0; k < 4; ++k) M[r] = fmaxf(M[r], mx[(a * 4 + k) * 16 + g + 8 * r]);
  }
  float pe[4];
  FUSEKIT_UNROLL
  for (int e = 0; e < 4; ++e) {
    pe[e] = M[e / 2] == -INFINITY ? 0.f : exp2f(s[e] - M[e / 2]);
    l2[e / 2] += pe[e];
  }
  FUSEKIT_UNROLL
  for (int r = 0; r < 2; ++r) {
    l2[r] += __shfl_xor_sync(0xffffffffu, l2[r], 1);
    l2[r] += __shfl_xor_sync(0xffffffffu, l2[r], 2);
    if (q == 0) sm[(a * 4 + c) * 16 + g + 8 * r] = l2[r];
    *reinterpret_cast<unsigned*>(P + (a * 16 + g + 8 * r) * PPITCH + 8 * c + 2 * q) = pack_bf16(pe[2 * r], pe[2 * r + 1]);
  }
  consumers_sync();
  float o[8][4] = {};
  FUSEKIT_UNROLL
  for (int kk = 0; kk < 2; ++kk) {
    const std::uint16_t* pr = P + (a * 16 + g) * PPITCH + 16 * kk + 2 * q;
    const unsigned a0 = *reinterpret_cast<const unsigned*>(pr), a1 = *reinterpret_cast<const unsigned*>(pr + 8 * PPITCH);
    const unsigned a2 = *reinterpret_cast<const unsigned*>(pr + 8), a3 = *reinterpret_cast<const unsigned*>(pr + 8 * PPITCH + 8);
    FUSEKIT_UNROLL
    for (int nb = 0; nb < 8; nb += 2) {
      const int mi = lane / 8, key = 16 * kk + (mi & 1) * 8 + lane % 8, d = 64 * c + 8 * (nb + (mi >> 1));
      unsigned b[4];
      Atom::ldmatrix_x4<true>(b, reinterpret_cast<const bfloat16*>(vs + key * VPITCH + 2 * d));
      mma_bf16(o[nb], a0, a1, a2, a3, b[0], b[1]);
      mma_bf16(o[nb + 1], a0, a1, a2, a3, b[2], b[3]);
    }
  }
  const int head = 2 * hp + a, rows = p.heads * p.n;
  FUSEKIT_UNROLL
  for (int r = 0; r < 2; ++r) {
    const int tok = g + 8 * r;
    if (tok >= p.n) continue;
    float* row = p.part + (static_cast<std::size_t>(tile) * rows + head * p.n + tok) * D;
    FUSEKIT_UNROLL
    for (int nb = 0; nb < 8; ++nb)
      __stcg(reinterpret_cast<float2*>(row + 64 * c + 8 * nb + 2 * q), make_float2(o[nb][2 * r], o[nb][2 * r + 1]));
    if (c == 0 && q == 0) {
      float l = 0.f;
      FUSEKIT_UNROLL
      for (int k = 0; k < 4; ++k) l += sm[(a * 4 + k) * 16 + tok];
      __stcg(reinterpret_cast<float2*>(p.ml) + tile * rows + head * p.n + tok, make_float2(M[r], l));
    }
  }
}

// Rows (head, token) of attn from every tile's partial rows. Four lanes per 4 columns of a row, each
// taking every 4th tile with all its loads in flight at once (one round trip for up to 4 kMaxTiles
// tiles), then the lanes' (max, sum, columns) merged by shuffles.
inline constexpr int combine_lanes = 4, combine_tiles = 8;  // up to 32 tiles (1024 keys) in one pass
FUSEKIT_DEVICE inline void combine(const DecodeStackParams& p, int tiles) {
  const int rows = p.heads * p.n, items = rows * (D / 4);
  const auto* ml = reinterpret_cast<const float2*>(p.ml);
  const int lane4 = static_cast<int>(threadIdx.x) % combine_lanes;
  const int stride = static_cast<int>(gridDim.x) * 256 / combine_lanes;
  for (int it = static_cast<int>(blockIdx.x * 256 + threadIdx.x) / combine_lanes; it < items + (stride - items % stride) % stride;
       it += stride) {  // (every lane of a group runs the same iterations: the shuffles need all four)
    const bool live = it < items;
    const int r = live ? it / (D / 4) : 0, d4 = it % (D / 4);
    float M = -INFINITY, L = 0.f;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int t0 = lane4; t0 < tiles; t0 += combine_lanes * combine_tiles) {
      float2 m[combine_tiles];
      float4 v[combine_tiles];
      FUSEKIT_UNROLL
      for (int j = 0; j < combine_tiles; ++j) {
        const int t = t0 + combine_lanes * j;
        m[j] = live && t < tiles ? __ldcg(ml + t * rows + r) : make_float2(-INFINITY, 0.f);
        v[j] = live && t < tiles ? __ldcg(reinterpret_cast<const float4*>(p.part + (static_cast<std::size_t>(t) * rows + r) * D) + d4)
                                 : make_float4(0.f, 0.f, 0.f, 0.f);
      }
      float Mn = M;  // a later round of tiles (past 32) rescales what came before to the new max
      FUSEKIT_UNROLL
      for (int j = 0; j < combine_tiles; ++j) Mn = fmaxf(Mn, m[j].x);
      const float ws = M == -INFINITY ? 0.f : exp2f(M - Mn);
      L *= ws, acc.x *= ws, acc.y *= ws, acc.z *= ws, acc.w *= ws, M = Mn;
      FUSEKIT_UNROLL
      for (int j = 0; j < combine_tiles; ++j) {
        const float w = m[j].x == -INFINITY ? 0.f : exp2f(m[j].x - M);
        L += w * m[j].y;
        acc.x += w * v[j].x, acc.y += w * v[j].y, acc.z += w * v[j].z, acc.w += w * v[j].w;
      }
    }
    FUSEKIT_UNROLL
    for (int o = 1; o < combine_lanes; o *= 2) {
      const float Mo = __shfl_xor_sync(0xffffffffu, M, o), Lo = __shfl_xor_sync(0xffffffffu, L, o);
      const float4 ao = make_float4(__shfl_xor_sync(0xffffffffu, acc.x, o), __shfl_xor_sync(0xffffffffu, acc.y, o),
                                    __shfl_xor_sync(0xffffffffu, acc.z, o), __shfl_xor_sync(0xffffffffu, acc.w, o));
      const float Mn = fmaxf(M, Mo);
      const float ws = M == -INFINITY ? 0.f : exp2f(M - Mn), wo = Mo == -INFINITY ? 0.f : exp2f(Mo - Mn);
      L = L * ws + Lo * wo;
      acc = make_float4(acc.x * ws + ao.x * wo, acc.y * ws + ao.y * wo, acc.z * ws + ao.z * wo, acc.w * ws + ao.w * wo);
      M = Mn;
    }
    if (live && lane4 == 0) {
      const float inv = L > 0.f ? 1.f / L : 0.f;  // a row that sees no key: zeros, as attention() defines it
      const int head = r / p.n, tok = r % p.n;
      store_replicas(p.attn, p, p.heads * D, static_cast<std::size_t>(tok) * (p.heads * D) + head * D + 4 * d4,
                     make_uint2(pack_bf16(acc.x * inv, acc.y * inv), pack_bf16(acc.z * inv, acc.w * inv)));
    }
  }
}

}  // namespace decode_stack

FUSEKIT_GLOBAL void __launch_bounds__(decode_stack::threads, 1) decode_stack_kernel(const FUSEKIT_GRID_CONSTANT DecodeStackParams p) {
#if FUSEKIT_SM90A
  using namespace decode_stack;
  extern __shared__ __align__(1024) unsigned char smem[];
  unsigned char* ring = smem;
  unsigned char* aux = smem + NST * STAGE;  // activation slice, or an attention tile this launch wrote
  unsigned char* qr = aux + STAGE;
  __shared__ std::uint64_t bars[2 * NST + 1];  // (static: the host sees from its size that this body was built)
  __shared__ float rs[MAXN];                    // the norm phases' 1 / rms per token
  __shared__ int last_share[kMaxPending];       // O, DOWN: this block added a pending column tile's last share
  std::uint64_t* full = bars;
  std::uint64_t* empty = bars + NST;
  std::uint64_t* staged_bar = bars + 2 * NST;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int tiles = (p.kv + KT - 1) / KT, G = static_cast<int>(gridDim.x);
  if (threadIdx.x == 0) {
    for (int i = 0; i < NST; ++i) gpu::mbarrier_init(full + i, 1), gpu::mbarrier_init(empty + i, CW);
    gpu::mbarrier_init(staged_bar, 1);
    gpu::mbarrier_init_fence();
  }
  __syncthreads();

  if (warp == CW) {  // the producer: every ring item of every layer, in the consumers' order
    RingCursor fetch(p, G, static_cast<int>(blockIdx.x), tiles), ahead = fetch;
    // The L2 prefetch cursor runs p.l2_ahead items past the copies: a full ring stops the copies while the
    // consumers are in phases without weights, not the DRAM stream.
    for (int k = 0; k < p.l2_ahead && ahead.next(); ++k) prefetch_l2(p, ahead, tiles, lane);
    int stage = 0;
    unsigned round = 0;
    while (fetch.next()) {
      if (ahead.next()) prefetch_l2(p, ahead, tiles, lane);
      if (lane == 0) gpu::mbarrier_wait_parity(empty + stage, (round & 1) ^ 1);
      __syncwarp();
      produce(p, p.layers[fetch.l], fetch.ph, fetch.i, tiles, ring + stage * STAGE, full + stage, lane);
      if (++stage == NST) stage = 0, ++round;
    }
    return;
  }

  Schedule sc{G, static_cast<int>(blockIdx.x)};
  int stage = 0;
  unsigned round = 0, target = 0;
  int nsync = 0;
  const int tid = static_cast<int>(threadIdx.x);
  unsigned long long waited[NPHASE] = {}, staging[NPHASE] = {};  // profiling (p.trace): thread 0's ns
  const bool prof = p.trace != nullptr && tid == 0;
  auto take = [&](int ph) {
    const unsigned long long t0 = prof ? global_ns() : 0;
    gpu::mbarrier_wait_parity(full + stage, round & 1);
    if (prof) waited[ph] += global_ns() - t0;
    return ring + stage * STAGE;
  };
  auto release = [&]() {
    __syncwarp();
    if (lane == 0) gpu::mbarrier_arrive(empty + stage);
    if (++stage == NST) stage = 0, ++round;
  };
  unsigned staged_parity = 0;
  for (int i = blockIdx.x * 256 + tid; i < p.n * H; i += G * 256) {
    const std::uint16_t v = p.x_in[i];
    p.x[i] = detail::bf16_bits_to_float(v);
    store_replicas(p.xb, p, H, i, v);
  }
  grid_sync(p, target, nsync);
  // O, DOWN: the column tiles this block added shares to, counted once after its items (one fence and one
  // round of counter atomics for all of them); the block adding a tile's last share rounds it into xb.
  int pending[kMaxPending], npending = 0;
  auto count_shares = [&](int ph) {
    __threadfence();
    consumers_sync();
    if (tid < npending) {
      const unsigned splits = (ph == O ? p.heads * D : p.mlp) / KC;
      const unsigned seen = atomicAdd(p.tiles_done + (ph == O ? 0 : H / 16) + pending[tid], 1u);
      last_share[tid] = (seen + 1) % splits == 0;
      __threadfence();
    }
    consumers_sync();
    const int t = tid / 16;
    for (int k = 0; k < npending; ++k) {
      const int col = 16 * pending[k] + tid % 16;
      if (last_share[k] && t < p.n)
        store_replicas(p.xb, p, H, static_cast<std::size_t>(t) * H + col, convert<bfloat16>(__ldcg(p.x + t * H + col)).bits);
    }
    npending = 0;
    consumers_sync();  // last_share is read before the next count writes it
  };
  unsigned items_done = 0;  // GEMM items so far: with p.pipelined, item k's warp partials go to half k % 2 of qr
  const int qd = p.heads * D, my_copy = static_cast<int>(blockIdx.x) % p.replicas;
  const std::uint16_t* qbuf = replica(p.qbuf, p, qd, my_copy);
  const std::uint16_t* attn = replica(p.attn, p, qd, my_copy);
  const std::uint16_t* hbuf = replica(p.h, p, p.mlp, my_copy);
  const std::uint16_t* xb = replica(p.xb, p, H, my_copy);
  for (int l = 0; l < p.L; ++l) {
    const DecodeStackLayer w = p.layers[l];
    int staged = -1;  // the activation slice aux holds: phase * 64 + slice
    for (int ph = 0; ph < NPHASE; ++ph) {
      const int count = phase_items(p, ph, tiles);
      const int f = sc.first(count);
      if (ph == COMB) combine(p, tiles);
      const int my_pos = tid < 128 && tid / 8 < p.n ? __ldg(p.pos + tid / 8) : 0;  // (QKV's RoPE rows)
      for (int i = f; i < count; i += G) {
        if (ph == ATT) {
          const int tile = i % tiles, hp = i / tiles;
          if (p.bulk_stage & 2) {  // Q rows 16 a + token of heads 2 hp + a (rows past n stale: att_item masks them)
            auto row = [&](int r) {
              const int a = r / p.n, tok = r % p.n;
              return std::pair{qr + (16 * a + tok) * KPITCH, qbuf + tok * qd + (2 * hp + a) * D};
            };
            bulk_rows(2 * p.n, 2 * D, row, staged_bar, staged_parity);
          } else {
            for (int r = warp; r < 32; r += CW) {
              const int a = r / 16, tok = r % 16;
              const uint4 v = tok < p.n ? __ldcg(reinterpret_cast<const uint4*>(qbuf + tok * qd + (2 * hp + a) * D) + lane)
                                        : make_uint4(0, 0, 0, 0);
              *reinterpret_cast<uint4*>(qr + r * KPITCH + 16 * lane) = v;
            }
          }
          const bool in_ring = tile_in_ring(p, tile);
          const unsigned char* kvs = aux;
          if (in_ring) {
            kvs = take(ph);
          } else {  // keys this launch wrote, zeros past kv
            for (int r = warp; r < KT; r += CW) {
              const int key = tile * KT + r;
              const bool in = key < p.kv;
              const auto* kr = reinterpret_cast<const uint4*>(w.k + static_cast<std::size_t>(key) * D) + lane;
              const auto* vr = reinterpret_cast<const uint4*>(w.v + static_cast<std::size_t>(key) * D) + lane;
              *reinterpret_cast<uint4*>(aux + r * KPITCH + 16 * lane) = in ? __ldcg(kr) : make_uint4(0, 0, 0, 0);
              *reinterpret_cast<uint4*>(aux + KT * KPITCH + r * VPITCH + 16 * lane) = in ? __ldcg(vr) : make_uint4(0, 0, 0, 0);
            }
            staged = -1;
          }
          consumers_sync();
          att_item(p, kvs, qr, hp, tile, warp, lane);
          if (in_ring) release();
          consumers_sync();  // P and the statistics are read before the next item's Q lands
          continue;
        }
        const int slice = ph == O || ph == DOWN ? i / (H / 16) : 0;
        const int key = ph * 64 + slice;
        if (staged != key) {
          const unsigned long long t0 = prof ? global_ns() : 0;
          const std::uint16_t* src = ph == O ? attn + slice * KC : ph == DOWN ? hbuf + slice * KC : xb;
          stage_rows(p, aux, src, ph == O ? qd : ph == DOWN ? p.mlp : H, warp, lane, staged_bar, staged_parity);
          if (ph == QKV || ph == GEGLU) row_scales(p, aux, rs, warp, lane);
          staged = key;
          consumers_sync();
          if (prof) staging[ph] += global_ns() - t0;
        }
        float* red = reinterpret_cast<float*>(qr) + (p.pipelined ? (items_done++ & 1u) * CW * 256 : 0);
        gemm_item(take(ph), aux, red, p.n, warp, lane);
        release();
        consumers_sync();
        if (ph == QKV) {
          if (tid < 128) {
            const int t = tid / 8, e = tid % 8, col = 16 * i + 2 * e;
            if (t < p.n) {
              float v0 = red_sum(red, t * 16 + 2 * e) * rs[t], v1 = red_sum(red, t * 16 + 2 * e + 1) * rs[t];
              if (col < qd + D) {  // q and k turn
                float sn, cs;
                rope_sincos(static_cast<float>(my_pos) * p.inv_freq[(col % D) / 2], &sn, &cs);
                const float r0 = v0 * cs - v1 * sn, r1 = v1 * cs + v0 * sn;
                v0 = r0, v1 = r1;
              }
              const unsigned pr = pack_bf16(v0, v1);
              if (col < qd) store_replicas(p.qbuf, p, qd, static_cast<std::size_t>(t) * qd + col, pr);
              else if (col < qd + D) *reinterpret_cast<unsigned*>(w.k + static_cast<std::size_t>(p.start + t) * D + col - qd) = pr;
              else *reinterpret_cast<unsigned*>(w.v + static_cast<std::size_t>(p.start + t) * D + col - qd - D) = pr;
            }
          }
        } else if (ph == GEGLU) {
          if (tid < 128) {
            const int t = tid / 8, e = tid % 8;
            if (t < p.n) {
              const float gt = red_sum(red, t * 16 + e) * rs[t], up = red_sum(red, t * 16 + 8 + e) * rs[t];
              store_replicas(p.h, p, p.mlp, static_cast<std::size_t>(t) * p.mlp + 8 * i + e,
                             convert<bfloat16>(act::GeluTanh{}(gt) * up).bits);
            }
          }
        } else {  // O, DOWN: this item's share of K, summed into the residual (counted below)
          const int t = tid / 16, col = 16 * (i % (H / 16)) + tid % 16;
          if (t < p.n) atomicAdd(p.x + t * H + col, red_sum(red, tid));
          pending[npending++] = i % (H / 16);
          if (npending == kMaxPending) count_shares(ph);
        }
        // The next item's partials overwrite red; pipelined, they go to the other half, and the barrier after
        // them orders this epilogue's reads before the item after next.
        if (!p.pipelined) consumers_sync();
      }
      if (npending > 0) count_shares(ph);
      grid_sync(p, target, nsync);
    }
  }
  for (int i = blockIdx.x * 256 + tid; i < p.n * H; i += G * 256) p.x_out[i] = convert<bfloat16>(__ldcg(p.x + i)).bits;
  if (prof)
    for (int ph = 0; ph < NPHASE; ++ph) {
      p.trace[(static_cast<std::size_t>(blockIdx.x) * 1024 + 1000 + ph) * 2] = waited[ph];
      p.trace[(static_cast<std::size_t>(blockIdx.x) * 1024 + 1000 + ph) * 2 + 1] = staging[ph];
    }
#else
  (void)p;
  __trap();
#endif
}
#endif

}  // namespace fusekit::kernels
