// GPU backend: the same op cases as the CPU tests, on a hip::Stream, every kernel path forced in turn.
#include "gpu_backend.hpp"

// Inside the namespace, `half` means fusekit::half (CUDA also declares a global `half`).
namespace fusekit::test {

TEST_F(Gpu, Fill) { fill_cases(stream()); }

TEST_F(Gpu, CopyCastBetweenDtypes) { cast_cases(stream()); }

TEST_F(Gpu, AddWithBroadcasting) { add_cases(stream()); }

TEST_F(Gpu, ActivationsAndGatedActivations) { activation_cases(stream()); }

TEST_F(Gpu, RmsNormAndLayerNormAllPathsShapesAndDtypes) {
  const NormCase shapes[] = {{1, 72, false, false},     {11, 1024, true, true},  {3, 7, true, false},
                            {788, 1152, false, true},  {13, 4304, true, true},  {5, 16384, true, false},
                            {6304, 2048, true, true},  {2, 20480, false, false}, {788, 2048, true, true}};
  for (KernelPath path : {KernelPath::automatic, KernelPath::generic}) {
    for (NormCase k : shapes) {
      k.path = path;
      for (int variant = 0; variant < 4; ++variant) {  // {rmsnorm, layernorm} x {dense, strided}
        k.layer = variant / 2;
        k.strided = variant % 2;
        norm_case<hip::Stream, float, float>(stream(), k, 100);
        norm_case<hip::Stream, half, half>(stream(), k, 200);
        norm_case<hip::Stream, bfloat16, bfloat16>(stream(), k, 300);
        norm_case<hip::Stream, bfloat16, float>(stream(), k, 400);
      }
    }
  }
}

TEST_F(Gpu, NormRowsWhoseMeanDwarfsTheirSpread) {
  // x in [998, 1002]: LayerNorm's variance from E[x^2] - mean^2 would lose it in fp32 (1e6 * 6e-8 against
  // a variance of 1.3); every kernel and row length, residual or not.
  for (KernelPath path : {KernelPath::automatic, KernelPath::generic})
    for (NormCase k : {NormCase{768, 1152, false, false}, NormCase{5, 72, true, false}, NormCase{3, 16384, true, false},
                       NormCase{7, 40000, false, false}}) {
      k.path = path;
      k.offset = 1000.0;
      for (bool layer : {true, false}) {
        k.layer = layer;
        norm_case<hip::Stream, float, float>(stream(), k, 800);
        norm_case<hip::Stream, bfloat16, float>(stream(), k, 900);
      }
    }
}

TEST_F(Gpu, LayerNormRowsWithAFarOutFirstValue) {
  // The register kernels sum x - x[row][0]; with x[row][0] = +-1000 among values in [-2, 2] those sums
  // would lose the variance to cancellation (about 1e-4 relative in fp32) unless the exact second pass
  // takes over. Every kernel: warp rows (72), block rows (1152, 16384), 1024 threads x 5 (40000), generic.
  for (KernelPath path : {KernelPath::automatic, KernelPath::generic})
    for (NormCase k : {NormCase{768, 1152, false, false}, NormCase{5, 72, true, false}, NormCase{3, 16384, true, false},
                       NormCase{7, 40000, false, false}}) {
      k.path = path;
      k.layer = true;
      k.far_first = 1000.0;
      norm_case<hip::Stream, float, float>(stream(), k, 820);
      norm_case<hip::Stream, bfloat16, float>(stream(), k, 920);
      norm_case<hip::Stream, half, half>(stream(), k, 1020);
    }
}

TEST_F(Gpu, RmsNormForcedKernelsAndBlockSizes) {
  // Every register-resident kernel, forced, at every block size (block 0: the policy, which picks the
  // warp-per-row kernel for short rows), so a silent fallback cannot hide a broken kernel. Combinations
  // a kernel cannot hold must be refused with an Error, not run another kernel.
  const int warp = stream().device().warp_size;
  for (KernelPath path : {KernelPath::vectorized}) {
    for (NormCase k : {NormCase{6304, 2048, true, true}, NormCase{11, 1024, false, false}, NormCase{7, 4096, true, false},
                      NormCase{3, 1152, true, true}, NormCase{9, 512, true, false}, NormCase{33, 72, false, true},
                      NormCase{2, 16384, true, true}, NormCase{1000, 1024, true, false}}) {
      k.path = path;
      for (int block : {0, 128, 256, 512, 1024}) {
        k.block = block;
        auto run = [&](auto t, auto w, std::uint64_t salt) {
          using T = decltype(t);
          using W = decltype(w);
          const index_t v = k.cols / (16 / static_cast<index_t>(sizeof(T)));
          const index_t b = block ? block : (v <= 128 ? 128 : v <= 256 ? 256 : v <= 512 ? 512 : 1024);
          const index_t iters = (v + b - 1) / b;
          const bool warp_rows = block == 0 && v <= 2 * warp;
          const bool holds = iters <= (b == 1024 ? 8 : 2) || warp_rows;
          SCOPED_TRACE(fmt::format("path {} block {} cols {} {}", static_cast<int>(path), block, k.cols, dtype_of<T>));
          if (holds) {
            norm_case<hip::Stream, T, W>(stream(), k, salt);
          } else {
            DeviceTensor<T, 2> x({k.rows, k.cols}, stream()), y({k.rows, k.cols}, stream());
            DeviceTensor<W, 1> wt({k.cols}, stream());
            EXPECT_THROW(rmsnorm(stream(), y, x, wt, {1e-6f, false, path, block}), Error);
          }
        };
        run(bfloat16{}, bfloat16{}, 500);
        run(half{}, float{}, 600);
        run(float{}, float{}, 700);
      }
    }
  }
  // and a shape no vectorized kernel can take is refused too
  DeviceTensor<bfloat16, 2> x({4, 7}, stream()), out({4, 7}, stream());
  DeviceTensor<bfloat16, 1> w({7}, stream());
  EXPECT_THROW(rmsnorm(stream(), out, x, w, {1e-6f, false, KernelPath::vectorized}), Error);
}

TEST_F(Gpu, RmsNormBadInputs) {
  auto x = Backend<hip::Stream>::upload(stream(), random_tensor<float, 2>({4, 8}, 1));
  auto out = Backend<hip::Stream>::poisoned<float, 2>(stream(), {4, 8});
  DeviceTensor<float, 1> w9({9}, stream());
  expect_error_untouched(stream(), out, [&] { rmsnorm(stream(), out, x, w9); }, {"rmsnorm"});
}

}  // namespace fusekit::test
