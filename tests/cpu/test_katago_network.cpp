// KataGo networks on the CPU (fp32): KataGo's own raw outputs for the three shared nets (skipped
// without ../shared), random nets of every block kind through model files and back, batch invariance,
// a small board inside the 19x19 tensor equal to itself alone, threads sharing one network, and input
// errors.
#include <cstring>
#include <filesystem>

#include "../katago_cases.hpp"
#include "cpu_context.hpp"
#include "fusekit/katago/model_writer.hpp"

using namespace fusekit;
using namespace fusekit::katago;
using namespace fusekit::test::katago_cases;
using fusekit::test::ctx;
using fusekit::test::expect_error;

namespace {

using CpuEval = Evaluator<cpu::Context, float>;

// Small random nets covering every block kind (classic + gpool, nested bottleneck, transformer).
const char* const random_archs[] = {"b4c48", "b3c64nbt", "b7c96tf"};

TEST(KataGoNetworkCpu, MatchesKataGoOnTheSharedNets) {
  int ran = 0;
  for (const char* name : shared_nets) {
    if (!have_reference(name)) continue;
    const Reference ref = load_reference(name);
    CpuEval eval(ctx(), read_model(model_path(name)), {ref.spatial.size(0)});
    const Outputs got = eval.evaluate(ref.spatial.view(), ref.global.view());
    expect_outputs_near(got, ref.want, ref.spatial, 1e-4, 2e-5, name);
    ++ran;
  }
  if (ran == 0) GTEST_SKIP() << "no KataGo reference data under " << fusekit::test::shared_dir();
}

TEST(KataGoNetworkCpu, BatchEqualsSingleEvaluations) {
  for (const char* arch : random_archs) {
    const auto [s, g] = random_inputs(5, 19, 19, {19, 13, 9}, 11);
    CpuEval eval(ctx(), random_model(arch, 3), {5});
    const Outputs batch = eval.evaluate(s.view(), g.view());
    for (index_t b = 0; b < 5; ++b) {
      const Outputs one = eval.evaluate(s.view().slice(0, b, b + 1), g.view().slice(0, b, b + 1));
      expect_outputs_near(one, entry(batch, b), corner(s, 19), 1e-5, 1e-5, std::string(arch) + " entry " + std::to_string(b));
    }
  }
}

TEST(KataGoNetworkCpu, SmallBoardInsideTheTensorEqualsItselfAlone) {
  for (const char* arch : random_archs) {
    const auto [s, g] = random_inputs(2, 19, 19, {9}, 12);
    const ModelDesc m = random_model(arch, 4);
    CpuEval full(ctx(), m, {2, 19, 19});
    CpuEval small(ctx(), m, {2, 9, 9});
    const HostTensor<float, 4> s9 = corner(s, 9);
    const Outputs a = corner(full.evaluate(s.view(), g.view()), 9);
    const Outputs b = small.evaluate(s9.view(), g.view());
    expect_outputs_near(a, b, s9, 2e-5, 2e-5, std::string(arch) + " 9x9 in 19x19");
  }
  const char* name = shared_nets[2];  // KataGo's 6th reference position is a 9x9 board
  if (!have_reference(name)) return;
  const Reference ref = load_reference(name);
  CpuEval small(ctx(), read_model(model_path(name)), {1, 9, 9});
  const HostTensor<float, 4> s9 = corner(ref.spatial, 9);
  HostTensor<float, 4> pos({1, 22, 9, 9});
  std::copy(s9.data() + 5 * pos.numel(), s9.data() + 6 * pos.numel(), pos.data());
  const Outputs got = small.evaluate(pos.view(), ref.global.view().slice(0, 5, 6));
  expect_outputs_near(got, corner(entry(ref.want, 5), 9), pos, 1e-4, 2e-5, std::string(name) + " position 5 on a 9x9 tensor");
}

TEST(KataGoNetworkCpu, RandomNetsRoundTripThroughFiles) {
  const auto dir = std::filesystem::temp_directory_path() / ("fusekit_katago_" + std::to_string(fusekit::test::base_seed()));
  std::filesystem::create_directories(dir);
  for (const char* arch : random_archs) {
    const ModelDesc m = random_model(arch, 5);
    const auto [s, g] = random_inputs(3, 19, 19, {19, 11}, 13);
    CpuEval direct(ctx(), m, {3});
    const Outputs want = direct.evaluate(s.view(), g.view());
    // Outputs are finite, vary across the board, and are not trivially small.
    double spread = 0;
    for (index_t i = 0; i < want.policy.numel(); ++i) {
      ASSERT_TRUE(std::isfinite(want.policy.data()[i])) << arch;
      spread = std::max(spread, std::fabs(static_cast<double>(want.policy.data()[i] - want.policy.data()[0])));
    }
    EXPECT_GT(spread, 0.1) << arch;
    for (const char* ext : {".bin.gz", ".txt"}) {
      const std::string path = (dir / (std::string(arch) + ext)).string();
      write_model(m, path);
      CpuEval loaded(ctx(), read_model(path), {3});
      const Outputs got = loaded.evaluate(s.view(), g.view());
      expect_outputs_near(got, want, s, 0, 0, std::string(arch) + " via " + ext);  // bit for bit
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(KataGoNetworkCpu, RandomModelsAreDeterministicAndNamed) {
  const ModelDesc a = random_model("b18c384nbt", 7), b = random_model("b18c384nbt", 7), c = random_model("b18c384nbt", 8);
  EXPECT_EQ(write_model_bytes(a, FloatEncoding::binary), write_model_bytes(b, FloatEncoding::binary));
  EXPECT_NE(write_model_bytes(a, FloatEncoding::binary), write_model_bytes(c, FloatEncoding::binary));
  EXPECT_EQ(a.trunk.blocks.size(), 18u);
  EXPECT_EQ(a.trunk.trunk_c, 384);
  int gpool = 0;
  for (const Block& blk : a.trunk.blocks) {
    const auto& n = std::get<NestedBottleneckBlock>(blk.kind);
    EXPECT_EQ(n.inner.size(), 2u);
    gpool += std::holds_alternative<GlobalPoolBlock>(n.inner[0].kind);
  }
  EXPECT_EQ(gpool, 5);  // outer blocks 2, 5, 8, 11, 14 (FORMAT.md)
  // Conv + matmul weights of b18c384nbt: FORMAT.md counts 26.32 M.
  EXPECT_NEAR(static_cast<double>(a.parameter_count), 26.4e6, 0.2e6);
  expect_error([] { (void)architecture("c384b18"); }, {"not a known architecture"});
}

// 4 threads x 18 evaluations on one shared network per block family, each thread with its own
// single-threaded context, on 9x9 tensors to keep it quick under the sanitizers (the GPU test runs 72
// per thread at 19x19).
TEST(KataGoNetworkCpu, ThreadsShareOneNetwork) {
  cpu::Context build(1);
  for (const char* arch : random_archs)
    threads_share_one_network<cpu::Context, float>(build, [] { return std::make_unique<cpu::Context>(1); }, arch, 0.0, 4,
                                                   3, 9);
}

// KataGo's fp16 form (activations stored divided by 8, katago/fp16_scale8.hpp) forced on the fp32 network
// gives the same outputs, for classic, global-pooling and nested-bottleneck blocks, the pass MLP (v15) and,
// on the shared v8 net, the plain pass matmul. Transformer trunks are left as they are.
TEST(KataGoNetworkCpu, ActivationsDividedBy8GiveTheSameOutputs) {
  std::vector<std::pair<std::string, ModelDesc>> nets = {{"b4c48", random_model("b4c48", 8)},
                                                         {"b3c64nbt", random_model("b3c64nbt", 8)}};
  if (std::filesystem::exists(model_path(shared_nets[0]))) nets.emplace_back(shared_nets[0], read_model(model_path(shared_nets[0])));
  const auto [s, g] = random_inputs(3, 19, 19, {19, 13, 9}, 17);
  for (const auto& [name, m] : nets) {
    CpuEval plain(ctx(), m, {3, 19, 19, ActivationScale::as_is});
    CpuEval scaled(ctx(), m, {3, 19, 19, ActivationScale::divided_by_8});
    EXPECT_FALSE(plain.network().activations_divided_by_8());
    EXPECT_TRUE(scaled.network().activations_divided_by_8());
    expect_outputs_near(scaled.evaluate(s.view(), g.view()), plain.evaluate(s.view(), g.view()), s, 2e-5, 2e-5,
                        name + " divided by 8");
  }
  CpuEval tf(ctx(), random_model("b7c96tf", 8), {1, 19, 19, ActivationScale::divided_by_8});
  EXPECT_FALSE(tf.network().activations_divided_by_8());
  expect_error([] { write_model_bytes(scale8_for_fp16(random_model("b2c32", 1)), FloatEncoding::binary); },
               {"internal fp16 scale-8 activation"});
}

// NormActPlacement::producer (each convolution that writes the residual stream also stores the next
// block's NormAct'ed input, epi::store_norm_act) against KataGo's own outputs for the shared nets, and
// against the consumer placement for random nets of every block kind.
TEST(KataGoNetworkCpu, NormActStoredByTheProducerGivesTheSameOutputs) {
  const NetworkOptions producer{.max_batch = 3, .norm_act = NormActPlacement::producer};
  const auto [s, g] = random_inputs(3, 19, 19, {19, 13, 9}, 19);
  for (const char* arch : random_archs) {
    const ModelDesc m = random_model(arch, 9);
    CpuEval plain(ctx(), m, {3}), stored(ctx(), m, producer);
    expect_outputs_near(stored.evaluate(s.view(), g.view()), plain.evaluate(s.view(), g.view()), s, 2e-5, 2e-5,
                        std::string(arch) + " producer NormAct");
  }
  for (const char* name : shared_nets) {
    if (!have_reference(name)) continue;
    const Reference ref = load_reference(name);
    CpuEval eval(ctx(), read_model(model_path(name)), NetworkOptions{.max_batch = ref.spatial.size(0), .norm_act = NormActPlacement::producer});
    expect_outputs_near(eval.evaluate(ref.spatial.view(), ref.global.view()), ref.want, ref.spatial, 1e-4, 2e-5, name);
  }
}

TEST(KataGoNetworkCpu, WorkspaceBelongsToItsNetwork) {
  const ModelDesc m = random_model("b2c32", 1);
  Network<cpu::Context, float> a(ctx(), m), b(ctx(), m);
  auto ws = b.make_workspace(ctx());
  const auto [s, g] = random_inputs(1, 19, 19, {19}, 16);
  CpuEval eval(ctx(), m);
  Outputs o = eval.make_outputs(1);
  expect_error([&] { a.forward(ctx(), ws, {s.view(), g.view()}, views_of(o)); }, {"workspace was made by another network"});
  expect_error([&] { CpuEval none(ctx(), std::shared_ptr<const Network<cpu::Context, float>>{}); },
               {"shared network is null"});
}

TEST(KataGoNetworkCpu, BadInputsAreErrorsNamingTheNetAndShapes) {
  CpuEval eval(ctx(), random_model("b2c32", 1), {2});
  const auto [s, g] = random_inputs(3, 19, 19, {19}, 14);
  expect_error([&] { (void)eval.evaluate(s.view(), g.view()); }, {"batch 3 exceeds", "max_batch 2"});
  const auto [s2, g2] = random_inputs(2, 19, 19, {19}, 15);
  expect_error([&] { (void)eval.evaluate(s2.view(), g2.view().slice(1, 0, 18)); }, {"global input is [2, 18]", "expected [2, 19]"});
  const HostTensor<float, 4> small = corner(s2, 9);
  expect_error([&] { (void)eval.evaluate(small.view(), g2.view()); }, {"spatial input is [2, 22, 9, 9]"});
  // Into caller-owned outputs: a refused call leaves them as they were.
  Outputs o = eval.make_outputs(2);
  for (auto* t : {&o.policy, &o.ownership}) test::poison(*t);
  for (auto* t : {&o.pass, &o.value, &o.score}) test::poison(*t);
  const Outputs before{o.pass.clone(), o.value.clone(), o.score.clone(), o.policy.clone(), o.ownership.clone()};
  expect_error([&] { eval.evaluate(s2.view(), g2.view().slice(1, 0, 18), {}, views_of(o)); }, {"global input is [2, 18]"});
  auto same = [](const auto& a, const auto& b) { return std::memcmp(a.data(), b.data(), a.bytes()) == 0; };  // (NaN bits)
  EXPECT_TRUE(same(o.policy, before.policy) && same(o.pass, before.pass) && same(o.value, before.value) &&
              same(o.score, before.score) && same(o.ownership, before.ownership))
      << "a refused evaluation wrote to its outputs";
}

}  // namespace
