// Experiment (not built by CMake): a Pi0 denoising step's action-expert stack (Gemma-300M shape: hidden
// 1024, 8 query heads / 1 KV head of 256, GeGLU 4096, 11 tokens against a 788-key prefix cache) as ONE
// persistent kernel, checked against and timed beside the library's gemma_forward in the same run.
//
// Why: an 11-row decode layer is bound by the fixed cost of each of its 6 kernels (launch, first load
// round trip, tail), about 42 us a layer against 11.5 us for its 34.6 MB of weights at DRAM speed
// (docs/performance.md, sessions 16-29). Here one block per SM runs every layer; a producer warp streams
// the block's share of every weight (and of the prefix K/V, which no step writes) through a ring of
// shared-memory stages with 1-D bulk copies, running ahead across phases; 8 consumer warps compute and
// meet the other blocks at a grid barrier between phases (6 per layer):
//   QKV    16 weight rows x all of K per item: norm(x) staged once, RoPE, q -> qbuf, k/v -> cache slots
//   ATT    (head pair, 32-key tile) per item: scores, softmax, P V; fp32 partial rows + (max, sum)
//   COMB   every block combines a share of the rows' partials -> attn (bf16)
//   O      16 rows x 1024 of K per item (2 per group): partial sums red.add into the fp32 residual x
//   GEGLU  8 gate + 8 up rows x all of K: gelu_tanh(g) * u -> h (bf16)
//   DOWN   16 rows x 1024 of K (4 per group): red.add into x
// The residual stream is fp32 here (the library keeps it in T); summation order into x is not fixed.
// Built by hand:
//   nvcc -std=c++20 -O3 -arch=sm_90a --expt-relaxed-constexpr -DFMT_HEADER_ONLY=1 -DFMT_USE_CONSTEXPR=1 -Iinclude \
//     -I.deps/usr/include -I.deps/usr/include/eigen3 -Ibench -x cu bench/experiments/decode_megakernel.cu -o decode_megakernel
#include <cmath>
#include <cstdio>
#include <fusekit/fusekit.hpp>
#include <fusekit/transformer/gemma.hpp>
#include <fusekit/ops/transfer.hpp>

#include "gpu_timing.hpp"

using namespace fusekit;
using namespace fusekit::bench;
using namespace fusekit::transformer;

namespace mk {

constexpr int H = 1024, D = 256, HQ = 8, MLP = 4096, QKVW = HQ * D + 2 * D, MAXN = 16;
constexpr int CW = 8, THREADS = 32 * (CW + 1);  // 8 consumer warps + 1 producer warp
constexpr int KC = 1024;                        // K of one weight item
constexpr int WPITCH = 2 * KC + 64;             // bytes per weight / activation row in shared memory
constexpr int KT = 32;                          // keys per attention tile
constexpr int KPITCH = 2 * D + 64;              // K and Q rows (16-byte loads, lanes (g, q))
constexpr int VPITCH = 2 * D + 16;              // V rows (ldmatrix.trans)
constexpr int CHUNK_BYTES = 16 * WPITCH;
constexpr int TILE_BYTES = KT * (KPITCH + VPITCH);
constexpr int STAGE = CHUNK_BYTES > TILE_BYTES ? CHUNK_BYTES : TILE_BYTES;
constexpr int NST = 5;
constexpr int QR_BYTES = 32 * KPITCH;  // Q of an attention item; the GEMM's warp partials; P and row stats
constexpr int SMEM = NST * STAGE + STAGE + QR_BYTES + 2 * NST * 8;
constexpr int PPITCH = 40;  // P rows (bf16): 20 words, 8 rows hit 8 bank groups
static_assert(CW * 16 * 16 * 4 <= QR_BYTES, "warp partials fit");

enum Phase { QKV, ATT, COMB, O, GEGLU, DOWN, NPHASE };

struct LayerW {
  const std::uint16_t *qkv, *o, *gu, *down;  // bf16 [N, K] rows
  std::uint16_t *kc, *vc;                    // cache [capacity, 256]
};

struct Params {
  const LayerW* layers;
  int L, n, start, kv;  // tokens, first new slot, keys seen (start + n)
  const int* pos;       // [n]
  const int* kv_end;    // [n]
  float eps, scale_log2;
  const std::uint16_t* x_in;  // bf16 [n, H]
  std::uint16_t* x_out;       // bf16 [n, H]
  float* x;                   // fp32 residual [n, H]
  std::uint16_t *qbuf, *attn, *h;  // [n, 2048], [n, 2048], [n, 4096]
  float* part;                     // [tiles][8 n][D]
  float2* ml;                      // [tiles][8 n]
  unsigned* counter;
  float inv_freq[D / 2];
};

__device__ __forceinline__ std::uint32_t saddr(const void* p) { return static_cast<std::uint32_t>(__cvta_generic_to_shared(p)); }
__device__ __forceinline__ float bf(std::uint16_t b) { return __uint_as_float(static_cast<unsigned>(b) << 16); }
__device__ __forceinline__ float bf_lo(unsigned w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf_hi(unsigned w) { return __uint_as_float(w & 0xffff0000u); }
__device__ __forceinline__ unsigned pk(float a, float b) { return kernels::pack2<bfloat16>(a, b); }
__device__ __forceinline__ void consumers_sync() { asm volatile("bar.sync 1, 256;\n" ::: "memory"); }
__device__ __forceinline__ uint4 lds128(const unsigned char* p) { return *reinterpret_cast<const uint4*>(p); }

__device__ __forceinline__ void bulk_copy(void* dst, const void* src, unsigned bytes, std::uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(saddr(dst)),
               "l"(src), "r"(bytes), "r"(saddr(bar))
               : "memory");
}

__device__ __forceinline__ void mma(float (&c)[4], unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// The block's share of every phase, the same sequence for producer and consumers: item i of a phase of
// `count` items goes to block (base + i) % G, base advancing by count, so every block gets as many items
// over a layer.
struct Schedule {
  int G, b, base = 0;
  __device__ int first(int count) {
    const int f = ((b - base) % G + G) % G;
    base = (base + count) % G;
    return f;
  }
};
__device__ __forceinline__ int phase_items(Phase ph, int tiles) {
  switch (ph) {
    case QKV: return QKVW / 16;
    case ATT: return 4 * tiles;
    case O: return (H / 16) * (HQ * D / KC);
    case GEGLU: return MLP / 8;
    case DOWN: return (H / 16) * (MLP / KC);
    default: return 0;
  }
}
// An attention tile goes through the ring when no key of it is written by this launch.
__device__ __forceinline__ bool tile_in_ring(const Params& p, int tile) { return (tile + 1) * KT <= p.start; }

// Producer: lanes copy rows of item `i` of phase `ph` into stage `st`.
__device__ void produce(const Params& p, const LayerW& w, Phase ph, int i, unsigned char* st, std::uint64_t* full, int lane) {
  if (ph == ATT) {
    const int tile = i % ((p.kv + KT - 1) / KT);
    if (lane == 0) gpu::mbarrier_arrive_expect_tx(full, 2 * KT * 2 * D);
    __syncwarp();
    const int key = tile * KT + lane;
    bulk_copy(st + lane * KPITCH, w.kc + static_cast<std::size_t>(key) * D, 2 * D, full);
    bulk_copy(st + KT * KPITCH + lane * VPITCH, w.vc + static_cast<std::size_t>(key) * D, 2 * D, full);
    return;
  }
  if (lane == 0) gpu::mbarrier_arrive_expect_tx(full, 16 * 2 * KC);
  __syncwarp();
  if (lane >= 16) return;
  const std::uint16_t* src;
  if (ph == QKV) src = w.qkv + static_cast<std::size_t>(16 * i + lane) * H;
  else if (ph == O) src = w.o + static_cast<std::size_t>(16 * (i / 2) + lane) * (HQ * D) + (i % 2) * KC;
  else if (ph == GEGLU) src = w.gu + static_cast<std::size_t>((lane < 8 ? 0 : MLP) + 8 * i + lane % 8) * H;
  else src = w.down + static_cast<std::size_t>(16 * (i / 4) + lane) * MLP + (i % 4) * KC;
  bulk_copy(st + lane * WPITCH, src, 2 * KC, full);
}

__device__ void grid_sync(const Params& p, unsigned& target) {
  consumers_sync();
  target += gridDim.x;
  if (threadIdx.x == 0) {
    __threadfence();
    asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(p.counter) : "memory");
    unsigned v;
    do {
      asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(p.counter) : "memory");
    } while (v < target);
    __threadfence();
  }
  consumers_sync();
}

// Activation rows [16][KC] bf16 in `act`: the RMS-normalised fp32 residual (norm) or a bf16 slice.
__device__ void stage_norm(const Params& p, unsigned char* act, int warp, int lane) {
  for (int t = warp; t < MAXN; t += CW) {
    uint4* dst = reinterpret_cast<uint4*>(act + t * WPITCH + lane * 64);
    if (t >= p.n) {
      for (int e = 0; e < 4; ++e) dst[e] = make_uint4(0, 0, 0, 0);
      continue;
    }
    const float4* src = reinterpret_cast<const float4*>(p.x + t * H + lane * 32);
    float4 v[8];
    float ss = 0.f;
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      v[e] = __ldcg(src + e);
      ss += v[e].x * v[e].x + v[e].y * v[e].y + v[e].z * v[e].z + v[e].w * v[e].w;
    }
#pragma unroll
    for (int m = 16; m > 0; m /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, m);
    const float rs = rsqrtf(ss / H + p.eps);
#pragma unroll
    for (int e = 0; e < 4; ++e)
      dst[e] = make_uint4(pk(v[2 * e].x * rs, v[2 * e].y * rs), pk(v[2 * e].z * rs, v[2 * e].w * rs),
                          pk(v[2 * e + 1].x * rs, v[2 * e + 1].y * rs), pk(v[2 * e + 1].z * rs, v[2 * e + 1].w * rs));
  }
}
__device__ void stage_rows(const Params& p, unsigned char* act, const std::uint16_t* src, int ld, int warp, int lane) {
  for (int t = warp; t < MAXN; t += CW) {
    uint4* dst = reinterpret_cast<uint4*>(act + t * WPITCH + lane * 64);
    const uint4* s = reinterpret_cast<const uint4*>(src + static_cast<std::size_t>(t) * ld + lane * 32);
#pragma unroll
    for (int e = 0; e < 4; ++e) dst[e] = t < p.n ? __ldcg(s + e) : make_uint4(0, 0, 0, 0);
  }
}

// One weight item: y[16 cols][tokens] = W rows . act rows over KC, the 8 warps splitting K; sums in `red`.
__device__ void gemm_item(const unsigned char* st, const unsigned char* act, float* red, int n, int warp, int lane) {
  const int g = lane / 4, q = lane % 4;
  float acc[2][4] = {};
#pragma unroll
  for (int u = 0; u < KC / 32 / CW; ++u) {
    const int kb = 2 * (warp * (KC / CW) + 32 * u + 8 * q);
    const uint4 wl = lds128(st + g * WPITCH + kb), wh = lds128(st + (g + 8) * WPITCH + kb);
    const uint4 x0 = lds128(act + g * WPITCH + kb), x1 = lds128(act + (g + 8) * WPITCH + kb);
    mma(acc[0], wl.x, wh.x, wl.y, wh.y, x0.x, x0.y);
    mma(acc[0], wl.z, wh.z, wl.w, wh.w, x0.z, x0.w);
    if (n > 8) {
      mma(acc[1], wl.x, wh.x, wl.y, wh.y, x1.x, x1.y);
      mma(acc[1], wl.z, wh.z, wl.w, wh.w, x1.z, x1.w);
    }
  }
  float* mine = red + warp * 256;
#pragma unroll
  for (int j = 0; j < 2; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) mine[(8 * j + 2 * q + e % 2) * 16 + g + 8 * (e / 2)] = acc[j][e];
}
__device__ __forceinline__ float red_sum(const float* red, int idx) {
  float s = 0.f;
#pragma unroll
  for (int w = 0; w < CW; ++w) s += red[w * 256 + idx];
  return s;
}

// One attention item: head pair hp (rows: atom a = head 2 hp + a, tokens 0..n-1), keys [KT tile, +KT).
__device__ void att_item(const Params& p, const unsigned char* kv, unsigned char* qr, int hp, int tile, int warp, int lane) {
  const int g = lane / 4, q = lane % 4, a = warp / 4, kb8 = warp % 4;
  const unsigned char* ks = kv;
  const unsigned char* vs = kv + KT * KPITCH;
  // S for atom a, keys [8 kb8, 8 kb8 + 8) of the tile, over all D
  float s[4] = {};
#pragma unroll
  for (int u = 0; u < D / 32; ++u) {
    const int db = 2 * (32 * u + 8 * q);
    const uint4 ql = lds128(qr + (16 * a + g) * KPITCH + db), qh = lds128(qr + (16 * a + g + 8) * KPITCH + db);
    const uint4 k = lds128(ks + (8 * kb8 + g) * KPITCH + db);
    mma(s, ql.x, qh.x, ql.y, qh.y, k.x, k.y);
    mma(s, ql.z, qh.z, ql.w, qh.w, k.z, k.w);
  }
  consumers_sync();  // Q read by every warp: its space takes P and the row stats now
  std::uint16_t* P = reinterpret_cast<std::uint16_t*>(qr);              // [2][16][PPITCH]
  float* mx = reinterpret_cast<float*>(qr + 2 * 16 * PPITCH * 2);       // [2][4][16]
  float* sm = mx + 2 * 4 * 16;                                           // [2][4][16]
  // mask and scale: element e is (row g + 8 (e / 2), key 8 kb8 + 2 q + e % 2)
  float m2[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const int tok = g + 8 * (e / 2), key = tile * KT + 8 * kb8 + 2 * q + e % 2;
    const bool vis = tok < p.n && key < p.kv && key < __ldg(p.kv_end + tok);
    s[e] = vis ? s[e] * p.scale_log2 : -INFINITY;
    m2[e / 2] = fmaxf(m2[e / 2], s[e]);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    m2[r] = fmaxf(m2[r], __shfl_xor_sync(0xffffffffu, m2[r], 1));
    m2[r] = fmaxf(m2[r], __shfl_xor_sync(0xffffffffu, m2[r], 2));
    if (q == 0) mx[(a * 4 + kb8) * 16 + g + 8 * r] = m2[r];
  }
  consumers_sync();
  float M[2], l2[2] = {0.f, 0.f};
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    M[r] = -INFINITY;
#pragma unroll
    for (int k = 0; k < 4; ++k) M[r] = fmaxf(M[r], mx[(a * 4 + k) * 16 + g + 8 * r]);
  }
  float pe[4];
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const float m = M[e / 2];
    pe[e] = m == -INFINITY ? 0.f : exp2f(s[e] - m);
    l2[e / 2] += pe[e];
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l2[r] += __shfl_xor_sync(0xffffffffu, l2[r], 1);
    l2[r] += __shfl_xor_sync(0xffffffffu, l2[r], 2);
    if (q == 0) sm[(a * 4 + kb8) * 16 + g + 8 * r] = l2[r];
    *reinterpret_cast<unsigned*>(P + (a * 16 + g + 8 * r) * PPITCH + 8 * kb8 + 2 * q) = pk(pe[2 * r], pe[2 * r + 1]);
  }
  consumers_sync();
  // O[atom a][d in 64 kb8 + 64) = P V over the tile's 32 keys
  const int dq = kb8;
  float o[8][4] = {};
#pragma unroll
  for (int kk = 0; kk < 2; ++kk) {
    const std::uint16_t* pr = P + (a * 16 + g) * PPITCH + 16 * kk + 2 * q;
    const unsigned a0 = *reinterpret_cast<const unsigned*>(pr), a1 = *reinterpret_cast<const unsigned*>(pr + 8 * PPITCH);
    const unsigned a2 = *reinterpret_cast<const unsigned*>(pr + 8), a3 = *reinterpret_cast<const unsigned*>(pr + 8 * PPITCH + 8);
#pragma unroll
    for (int nb = 0; nb < 8; nb += 2) {
      const int mi = lane / 8, rr = lane % 8;
      const int key = 16 * kk + (mi & 1) * 8 + rr, d = 64 * dq + 8 * (nb + (mi >> 1));
      unsigned b0, b1, b2, b3;
      asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                   : "=r"(b0), "=r"(b1), "=r"(b2), "=r"(b3)
                   : "r"(saddr(vs + key * VPITCH + 2 * d)));
      mma(o[nb], a0, a1, a2, a3, b0, b1);
      mma(o[nb + 1], a0, a1, a2, a3, b2, b3);
    }
  }
  // partial rows: row (head, tok) -> part[tile][head n + tok][d]
  const int tiles = (p.kv + KT - 1) / KT, head = 2 * hp + a;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int tok = g + 8 * r;
    if (tok >= p.n) continue;
    float* row = p.part + (static_cast<std::size_t>(tile) * HQ * p.n + head * p.n + tok) * D;
#pragma unroll
    for (int nb = 0; nb < 8; ++nb)
      __stcg(reinterpret_cast<float2*>(row + 64 * dq + 8 * nb + 2 * q), make_float2(o[nb][2 * r], o[nb][2 * r + 1]));
    if (dq == 0 && q == 0) {
      float l = 0.f;
#pragma unroll
      for (int k = 0; k < 4; ++k) l += sm[(a * 4 + k) * 16 + tok];
      __stcg(p.ml + tile * HQ * p.n + head * p.n + tok, make_float2(M[r], l));
    }
  }
  (void)tiles;
}

__global__ void __launch_bounds__(THREADS, 1) decode_stack(const __grid_constant__ Params p) {
  extern __shared__ __align__(1024) unsigned char smem[];
  unsigned char* ring = smem;
  unsigned char* aux = smem + NST * STAGE;
  unsigned char* qr = aux + STAGE;
  auto* full = reinterpret_cast<std::uint64_t*>(qr + QR_BYTES);
  std::uint64_t* empty = full + NST;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int tiles = (p.kv + KT - 1) / KT;
  if (threadIdx.x == 0) {
    for (int i = 0; i < NST; ++i) gpu::mbarrier_init(full + i, 1), gpu::mbarrier_init(empty + i, CW);
    gpu::mbarrier_init_fence();
  }
  __syncthreads();

  if (warp == CW) {  // producer
    Schedule sc{static_cast<int>(gridDim.x), static_cast<int>(blockIdx.x)};
    int stage = 0;
    unsigned round = 0;
    for (int l = 0; l < p.L; ++l) {
      const LayerW w = p.layers[l];
      for (int ph = 0; ph < NPHASE; ++ph) {
        const int count = phase_items(Phase(ph), tiles);
        for (int i = sc.first(count); i < count; i += gridDim.x) {
          if (ph == ATT && !tile_in_ring(p, i % tiles)) continue;
          if (lane == 0) gpu::mbarrier_wait_parity(empty + stage, (round & 1) ^ 1);
          __syncwarp();
          produce(p, w, Phase(ph), i, ring + stage * STAGE, full + stage, lane);
          if (++stage == NST) stage = 0, ++round;
        }
      }
    }
    return;
  }

  // consumers
  Schedule sc{static_cast<int>(gridDim.x), static_cast<int>(blockIdx.x)};
  int stage = 0;
  unsigned round = 0, target = 0;
  const int tid = threadIdx.x, G = gridDim.x;
  // x (bf16) -> the fp32 residual
  for (int i = blockIdx.x * 256 + tid; i < p.n * H; i += G * 256) p.x[i] = bf(p.x_in[i]);
  grid_sync(p, target);
  auto take = [&]() {
    unsigned char* st = ring + stage * STAGE;
    gpu::mbarrier_wait_parity(full + stage, round & 1);
    return st;
  };
  auto release = [&]() {
    __syncwarp();
    if (lane == 0) gpu::mbarrier_arrive(empty + stage);
    if (++stage == NST) stage = 0, ++round;
  };
  float* red = reinterpret_cast<float*>(qr);
  for (int l = 0; l < p.L; ++l) {
    const LayerW w = p.layers[l];
    int staged = -1;  // which activation slice `aux` holds (phase * 16 + slice)
    for (int ph = 0; ph < NPHASE; ++ph) {
      const int count = phase_items(Phase(ph), tiles);
      const int f = sc.first(count);
      if (ph == COMB) {
        const int rows = HQ * p.n, items = rows * (D / 4);
        for (int it = blockIdx.x * 256 + tid; it < items; it += G * 256) {
          const int r = it / (D / 4), d4 = it % (D / 4);
          float M = -INFINITY;
          for (int t = 0; t < tiles; ++t) M = fmaxf(M, __ldcg(p.ml + t * rows + r).x);
          float L = 0.f;
          float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
          for (int t = 0; t < tiles; ++t) {
            const float2 ml = __ldcg(p.ml + t * rows + r);
            const float wgt = ml.x == -INFINITY ? 0.f : exp2f(ml.x - M);
            const float4 v = __ldcg(reinterpret_cast<const float4*>(p.part + (static_cast<std::size_t>(t) * rows + r) * D) + d4);
            L += wgt * ml.y;
            acc.x += wgt * v.x, acc.y += wgt * v.y, acc.z += wgt * v.z, acc.w += wgt * v.w;
          }
          const float inv = L > 0.f ? 1.f / L : 0.f;
          const int head = r / p.n, tok = r % p.n;
          *reinterpret_cast<uint2*>(p.attn + tok * (HQ * D) + head * D + 4 * d4) =
              make_uint2(pk(acc.x * inv, acc.y * inv), pk(acc.z * inv, acc.w * inv));
        }
        grid_sync(p, target);
        continue;
      }
      for (int i = f; i < count; i += G) {
        if (ph == ATT) {
          const int tile = i % tiles, hp = i / tiles;
          // Q of the head pair: rows 16 a + tok
          for (int r = warp; r < 32; r += CW) {
            const int a = r / 16, tok = r % 16;
            const uint4 v = tok < p.n ? __ldcg(reinterpret_cast<const uint4*>(p.qbuf + tok * (HQ * D) + (2 * hp + a) * D) + lane)
                                      : make_uint4(0, 0, 0, 0);
            *reinterpret_cast<uint4*>(qr + r * KPITCH + 16 * lane) = v;
          }
          const unsigned char* kvs;
          const bool ring_tile = tile_in_ring(p, tile);
          if (ring_tile) {
            kvs = take();
          } else {  // keys this launch wrote (or past kv: zeros)
            for (int r = warp; r < KT; r += CW) {
              const int key = tile * KT + r;
              const bool in = key < p.kv;
              const uint4 kk = in ? __ldcg(reinterpret_cast<const uint4*>(w.kc + static_cast<std::size_t>(key) * D) + lane) : make_uint4(0, 0, 0, 0);
              const uint4 vv = in ? __ldcg(reinterpret_cast<const uint4*>(w.vc + static_cast<std::size_t>(key) * D) + lane) : make_uint4(0, 0, 0, 0);
              *reinterpret_cast<uint4*>(aux + r * KPITCH + 16 * lane) = kk;
              *reinterpret_cast<uint4*>(aux + KT * KPITCH + r * VPITCH + 16 * lane) = vv;
            }
            staged = -1;
            kvs = aux;
          }
          consumers_sync();
          att_item(p, kvs, qr, hp, tile, warp, lane);
          if (ring_tile) release();
          consumers_sync();  // P and the stats read before the next item's Q
          continue;
        }
        // weight items
        const int slice = ph == O ? i % 2 : ph == DOWN ? i % 4 : 0;
        const int key = ph * 16 + slice;
        if (staged != key) {
          if (ph == QKV || ph == GEGLU) stage_norm(p, aux, warp, lane);
          else if (ph == O) stage_rows(p, aux, p.attn + slice * KC, HQ * D, warp, lane);
          else stage_rows(p, aux, p.h + slice * KC, MLP, warp, lane);
          staged = key;
          consumers_sync();
        }
        const unsigned char* st = take();
        gemm_item(st, aux, red, p.n, warp, lane);
        release();
        consumers_sync();
        if (ph == QKV) {
          if (tid < 128) {
            const int t = tid / 8, e = tid % 8;
            if (t < p.n) {
              float v0 = red_sum(red, t * 16 + 2 * e), v1 = red_sum(red, t * 16 + 2 * e + 1);
              const int col = 16 * i + 2 * e;
              if (col < HQ * D + D) {  // q and k turn
                float sn, cs;
                rope_sincos(static_cast<float>(__ldg(p.pos + t)) * p.inv_freq[(col % D) / 2], &sn, &cs);
                const float r0 = v0 * cs - v1 * sn, r1 = v1 * cs + v0 * sn;
                v0 = r0, v1 = r1;
              }
              const unsigned pr = pk(v0, v1);
              if (col < HQ * D) *reinterpret_cast<unsigned*>(p.qbuf + t * (HQ * D) + col) = pr;
              else if (col < HQ * D + D)
                *reinterpret_cast<unsigned*>(w.kc + static_cast<std::size_t>(p.start + t) * D + col - HQ * D) = pr;
              else *reinterpret_cast<unsigned*>(w.vc + static_cast<std::size_t>(p.start + t) * D + col - HQ * D - D) = pr;
            }
          }
        } else if (ph == GEGLU) {
          if (tid < 128) {
            const int t = tid / 8, e = tid % 8;
            if (t < p.n) {
              const float gt = red_sum(red, t * 16 + e), up = red_sum(red, t * 16 + 8 + e);
              p.h[t * MLP + 8 * i + e] = convert<bfloat16>(act::GeluTanh{}(gt) * up).bits;
            }
          }
        } else {  // O, DOWN: partial sums into the residual
          const int t = tid / 16, c = tid % 16;
          const int col = 16 * (ph == O ? i / 2 : i / 4) + c;
          if (t < p.n) atomicAdd(p.x + t * H + col, red_sum(red, tid));
        }
        consumers_sync();
      }
      grid_sync(p, target);
    }
  }
  for (int i = blockIdx.x * 256 + tid; i < p.n * H; i += G * 256) p.x_out[i] = convert<bfloat16>(__ldcg(p.x + i)).bits;
}

}  // namespace mk

int main(int argc, char** argv) {
  const index_t layers = argc > 1 ? std::atoi(argv[1]) : 18;
  hip::Stream s;
  const auto& dev = s.device();
  std::printf("GPU: %s, %d SMs\n", dev.name.c_str(), dev.multiprocessors);
  using T = bfloat16;
  using Sp = hip::Stream::space;
  constexpr index_t n = 11, S0 = 788, cap = 800;
  GemmaConfig cfg = GemmaConfig::gemma_300m();
  cfg.layers = layers;
  const RandomSource src(7);
  const auto model = load_gemma<T>(s, cfg, src, "model.");
  const GemmaConfig cfgs[] = {cfg};
  KVCache<T, Sp> cache(s, layers, 1, cap, cfg.kv_heads, cfg.head_dim);
  KVCache<T, Sp> cache2(s, layers, 1, cap, cfg.kv_heads, cfg.head_dim);
  const std::size_t cache_elems = static_cast<std::size_t>(layers) * cap * cfg.head_dim;
  {
    const auto kh = pattern_tensor<T, 1>(s, Shape<1>{static_cast<index_t>(cache_elems)}, 11);
    const auto vh = pattern_tensor<T, 1>(s, Shape<1>{static_cast<index_t>(cache_elems)}, 12);
    for (KVCache<T, Sp>* c : {&cache, &cache2}) {
      FUSEKIT_GPU_CHECK(gpu::memcpy_d2d_async(c->k(0).data(), kh.data(), cache_elems * 2, s.get()));
      FUSEKIT_GPU_CHECK(gpu::memcpy_d2d_async(c->v(0).data(), vh.data(), cache_elems * 2, s.get()));
    }
  }
  DecoderScratch<T, Sp> scratch(s, 1, n, cfgs);
  const auto x0 = pattern_tensor<T, 3>(s, Shape<3>{1, n, cfg.hidden}, 13);
  Tensor<T, 3, Sp> x({1, n, cfg.hidden}, s), xk({1, n, cfg.hidden}, s);
  HostTensor<std::int32_t, 2> pos({1, n}), end({1, n});
  for (index_t i = 0; i < n; ++i) pos(0, i) = static_cast<std::int32_t>(S0 + i), end(0, i) = static_cast<std::int32_t>(i == 0 ? S0 + 1 : S0 + n);
  const auto dpos = to_device(s, pos), dend = to_device(s, end);
  const Segment<T, Sp> segs[] = {{&model, x.view()}};
  const StepAttention<Sp> at{.start = S0, .positions = dpos.view(), .masks = {.kv_end = dend.view()}};
  auto lib = [&] {
    FUSEKIT_GPU_CHECK(gpu::memcpy_d2d_async(x.data(), x0.data(), n * cfg.hidden * 2, s.get()));
    gemma_forward(s, std::span(segs), cache, at, scratch);
  };

  // the megakernel's buffers
  const int tiles = static_cast<int>((S0 + n + mk::KT - 1) / mk::KT);
  Tensor<float, 2, Sp> xf({n, cfg.hidden}, s), part({tiles * mk::HQ * n, mk::D}, s);
  Tensor<float, 2, Sp> ml({tiles * mk::HQ * n, 2}, s);
  Tensor<T, 2, Sp> qbuf({n, mk::HQ * mk::D}, s), attn({n, mk::HQ * mk::D}, s), hbuf({n, mk::MLP}, s);
  std::vector<mk::LayerW> lw(layers);
  for (index_t l = 0; l < layers; ++l) {
    const auto& L = model.layers[l];
    FUSEKIT_CHECK(L.qkv.w.size(0) == mk::QKVW && L.qkv.w.size(1) == mk::H && L.gate_up.w.size(0) == 2 * mk::MLP,
                  "layer shapes");
    lw[l] = {reinterpret_cast<const std::uint16_t*>(L.qkv.w.data()), reinterpret_cast<const std::uint16_t*>(L.o.w.data()),
             reinterpret_cast<const std::uint16_t*>(L.gate_up.w.data()), reinterpret_cast<const std::uint16_t*>(L.down.w.data()),
             reinterpret_cast<std::uint16_t*>(cache2.k(l).data()), reinterpret_cast<std::uint16_t*>(cache2.v(l).data())};
  }
  mk::LayerW* dlw = nullptr;
  unsigned* counter = nullptr;
  FUSEKIT_GPU_CHECK(cudaMalloc(&dlw, layers * sizeof(mk::LayerW)));
  FUSEKIT_GPU_CHECK(cudaMalloc(&counter, sizeof(unsigned)));
  FUSEKIT_GPU_CHECK(cudaMemcpy(dlw, lw.data(), layers * sizeof(mk::LayerW), cudaMemcpyHostToDevice));
  mk::Params p{};
  p.layers = dlw;
  p.L = static_cast<int>(layers), p.n = n, p.start = S0, p.kv = S0 + n;
  p.pos = dpos.data(), p.kv_end = dend.data();
  p.eps = cfg.eps;
  p.scale_log2 = static_cast<float>(1.0 / std::sqrt(256.0) * 1.4426950408889634);
  p.x_in = reinterpret_cast<const std::uint16_t*>(x0.data());
  p.x_out = reinterpret_cast<std::uint16_t*>(xk.data());
  p.x = xf.data();
  p.qbuf = reinterpret_cast<std::uint16_t*>(qbuf.data()), p.attn = reinterpret_cast<std::uint16_t*>(attn.data());
  p.h = reinterpret_cast<std::uint16_t*>(hbuf.data());
  p.part = part.data(), p.ml = reinterpret_cast<float2*>(ml.data());
  p.counter = counter;
  for (int j = 0; j < mk::D / 2; ++j) p.inv_freq[j] = rope_inv_freq(cfg.rope_theta, j, mk::D);
  FUSEKIT_GPU_CHECK(cudaFuncSetAttribute(mk::decode_stack, cudaFuncAttributeMaxDynamicSharedMemorySize, mk::SMEM));
  int per_sm = 0;
  FUSEKIT_GPU_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, mk::decode_stack, mk::THREADS, mk::SMEM));
  std::printf("megakernel: %d threads, %d bytes of shared memory, %d block(s) per SM\n", mk::THREADS, mk::SMEM, per_sm);
  FUSEKIT_CHECK(per_sm >= 1, "megakernel does not fit an SM");
  bool cooperative = true;
  auto mega = [&] {
    FUSEKIT_GPU_CHECK(cudaMemsetAsync(counter, 0, 4, s.get()));
    cudaLaunchConfig_t c{};
    c.gridDim = dim3(dev.multiprocessors), c.blockDim = dim3(mk::THREADS), c.dynamicSmemBytes = mk::SMEM, c.stream = s.get();
    cudaLaunchAttribute attr{};
    attr.id = cudaLaunchAttributeCooperative;
    attr.val.cooperative = 1;
    c.attrs = &attr, c.numAttrs = cooperative ? 1 : 0;
    FUSEKIT_GPU_CHECK(cudaLaunchKernelEx(&c, mk::decode_stack, p));
    FUSEKIT_GPU_CHECK(cudaGetLastError());
  };

  // correctness: the final x and the new cache slots, against the library
  lib();
  mega();
  s.synchronize();
  auto cmp = [&](const char* what, const T* a, const T* b, std::size_t count) {
    std::vector<T> ha(count), hb(count);
    FUSEKIT_GPU_CHECK(cudaMemcpy(ha.data(), a, count * 2, cudaMemcpyDeviceToHost));
    FUSEKIT_GPU_CHECK(cudaMemcpy(hb.data(), b, count * 2, cudaMemcpyDeviceToHost));
    double num = 0, den = 0, mx = 0, mref = 0;
    bool finite = true;
    for (std::size_t i = 0; i < count; ++i) {
      const double u = to_float(ha[i]), v = to_float(hb[i]);
      finite = finite && std::isfinite(u);
      num += (u - v) * (u - v), den += v * v, mx = std::max(mx, std::abs(u - v)), mref = std::max(mref, std::abs(v));
    }
    const double rel = std::sqrt(num / std::max(den, 1e-30));
    std::printf("  %-28s rel RMS %.3e  max |diff| %.3e (max |ref| %.3e)%s\n", what, rel, mx, mref,
                !finite || rel > 3e-2 ? "  WRONG" : "");
  };
  std::printf("check, %lld layers (megakernel against gemma_forward):\n", static_cast<long long>(layers));
  cmp("x after the stack", xk.data(), x.data(), n * cfg.hidden);
  cmp("k, new slots, layer 0", cache2.k(0).data() + S0 * 256, cache.k(0).data() + S0 * 256, n * 256);
  cmp("v, new slots, layer 0", cache2.v(0).data() + S0 * 256, cache.v(0).data() + S0 * 256, n * 256);
  {  // the last layer's intermediates
    std::vector<T> hq(n * mk::QKVW), q(n * mk::HQ * mk::D);
    FUSEKIT_GPU_CHECK(cudaMemcpy(hq.data(), scratch.qkv.data(), hq.size() * 2, cudaMemcpyDeviceToHost));
    for (index_t t = 0; t < n; ++t)
      for (int c = 0; c < mk::HQ * mk::D; ++c) q[t * mk::HQ * mk::D + c] = hq[t * mk::QKVW + c];
    T* dq = nullptr;
    FUSEKIT_GPU_CHECK(cudaMalloc(&dq, q.size() * 2));
    FUSEKIT_GPU_CHECK(cudaMemcpy(dq, q.data(), q.size() * 2, cudaMemcpyHostToDevice));
    cmp("q, last layer", qbuf.data(), dq, q.size());
    cmp("attention out, last layer", attn.data(), scratch.attn.data(), n * mk::HQ * mk::D);
    cmp("gelu(g) * u, last layer", hbuf.data(), scratch.h.data(), n * mk::MLP);
  }
  cmp("k, new slots, last layer", cache2.k(layers - 1).data() + S0 * 256, cache.k(layers - 1).data() + S0 * 256, n * 256);
  cmp("v, new slots, last layer", cache2.v(layers - 1).data() + S0 * 256, cache.v(layers - 1).data() + S0 * 256, n * 256);

  for (int round = 0; round < 3; ++round) {
    const Timing tl = time_us(s, 1, 20, [&](int) { lib(); }, 5);
    Timing tm{};
    try {
      tm = time_us(s, 1, 20, [&](int) { mega(); }, 5);
    } catch (const std::exception& e) {
      std::printf("cooperative launch in a graph failed (%s): plain launches from here on\n", e.what());
      (void)cudaGetLastError();
      cooperative = false;
      tm = time_us(s, 1, 20, [&](int) { mega(); }, 5);
    }
    std::printf("round %d: gemma_forward %lld layers: stream %.1f graph %.1f us | megakernel: stream %.1f graph %.1f us\n",
                round, static_cast<long long>(layers), tl.median_us, tl.graph_us, tm.median_us, tm.graph_us);
  }
  return 0;
}
