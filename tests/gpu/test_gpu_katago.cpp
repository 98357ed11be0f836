// KataGo networks on the GPU, fp32 and fp16: KataGo's own raw outputs for the three shared nets, the
// CPU network on random nets of every block kind (b18c384nbt included), graph replay equal to the
// uncaptured run, batch invariance, a 9x9 board inside the 19x19 tensor, and threads sharing one network.
#include "../katago_cases.hpp"
#include "../cpu/cpu_context.hpp"
#include "gpu_backend.hpp"

using namespace fusekit;
using namespace fusekit::katago;
using namespace fusekit::test::katago_cases;

namespace {

#define SKIP_WITHOUT_GPU \
  if (hip::device_count() == 0) GTEST_SKIP() << "no GPU"

hip::Stream& stream() {
  static hip::Stream s;
  return s;
}

// Tolerances per storage dtype: fp32 GPU math against KataGo's fp32 CPU (different summation orders):
// about 1e-4; fp16 storage of activations (11-bit mantissa) through 7-18 blocks: a few 1e-2 on logits.
struct Tol {
  double atol, rtol;
};
template <class T> constexpr Tol tol = {2e-4, 5e-5};
template <> constexpr Tol tol<fusekit::half> = {0.08, 0.02};

template <class T>
void matches_katago(NormActPlacement norm_act = NormActPlacement::automatic) {
  int ran = 0;
  for (const char* name : shared_nets) {
    if (!have_reference(name)) continue;
    const Reference ref = load_reference(name);
    Evaluator<hip::Stream, T> eval(stream(), read_model(model_path(name)), NetworkOptions{.max_batch = ref.spatial.size(0), .norm_act = norm_act});
    const Outputs got = eval.evaluate(ref.spatial.view(), ref.global.view());
    expect_outputs_near(got, ref.want, ref.spatial, tol<T>.atol, tol<T>.rtol, std::string(name) + " " + fmt::format("{}", dtype_of<T>));
    ++ran;
  }
  if (ran == 0) GTEST_SKIP() << "no KataGo reference data under " << fusekit::test::shared_dir();
}

TEST(KataGoNetworkGpu, MatchesKataGoFp32) {
  SKIP_WITHOUT_GPU; matches_katago<float>(); }
TEST(KataGoNetworkGpu, MatchesKataGoFp16) {
  SKIP_WITHOUT_GPU; matches_katago<fusekit::half>(); }

template <class T>
void matches_cpu(const char* arch, index_t n, double scale = 1, NormActPlacement norm_act = NormActPlacement::automatic) {
  const ModelDesc m = random_model(arch, 21);
  const auto [s, g] = random_inputs(n, 19, 19, {19, 13, 9}, 31);
  Evaluator<cpu::Context, float> cpu(fusekit::test::ctx(), m, {n});
  const Outputs want = cpu.evaluate(s.view(), g.view());
  const NetworkOptions opt{.max_batch = n, .norm_act = norm_act};
  Evaluator<hip::Stream, T> gpu(stream(), m, opt);
  const Outputs got = gpu.evaluate(s.view(), g.view());
  expect_outputs_near(got, want, s, scale * tol<T>.atol, scale * tol<T>.rtol, std::string(arch) + " GPU " + fmt::format("{}", dtype_of<T>) + " vs CPU");
  // Replaying the captured graph again, and running without a graph, give the same bits.
  const Outputs again = gpu.evaluate(s.view(), g.view());
  expect_outputs_near(again, got, s, 0, 0, std::string(arch) + " graph replay");
  Evaluator<hip::Stream, T> plain(stream(), m, opt, false);
  expect_outputs_near(plain.evaluate(s.view(), g.view()), got, s, 0, 0, std::string(arch) + " without graph");
}

TEST(KataGoNetworkGpu, RandomNetsMatchTheCpu) {
  SKIP_WITHOUT_GPU;
  for (const char* arch : {"b4c48", "b3c64nbt", "b7c96tf"}) {
    matches_cpu<float>(arch, 5);
    matches_cpu<fusekit::half>(arch, 5);
  }
}

TEST(KataGoNetworkGpu, B18c384nbtMatchesTheCpu) {
  SKIP_WITHOUT_GPU;
  // 18 blocks of 384 channels: fp16 rounding of the trunk adds up (measured 0.05-0.09 on logits of
  // magnitude ~5, the same as fusekit fp16 against PyTorch fp32 on this net).
  matches_cpu<float>("b18c384nbt", 3, 2);
  matches_cpu<fusekit::half>("b18c384nbt", 3, 2);
}

// Both placements of the residual stream's NormAct (NormActPlacement): automatic stores it in the
// convolution that writes the stream (epi::store_norm_act in the conv epilogue) for batches up to
// producer_norm_act_max_batch, which the tests above run; here the staged pass (consumer) forced, and
// automatic past that batch, where it picks the consumer too.
TEST(KataGoNetworkGpu, NormActPlacements) {
  SKIP_WITHOUT_GPU;
  for (const char* arch : {"b4c48", "b3c64nbt"}) {
    matches_cpu<float>(arch, 5, 1, NormActPlacement::consumer);
    matches_cpu<fusekit::half>(arch, 5, 1, NormActPlacement::consumer);
    matches_cpu<float>(arch, producer_norm_act_max_batch + 3);
    matches_cpu<fusekit::half>(arch, 3, 1, NormActPlacement::producer);
  }
  matches_cpu<fusekit::half>("b18c384nbt", 3, 2, NormActPlacement::consumer);
  matches_katago<float>(NormActPlacement::consumer);
  matches_katago<fusekit::half>(NormActPlacement::consumer);
}

template <class T>
void batch_and_board() {
  const ModelDesc m = random_model("b6c96nbt", 22);
  const auto [s, g] = random_inputs(6, 19, 19, {19, 9, 13}, 32);
  Evaluator<hip::Stream, T> eval(stream(), m, {6});
  const Outputs batch = eval.evaluate(s.view(), g.view());
  for (index_t b = 0; b < 6; b += 5) {
    const Outputs one = eval.evaluate(s.view().slice(0, b, b + 1), g.view().slice(0, b, b + 1));
    expect_outputs_near(one, entry(batch, b), s, tol<T>.atol / 4, tol<T>.rtol / 4, "batch entry " + std::to_string(b));
  }
  Evaluator<hip::Stream, T> small(stream(), m, {6, 9, 9});
  const HostTensor<float, 4> s9 = corner(s, 9);
  const Outputs a = small.evaluate(s9.view().slice(0, 1, 2), g.view().slice(0, 1, 2));
  expect_outputs_near(a, corner(entry(batch, 1), 9), corner(s, 9), tol<T>.atol / 4, tol<T>.rtol / 4, "9x9 alone");
}

// 4 threads, each with its own stream, evaluator and captured graphs, on one network: bit-identical to
// the single-threaded results.
TEST(KataGoNetworkGpu, StreamsOnThreadsShareOneNetwork) {
  SKIP_WITHOUT_GPU;
  auto make = [] { return std::make_unique<hip::Stream>(); };
  for (const char* arch : {"b4c48", "b3c64nbt", "b7c96tf"})
    threads_share_one_network<hip::Stream, float>(stream(), make, arch, 0.0);
  threads_share_one_network<hip::Stream, fusekit::half>(stream(), make, "b3c64nbt", 0.0);
}

// Trunk activations far beyond fp16's 65504 (the stem's weights multiplied up until fp16 storage as is
// overflows): with the automatic divide-by-8 the fp16 network still matches the fp32 CPU network.
TEST(KataGoNetworkGpu, Fp16DividedBy8SurvivesActivationsBeyondFp16) {
  SKIP_WITHOUT_GPU;
  const auto [s, g] = random_inputs(4, 19, 19, {19, 13}, 18);
  auto max_abs = [](const Outputs& o) {
    double m = 0;
    for (const auto* t : {&o.policy, &o.ownership})
      for (index_t i = 0; i < t->numel(); ++i) m = std::max(m, std::fabs(static_cast<double>(t->data()[i])));
    for (const auto* t : {&o.pass, &o.value, &o.score})
      for (index_t i = 0; i < t->numel(); ++i) m = std::max(m, std::fabs(static_cast<double>(t->data()[i])));
    return m;
  };
  bool overflowed = false;
  for (float factor : {1e3f, 3e3f, 1e4f, 3e4f, 1e5f, 3e5f, 1e6f}) {  // steps < 8: the first overflow fits / 8
    ModelDesc m = random_model("b4c48", 9);
    for (float& w : m.trunk.initial_conv.w) w *= factor;
    Evaluator<cpu::Context, float> cpu_eval(fusekit::test::ctx(), m, {4});
    const Outputs want = cpu_eval.evaluate(s.view(), g.view());
    Evaluator<hip::Stream, fusekit::half> as_is(stream(), m, {4, 19, 19, ActivationScale::as_is});
    const double err_as_is = max_abs_diff(as_is.evaluate(s.view(), g.view()), want) / max_abs(want);
    Evaluator<hip::Stream, fusekit::half> scaled(stream(), m, {4});
    ASSERT_TRUE(scaled.network().activations_divided_by_8());
    const double err = max_abs_diff(scaled.evaluate(s.view(), g.view()), want) / max_abs(want);
    std::printf("  stem x %g: largest output %.3g; fp16 error / largest output: as is %.3g, divided by 8 %.3g\n",
                static_cast<double>(factor), max_abs(want), err_as_is, err);
    EXPECT_LE(err, 0.03) << "stem x " << factor;
    if (!(err_as_is <= 0.03)) {  // fp16 as is overflowed (or lost everything): the case this is about
      overflowed = true;
      break;
    }
  }
  EXPECT_TRUE(overflowed) << "no stem factor made fp16 storage overflow: the test did not test the overflow path";
}

TEST(KataGoNetworkGpu, BatchInvarianceAndSmallBoardsFp32) {
  SKIP_WITHOUT_GPU; batch_and_board<float>(); }
TEST(KataGoNetworkGpu, BatchInvarianceAndSmallBoardsFp16) {
  SKIP_WITHOUT_GPU; batch_and_board<fusekit::half>(); }

}  // namespace
