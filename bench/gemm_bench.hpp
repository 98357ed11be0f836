// GEMM rows of fusekit_gpu_bench (included by gpu_bench.cpp after its timing helpers): the Pi0 shapes of
// issue #4 as Linear layers (y = x W^T, W [N, K] bf16), the GeGLU projection with its gate fused, the
// mma and wgmma kernels' tile configurations, the SIMT kernel on one shape, the 11-row kernels and split
// factors, and 8192^3.
namespace {

void bench_gemms(hip::Stream& s, int reps, double copy_gbps, std::vector<Result>& results) {
  const auto& dev = s.device();
  using T = bfloat16;
  // norm: 0 none, 1 gemm_rmsnorm (the norm as the GEMM's prologue), 2 rmsnorm then gemm (two launches),
  // 3 gemm_rmsnorm with the weight folded into W (norm_weight_folded: what the Gemma layers run)
  auto one = [&](const std::string& name, index_t M, index_t N, index_t K, bool geglu, GemmOptions opt, int norm = 0) {
    if (!row_selected(name, fmt::format("{}x{}x{}", M, N, K))) return;
    const index_t n_out = geglu ? N / 2 : N;
    const double wbytes = 2.0 * N * K, bytes = wbytes + 2.0 * M * K + 2.0 * M * n_out;
    const int sets = hot_inputs ? 1 : std::min(sets_for(static_cast<std::size_t>(bytes), dev), 8);
    std::vector<DeviceTensor<T, 2>> x, w, y, xn;
    for (int i = 0; i < sets; ++i) {
      x.push_back(pattern_tensor<T, 2>(s, {M, K}, 3000 + i));
      w.push_back(pattern_tensor<T, 2>(s, {N, K}, 3100 + i));
      y.emplace_back(Shape<2>{M, n_out}, s);
      xn.emplace_back(Shape<2>{norm == 2 ? M : 0, K}, s);
    }
    const auto nw = pattern_tensor<float, 1>(s, {norm ? K : 0}, 3200);  // Gemma's (1 + w) norm weight, fp32
    const RmsNormOptions nopt{.unit_offset = true};
    const auto gate = make_epilogue(epi::gate<act::GeluTanh>(GateLayout::concatenated));
    const auto plain = make_epilogue();
    auto product = [&](int i, const auto& epi) {
      if (norm == 1) gemm_rmsnorm(s, y[i], x[i], nw, transposed(w[i]), epi, nopt, opt);
      else if (norm == 3) gemm_rmsnorm(s, y[i], x[i], norm_weight_folded, transposed(w[i]), epi, RmsNormOptions{}, opt);
      else if (norm == 2) {
        rmsnorm(s, xn[i], x[i], nw, nopt);
        gemm(s, y[i], xn[i], transposed(w[i]), epi, opt);
      } else gemm(s, y[i], x[i], transposed(w[i]), epi, opt);
    };
    const Timing t = time_us(s, sets, reps, [&](int i) {
      if (geglu) product(i, gate);
      else product(i, plain);
    });
    const double us = std::min(t.median_us, t.graph_us);
    Result r{name, fmt::format("{}x{}x{}", M, N, K), "bf16", t.median_us, t.min_us, t.graph_us, bytes / (us * 1e3),
             0, bytes};
    r.pct_copy = 100.0 * r.gbps / copy_gbps;
    r.tflops = 2.0 * M * N * K / (us * 1e6);
    results.push_back(r);
  };
  const GemmOptions def{};
  for (auto [N, K] : {std::pair<index_t, index_t>{2560, 2048}, {2048, 2048}, {32768, 2048}, {2048, 16384}})
    one("gemm", 788, N, K, false, def);
  for (auto [N, K] : {std::pair<index_t, index_t>{3456, 1152}, {4304, 1152}, {1152, 4304}})
    one("gemm", 768, N, K, false, def);
  for (auto [N, K] : {std::pair<index_t, index_t>{2560, 1024}, {8192, 1024}, {1024, 4096}, {2048, 2048}, {32768, 2048},
                                   {1024, 2048}})
    one("gemm", 11, N, K, false, def);
  // The action expert's decode projections (11 rows): the small_m kernel's split-K choice against forced
  // ones (more than 8 go through the workspace), and the other kernels that can take them.
  for (auto [N, K] : {std::pair<index_t, index_t>{2560, 1024}, {1024, 2048}, {8192, 1024}, {1024, 4096}}) {
    for (int splits : {1, 2, 4, 8, 16})
      one(fmt::format("gemm (small_m, splits {})", splits), 11, N, K, false, {1.f, 0.f, GemmPath::small_m, -1, splits});
    one("gemm (mma)", 11, N, K, false, {1.f, 0.f, GemmPath::mma});
    one("gemm (skinny)", 11, N, K, false, {1.f, 0.f, GemmPath::skinny});
  }
  one("gemm geglu (gate fused)", 11, 8192, 1024, true, def);
  // Gemma's pre-norm projections at decode: the RMSNorm as the GEMM's prologue against a norm launch first
  one("rmsnorm -> gemm (prologue)", 11, 2560, 1024, false, def, 1);
  one("rmsnorm -> gemm (folded prologue)", 11, 2560, 1024, false, def, 3);
  one("rmsnorm -> gemm geglu (folded prologue)", 11, 8192, 1024, true, def, 3);
  one("rmsnorm -> gemm (folded prologue)", 11, 2560, 2048, false, def, 3);
  one("rmsnorm, gemm (2 launches)", 11, 2560, 1024, false, def, 2);
  one("rmsnorm -> gemm geglu (prologue)", 11, 8192, 1024, true, def, 1);
  one("rmsnorm, gemm geglu (2 launches)", 11, 8192, 1024, true, def, 2);
  one("rmsnorm -> gemm (prologue)", 11, 2560, 2048, false, def, 1);
  one("rmsnorm, gemm (2 launches)", 11, 2560, 2048, false, def, 2);
  one("gemm geglu (gate fused)", 788, 32768, 2048, true, def);
  for (int tile = 0; tile < kernels::mma_tile_count; ++tile)
    one(fmt::format("gemm (mma tile {})", tile), 788, 2048, 2048, false, {1.f, 0.f, GemmPath::mma, tile});
  one("gemm (simt)", 788, 2048, 2048, false, {1.f, 0.f, GemmPath::simt});
  if (dev.arch == "sm_90") {  // the Hopper kernel's tiles, and the mma kernel where the policy picks wgmma
    for (int tile = 0; tile < kernels::wgmma_tile_count; ++tile)
      one(fmt::format("gemm (wgmma tile {})", tile), 788, 2048, 2048, false, {1.f, 0.f, GemmPath::wgmma, tile});
    one("gemm (mma)", 788, 32768, 2048, false, {1.f, 0.f, GemmPath::mma});
  }
  one("gemm", 8192, 8192, 8192, false, def);
}

}  // namespace
