// The AMD MFMA atom (kernels/mfma_atom.hpp) on the CPU. No AMD GPU is reachable from this project, so
// the instruction is emulated here from AMD's documented register layout of v_mfma_f32_16x16x16f16 and
// v_mfma_f32_16x16x16bf16_1k (written out below, independently of the atom):
//   A[i][k] is item k % 4 of lane i + 16 (k / 4), B[k][j] item k % 4 of lane j + 16 (k / 4),
//   D[i][j] item i % 4 of lane j + 16 (i / 4).
// The atom's lane functions load A and B from the mma kernel's swizzled shared tiles (B both as a
// [n][k] weight and as [k][n]) and store D to the fp32 accumulator tile; a 32 x 64 x 32 product through
// them must equal the float64 product of the same rounded inputs. What this cannot check: the
// compiler builtins' own operand order and the hardware itself.
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "fusekit/core/convert.hpp"
#include "fusekit/kernels/mfma_atom.hpp"

namespace fusekit::test {
namespace {

constexpr int kRows = 32, kCols = 64, kDepth = 32, kLanes = 64;

template <class Atom>
void emulate_mfma(typename Atom::C (&c)[kLanes], const typename Atom::A (&a)[kLanes], const typename Atom::B (&b)[kLanes]) {
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      float& d = c[j + 16 * (i / 4)].v[i % 4];
      double sum = d;
      for (int k = 0; k < 16; ++k)
        sum += static_cast<double>(convert<float>(a[i + 16 * (k / 4)].e[k % 4])) *
               static_cast<double>(convert<float>(b[j + 16 * (k / 4)].e[k % 4]));
      d = static_cast<float>(sum);
    }
}

template <class T>
void mfma_tile_product(bool b_kmajor, std::uint64_t seed) {
  using Atom = kernels::MfmaCdna<T>;
  using TileA = kernels::SwizzledTile<T, kRows, kDepth>;   // [m][k]
  using TileBk = kernels::SwizzledTile<T, kCols, kDepth>;  // [n][k]
  using TileBn = kernels::SwizzledTile<T, kDepth, kCols>;  // [k][n]
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<T> a(TileA::elements), bk(TileBk::elements), bn(TileBn::elements);
  std::vector<double> ad(kRows * kDepth), bd(kDepth * kCols);  // the rounded values, row-major
  for (int m = 0; m < kRows; ++m)
    for (int k = 0; k < kDepth; ++k) {
      const T v = convert<T>(dist(rng));
      a[TileA::offset(m, k / TileA::chunk) + k % TileA::chunk] = v;
      ad[m * kDepth + k] = convert<float>(v);
    }
  for (int k = 0; k < kDepth; ++k)
    for (int n = 0; n < kCols; ++n) {
      const T v = convert<T>(dist(rng));
      bk[TileBk::offset(n, k / TileBk::chunk) + k % TileBk::chunk] = v;
      bn[TileBn::offset(k, n / TileBn::chunk) + n % TileBn::chunk] = v;
      bd[k * kCols + n] = convert<float>(v);
    }
  constexpr int ld = kCols + 4;
  std::vector<float> sc(kRows * ld, std::numeric_limits<float>::quiet_NaN());  // poisoned: unwritten fails
  for (int mt = 0; mt < kRows / 16; ++mt)
    for (int nt = 0; nt < kCols / 16; ++nt) {
      typename Atom::C c[kLanes] = {};
      for (int k0 = 0; k0 < kDepth; k0 += 16) {
        typename Atom::A af[kLanes];
        typename Atom::B bf[kLanes];
        for (int lane = 0; lane < kLanes; ++lane) {
          af[lane] = Atom::template a_lane<TileA>(a.data(), mt * 16, k0, lane);
          bf[lane] = b_kmajor ? Atom::template b_kmajor_lane<TileBk>(bk.data(), nt * 16, k0, lane)
                              : Atom::template b_nmajor_lane<TileBn>(bn.data(), nt * 16, k0, lane);
        }
        emulate_mfma<Atom>(c, af, bf);
      }
      for (int lane = 0; lane < kLanes; ++lane) Atom::store_c_lane(sc.data(), ld, mt * 16, nt * 16, c[lane], lane);
    }
  for (int m = 0; m < kRows; ++m)
    for (int n = 0; n < kCols; ++n) {
      double want = 0.0, mag = 0.0;
      for (int k = 0; k < kDepth; ++k) {
        want += ad[m * kDepth + k] * bd[k * kCols + n];
        mag += std::abs(ad[m * kDepth + k] * bd[k * kCols + n]);
      }
      ASSERT_NEAR(sc[m * ld + n], want, 1e-6 * mag + 1e-7)
          << "D[" << m << "][" << n << "] " << (std::is_same_v<T, half> ? "f16" : "bf16") << (b_kmajor ? " B [n][k]" : " B [k][n]");
    }
}

TEST(MfmaAtom, FragmentLayoutsGiveTheTileProduct) {
  for (bool kmajor : {true, false}) {
    mfma_tile_product<half>(kmajor, 101);
    mfma_tile_product<bfloat16>(kmajor, 202);
  }
}

}  // namespace
}  // namespace fusekit::test
