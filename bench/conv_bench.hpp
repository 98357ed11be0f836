// Convolution rows of fusekit_gpu_bench (included by gpu_bench.cpp after its timing helpers): KataGo's
// trunk conv, fp16 NHWC 3x3 192 -> 192 on 19x19 with the NormAct prologue (scale, bias, Mish, board
// mask) and the residual epilogue, batch 8 / 64 / 256 (issue #4's target) and 1 (a tree search's), the
// plain conv, and each GPU path (mma, wgmma tiles, A by TMA im2col or gathered, SIMT, Winograd) forced. TFLOP/s
// counts the direct convolution's 2 N H W Cout Cin 9 flops.
namespace {

void bench_convs(hip::Stream& s, int reps, double copy_gbps, std::vector<Result>& results) {
  const auto& dev = s.device();
  using T = fusekit::half;
  constexpr index_t C = 192, HW = 19;
  auto one = [&](const std::string& name, index_t N, bool fused, ConvOptions opt) {
    if (!row_selected(name, fmt::format("{}x{}x{}x{}", N, C, HW, HW))) return;
    const double act = 2.0 * N * HW * HW * C;  // one activation tensor, bytes
    const double bytes = act * (fused ? 3 : 2) + 2.0 * C * C * 9;
    const int sets = std::min(sets_for(static_cast<std::size_t>(bytes), dev), 8);
    std::vector<DeviceTensor<T, 4>> x, r, y;
    for (int i = 0; i < sets; ++i) {
      x.push_back(pattern_tensor<T, 4>(s, {N, HW, HW, C}, 5000 + i));  // NHWC memory
      r.push_back(pattern_tensor<T, 4>(s, {N, HW, HW, C}, 5100 + i));
      y.emplace_back(Shape<4>{N, HW, HW, C}, s);
    }
    auto w = pattern_tensor<T, 4>(s, {C, 3, 3, C}, 5200);  // OHWI
    auto mask = pattern_tensor<T, 4>(s, {N, 1, HW, HW}, 5300);
    auto scale = pattern_tensor<float, 1>(s, {C}, 5400), bias = pattern_tensor<float, 1>(s, {C}, 5500);
    auto img = [](auto& t) { return t.view().permute({0, 3, 1, 2}); };
    const auto wl = img(w);
    const Timing t = time_us(s, sets, reps, [&](int i) {
      if (fused)
        conv2d(s, img(y[i]), img(x[i]), wl, input_norm_act(scale, bias, mask, act::Mish{}),
               make_epilogue(epi::residual(img(r[i]))), opt);
      else conv2d(s, img(y[i]), img(x[i]), wl, opt);
    });
    const double us = std::min(t.median_us, t.graph_us);
    Result res{name, fmt::format("{}x{}x{}x{}", N, C, HW, HW), "f16", t.median_us, t.min_us, t.graph_us,
               bytes / (us * 1e3), 0, bytes};
    res.pct_copy = 100.0 * res.gbps / copy_gbps;
    res.tflops = 2.0 * N * HW * HW * C * C * 9 / (us * 1e6);
    results.push_back(res);
  };
  for (index_t n : {1, 8, 64, 256}) one("conv3x3 normact+residual", n, true, {});
  for (index_t n : {1, 8, 256}) one("conv3x3", n, false, {});
  if (dev.arch == "sm_90") {  // the wgmma kernel's A gathered by its producer warpgroup instead of TMA im2col
    ConvOptions gather;
    gather.tma_im2col = false;
    for (index_t n : {1, 8, 64, 256}) one("conv3x3 normact+residual (gather A)", n, true, gather);
  }
  for (index_t n : {1, 8, 64, 256}) one("conv3x3 normact+residual (winograd)", n, true, {ConvAlgo::winograd});
  for (index_t n : {8, 256}) one("conv3x3 (winograd)", n, false, {ConvAlgo::winograd});
  ConvOptions wino16{ConvAlgo::winograd};
  wino16.winograd_fp32_products = false;
  for (index_t n : {8, 64, 256}) one("conv3x3 normact+residual (winograd, f16 products)", n, true, wino16);
  for (index_t n : {8, 256}) one("conv3x3 normact+residual (mma)", n, true, {ConvAlgo::automatic, GemmPath::mma});
  if (dev.arch == "sm_90")
    for (int tile = 0; tile < kernels::wgmma_conv_tile_count; ++tile)
      for (index_t n : {8, 256})
        one(fmt::format("conv3x3 normact+residual (wgmma tile {})", tile), n, true,
            {ConvAlgo::automatic, GemmPath::wgmma, tile});
  one("conv3x3 normact+residual (simt)", 8, true, {ConvAlgo::automatic, GemmPath::simt});
}

}  // namespace
