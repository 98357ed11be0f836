#pragma once
// MfmaCdna<T>: the matrix-core atom of AMD CDNA GPUs (gfx908, gfx90a, gfx94x: MI100 .. MI300), behind the
// interface of MmaSm80 (kernels/mma_atom.hpp), so the mma GEMM kernel is written once over either.
// One wavefront of 64 lanes multiplies a 16 x 16 fragment of A by a 16 x 16 fragment of B (k = 16)
// into fp32: v_mfma_f32_16x16x16f16 for f16, v_mfma_f32_16x16x16bf16_1k for bf16 (gfx90a+; gfx908 runs
// it as two 16x16x8 steps). Register layouts, as AMD documents them for these instructions:
//   A[i][k]  lane i + 16 (k / 4), item k % 4     (4 consecutive k of one row: one 8-byte load)
//   B[k][j]  lane j + 16 (k / 4), item k % 4
//   D[i][j]  lane j + 16 (i / 4), item i % 4
// COMPILE-ONLY: no AMD GPU is reachable from this project, so this atom has never run. What is tested
// (tests/cpu/test_mfma_layout.cpp) is that the lane functions below load A and B from the kernel's
// swizzled shared tiles and store D so that, with the instruction emulated from the layout above, a
// tile product comes out right. The GEMM policy never picks it on its own: GemmPath::mma forces it.
#include <type_traits>

#include "fusekit/config.hpp"
#include "fusekit/core/bfloat16.hpp"
#include "fusekit/core/half.hpp"
#include "fusekit/kernels/smem_tile.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/backend/hip/vendor.hpp"
#endif

// A device pass for a CDNA target with MFMA instructions.
#if FUSEKIT_AMD_GFX9 && (defined(__gfx908__) || defined(__gfx90a__) || defined(__gfx940__) || defined(__gfx941__) || \
                         defined(__gfx942__))
#define FUSEKIT_AMD_MFMA 1
#else
#define FUSEKIT_AMD_MFMA 0
#endif

namespace fusekit::kernels {

template <class T>
struct MfmaCdna {
  static_assert(std::is_same_v<T, half> || std::is_same_v<T, bfloat16>, "MfmaCdna: f16 or bf16 operands");
  static constexpr int kM = 16, kN = 16, kK = 16, kLanes = 64;
  struct A { T e[4]; };      // A[lane % 16][4 (lane / 16) + e]
  struct B { T e[4]; };      // B[4 (lane / 16) + e][lane % 16]
  struct C { float v[4]; };  // D[4 (lane / 16) + e][lane % 16]

  // ---- one lane's part, host-callable (the CPU layout test) ----

  // Rows row0 .. row0 + 15 of a [rows][k] tile: this lane's row, 4 consecutive k (8 bytes of one chunk).
  template <class Tile>
  FUSEKIT_HOST_DEVICE static A row_fragment(const T* tile, int row0, int k0, int lane) {
    const int k = k0 + 4 * (lane / 16);
    const T* p = tile + Tile::offset(row0 + lane % 16, k / Tile::chunk) + k % Tile::chunk;
    A a;
    __builtin_memcpy(&a, __builtin_assume_aligned(p, 8), sizeof a);  // one 8-byte load
    return a;
  }
  template <class Tile>
  FUSEKIT_HOST_DEVICE static A a_lane(const T* tile, int row0, int k0, int lane) {
    return row_fragment<Tile>(tile, row0, k0, lane);
  }
  // B from a [n][k] tile (a Linear weight): the same access as A.
  template <class Tile>
  FUSEKIT_HOST_DEVICE static B b_kmajor_lane(const T* tile, int col0, int k0, int lane) {
    const A r = row_fragment<Tile>(tile, col0, k0, lane);
    B b;
    __builtin_memcpy(&b, &r, sizeof b);
    return b;
  }
  // B from a [k][n] tile: 4 rows of one column, element by element.
  template <class Tile>
  FUSEKIT_HOST_DEVICE static B b_nmajor_lane(const T* tile, int col0, int k0, int lane) {
    const int col = col0 + lane % 16;
    B b;
    for (int e = 0; e < 4; ++e)
      b.e[e] = tile[Tile::offset(k0 + 4 * (lane / 16) + e, col / Tile::chunk) + col % Tile::chunk];
    return b;
  }
  FUSEKIT_HOST_DEVICE static void store_c_lane(float* sc, int ld, int row0, int col0, const C& c, int lane) {
    for (int e = 0; e < 4; ++e) sc[(row0 + 4 * (lane / 16) + e) * ld + col0 + lane % 16] = c.v[e];
  }

#if FUSEKIT_GPUCC
  // ---- the atom interface (kernels/mma_atom.hpp) ----
  template <int MT, class Tile>
  FUSEKIT_DEVICE static void load_a(A (&a)[MT], const T* tile, int row0, int k0) {
    FUSEKIT_UNROLL
    for (int mt = 0; mt < MT; ++mt) a[mt] = a_lane<Tile>(tile, row0 + mt * kM, k0, threadIdx.x % kLanes);
  }
  template <int NT, class Tile>
  FUSEKIT_DEVICE static void load_b_kmajor(B (&b)[NT], const T* tile, int col0, int k0) {
    FUSEKIT_UNROLL
    for (int nt = 0; nt < NT; ++nt) b[nt] = b_kmajor_lane<Tile>(tile, col0 + nt * kN, k0, threadIdx.x % kLanes);
  }
  template <int NT, class Tile>
  FUSEKIT_DEVICE static void load_b_nmajor(B (&b)[NT], const T* tile, int col0, int k0) {
    FUSEKIT_UNROLL
    for (int nt = 0; nt < NT; ++nt) b[nt] = b_nmajor_lane<Tile>(tile, col0 + nt * kN, k0, threadIdx.x % kLanes);
  }
  FUSEKIT_DEVICE static void store_c(float* sc, int ld, int row0, int col0, const C& c) {
    store_c_lane(sc, ld, row0, col0, c, threadIdx.x % kLanes);
  }

  FUSEKIT_DEVICE static void mma(C& c, const A& a, const B& b) {
#if FUSEKIT_AMD_MFMA
    using f4 = float __attribute__((ext_vector_type(4)));
    f4 acc = {c.v[0], c.v[1], c.v[2], c.v[3]};
    if constexpr (std::is_same_v<T, half>) {
      using h4 = _Float16 __attribute__((ext_vector_type(4)));
      h4 av, bv;
      __builtin_memcpy(&av, &a, sizeof av);
      __builtin_memcpy(&bv, &b, sizeof bv);
      acc = __builtin_amdgcn_mfma_f32_16x16x16f16(av, bv, acc, 0, 0, 0);
    } else {
#if defined(__gfx908__)
      // k items (0, 1) then (2, 3): both operands take the same k order, so the sum is the product's.
      using s2 = short __attribute__((ext_vector_type(2)));
      s2 a0, a1, b0, b1;
      __builtin_memcpy(&a0, &a.e[0], sizeof a0);
      __builtin_memcpy(&a1, &a.e[2], sizeof a1);
      __builtin_memcpy(&b0, &b.e[0], sizeof b0);
      __builtin_memcpy(&b1, &b.e[2], sizeof b1);
      acc = __builtin_amdgcn_mfma_f32_16x16x8bf16(a0, b0, acc, 0, 0, 0);
      acc = __builtin_amdgcn_mfma_f32_16x16x8bf16(a1, b1, acc, 0, 0, 0);
#else
      using s4 = short __attribute__((ext_vector_type(4)));
      s4 av, bv;
      __builtin_memcpy(&av, &a, sizeof av);
      __builtin_memcpy(&bv, &b, sizeof bv);
      acc = __builtin_amdgcn_mfma_f32_16x16x16bf16_1k(av, bv, acc, 0, 0, 0);
#endif
    }
    c.v[0] = acc[0], c.v[1] = acc[1], c.v[2] = acc[2], c.v[3] = acc[3];
#else
    (void)c, (void)a, (void)b;
    gpu::trap();
#endif
  }
#endif
};

}  // namespace fusekit::kernels
