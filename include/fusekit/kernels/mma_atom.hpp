#pragma once
// Matrix-core atoms: one warp multiplies a kM x kK fragment of A by a kK x kN fragment of B into fp32.
// An atom also knows how to load its fragments from swizzled shared-memory tiles and where its
// accumulator elements sit, so the GEMM kernel is written once over any atom:
//
//   load_a<MT>(a, tileA, row0, k0)          A tile [rows = m][inner = k]
//   load_b_kmajor<NT>(b, tileB, col0, k0)   B tile [rows = n][inner = k]   (a Linear weight W [N, K])
//   load_b_nmajor<NT>(b, tileB, col0, k0)   B tile [rows = k][inner = n]   (B stored [K, N])
//   mma(c, a, b)                            c += a b
//   store_c(sC, ld, row0, col0, c)          accumulators to an fp32 [rows][ld] shared tile
//
// MmaSm80<T>: NVIDIA mma.sync.m16n8k16 (sm_80+, also the matrix-core path on sm_90a), f16 or bf16 in,
// fp32 accumulate, fragments loaded with ldmatrix (.trans for n-major B). MfmaCdna<T>
// (kernels/mfma_atom.hpp): AMD CDNA's v_mfma 16x16x16, the same interface; kLanes: the lanes that
// share one atom (a warp, a wavefront).
#include "fusekit/backend/hip/vendor.hpp"
#include "fusekit/core/bfloat16.hpp"
#include "fusekit/core/half.hpp"
#include "fusekit/kernels/smem_tile.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::kernels {

template <class T>
struct MmaSm80 {
  static_assert(std::is_same_v<T, half> || std::is_same_v<T, bfloat16>, "MmaSm80: f16 or bf16 operands");
  static constexpr int kM = 16, kN = 8, kK = 16, kLanes = 32;
  struct A { unsigned r[4]; };  // rows g, g+8 x k pairs 2q, 2q+8 (g = lane / 4, q = lane % 4)
  struct B { unsigned r[2]; };  // k pairs 2q, 2q+8 x column g
  struct C { float v[4]; };     // (g, 2q), (g, 2q+1), (g+8, 2q), (g+8, 2q+1)

  // Four 8x8 b16 matrices from shared memory; kTrans delivers each transposed (for n-major B).
  template <bool kTrans = false>
  FUSEKIT_DEVICE static void ldmatrix_x4(unsigned (&r)[4], const T* p) {
#if FUSEKIT_CUDA_ARCH >= 800
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
    if constexpr (kTrans)
      asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                   : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                   : "r"(s));
    else
      asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                   : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                   : "r"(s));
#else
    (void)r, (void)p;
    gpu::trap();
#endif
  }

  // Matrix j = lane / 8 of the x4 load: rows (j % 2) * 8 + lane % 8, k chunk j / 2 -> a0..a3.
  template <int MT, class Tile>
  FUSEKIT_DEVICE static void load_a(A (&a)[MT], const T* tile, int row0, int k0) {
    const int lane = threadIdx.x % 32;
    FUSEKIT_UNROLL
    for (int mt = 0; mt < MT; ++mt)
      ldmatrix_x4(a[mt].r, tile + Tile::offset(row0 + mt * kM + lane % 16, k0 / Tile::chunk + lane / 16));
  }

  // Two n8 fragments per x4 load: matrix j -> (n block j / 2, k half j % 2).
  template <int NT, class Tile>
  FUSEKIT_DEVICE static void load_b_kmajor(B (&b)[NT], const T* tile, int col0, int k0) {
    static_assert(NT % 2 == 0, "MmaSm80: an even number of n8 fragments per warp");
    const int lane = threadIdx.x % 32;
    FUSEKIT_UNROLL
    for (int nt = 0; nt < NT; nt += 2) {
      unsigned r[4];
      ldmatrix_x4(r, tile + Tile::offset(col0 + nt * kN + (lane / 16) * 8 + lane % 8, k0 / Tile::chunk + (lane / 8) % 2));
      b[nt] = {{r[0], r[1]}};
      b[nt + 1] = {{r[2], r[3]}};
    }
  }

  // Transposed loads from [k][n]: matrix j -> (k half j % 2, n block j / 2).
  template <int NT, class Tile>
  FUSEKIT_DEVICE static void load_b_nmajor(B (&b)[NT], const T* tile, int col0, int k0) {
    static_assert(NT % 2 == 0, "MmaSm80: an even number of n8 fragments per warp");
    const int lane = threadIdx.x % 32;
    FUSEKIT_UNROLL
    for (int nt = 0; nt < NT; nt += 2) {
      unsigned r[4];
      ldmatrix_x4<true>(r, tile + Tile::offset(k0 + ((lane / 8) % 2) * 8 + lane % 8, (col0 + nt * kN) / Tile::chunk + lane / 16));
      b[nt] = {{r[0], r[1]}};
      b[nt + 1] = {{r[2], r[3]}};
    }
  }

  FUSEKIT_DEVICE static void mma(C& c, const A& a, const B& b) {
#if FUSEKIT_CUDA_ARCH >= 800
    if constexpr (std::is_same_v<T, bfloat16>)
      asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                   "{%0,%1,%2,%3};\n"
                   : "+f"(c.v[0]), "+f"(c.v[1]), "+f"(c.v[2]), "+f"(c.v[3])
                   : "r"(a.r[0]), "r"(a.r[1]), "r"(a.r[2]), "r"(a.r[3]), "r"(b.r[0]), "r"(b.r[1]));
    else
      asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                   "{%0,%1,%2,%3};\n"
                   : "+f"(c.v[0]), "+f"(c.v[1]), "+f"(c.v[2]), "+f"(c.v[3])
                   : "r"(a.r[0]), "r"(a.r[1]), "r"(a.r[2]), "r"(a.r[3]), "r"(b.r[0]), "r"(b.r[1]));
#else
    (void)c, (void)a, (void)b;
    gpu::trap();
#endif
  }

  // float2 stores: a half-warp writes 4 rows x 8 columns, conflict-free when ld % 32 == 8.
  FUSEKIT_DEVICE static void store_c(float* sc, int ld, int row0, int col0, const C& c) {
    const int lane = threadIdx.x % 32;
    float* p = sc + (row0 + lane / 4) * ld + col0 + 2 * (lane % 4);
    *reinterpret_cast<float2*>(p) = make_float2(c.v[0], c.v[1]);
    *reinterpret_cast<float2*>(p + 8 * ld) = make_float2(c.v[2], c.v[3]);
  }
};

}  // namespace fusekit::kernels
#endif
