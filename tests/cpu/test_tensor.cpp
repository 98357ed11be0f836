// Views, owning tensors, layouts, formatting, buffer planning and the CPU context.
#include <atomic>
#include <set>

#include <gtest/gtest.h>

#include "../common.hpp"
#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/core.hpp"

using namespace fusekit;

TEST(TensorView, StridesSliceAndPermute) {
  HostTensor<float, 3> t({2, 3, 4});
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(i);
  auto v = t.view();
  EXPECT_EQ(v.strides(), (Strides<3>{12, 4, 1}));
  EXPECT_TRUE(v.is_contiguous());
  EXPECT_EQ(v(1, 2, 3), 23.0f);
  auto s = v.slice(2, 1, 3);  // [2,3,2], strides unchanged
  EXPECT_EQ(s.shape(), (Shape<3>{2, 3, 2}));
  EXPECT_FALSE(s.is_contiguous());
  EXPECT_EQ(s(1, 0, 0), 13.0f);
  auto p = v.permute({2, 0, 1});  // [4,2,3]
  EXPECT_EQ(p.shape(), (Shape<3>{4, 2, 3}));
  EXPECT_EQ(p(3, 1, 2), v(1, 2, 3));
  EXPECT_THROW(v.slice(1, 2, 4), Error);
  EXPECT_THROW(v.permute({0, 0, 1}), Error);
  auto r = v.reshape(Shape<2>{6, 4});
  EXPECT_EQ(r(5, 3), 23.0f);
  EXPECT_THROW(s.reshape(Shape<1>{12}), Error);
  EXPECT_THROW(v.reshape(Shape<1>{25}), Error);
}

TEST(TensorView, ImageLayouts) {
  const Shape<4> nchw{2, 3, 5, 7};
  std::vector<float> buf(numel(nchw));
  auto a = image_view(buf.data(), nchw, Layout::nchw);
  auto b = image_view(buf.data(), nchw, Layout::nhwc);
  EXPECT_EQ(a.layout(), Layout::nchw);
  EXPECT_EQ(b.layout(), Layout::nhwc);
  EXPECT_EQ(b.strides(), (Strides<4>{105, 1, 21, 3}));
  EXPECT_EQ(b.offset(1, 2, 3, 4), 105 + 2 + 63 + 12);
  EXPECT_EQ(a.slice(1, 0, 2).layout(), Layout::strided);
}

TEST(Tensor, MoveCloneAndConstViews) {
  HostTensor<int32_t, 1> a({5});
  for (int i = 0; i < 5; ++i) a(i) = i * i;
  auto b = a.clone();
  b(2) = 100;
  EXPECT_EQ(a(2), 4);
  HostTensor<int32_t, 1> c = std::move(a);
  EXPECT_EQ(c(4), 16);
  EXPECT_EQ(a.data(), nullptr);
  HostView<const int32_t, 1> cv = c.view();
  EXPECT_EQ(cv(3), 9);
  static_assert(!std::is_copy_constructible_v<HostTensor<float, 2>>, "tensors are move-only");
  HostTensor<float, 2> empty({0, 3});
  EXPECT_EQ(empty.numel(), 0);
  EXPECT_THROW((HostTensor<float, 1>({-1})), Error);
}

TEST(Format, ShapesAndTruncatedTensors) {
  EXPECT_EQ(fmt::format("{}", Shape<3>{788, 8, 256}), "[788, 8, 256]");
  HostTensor<float, 2> t({2, 10});
  for (index_t i = 0; i < 20; ++i) t.data()[i] = static_cast<float>(i) + 0.5f;
  EXPECT_EQ(fmt::format("{}", t),
            "[[0.5, 1.5, 2.5, ..., 7.5, 8.5, 9.5],\n [10.5, 11.5, 12.5, ..., 17.5, 18.5, 19.5]]");
  HostTensor<int64_t, 1> i({3});
  i(0) = 1; i(1) = -2; i(2) = 3;
  EXPECT_EQ(fmt::format("{}", i), "[1, -2, 3]");
  HostTensor<bfloat16, 1> bf({2});
  bf(0) = bfloat16(1.0f); bf(1) = bfloat16(-0.5f);
  EXPECT_EQ(fmt::format("{}", bf.view()), "[1, -0.5]");
  EXPECT_EQ(fmt::format("{}", DeviceView<half, 2>(nullptr, Shape<2>{4, 8})), "<device f16 tensor [4, 8]>");
}

TEST(BufferPlan, DisjointLifetimesShareMemory) {
  BufferPlan plan;
  auto a = plan.add("a", 1000, 0, 1);
  auto b = plan.add("b", 1000, 2, 3);   // after a: may reuse a's bytes
  auto c = plan.add("c", 500, 1, 2);    // overlaps both
  auto d = plan.add<float>("d", Shape<2>{10, 10}, 0, 3);
  plan.finalize();
  EXPECT_EQ(plan.offset(a), plan.offset(b));
  auto overlap = [&](BufferPlan::Id x, BufferPlan::Id y) {
    return plan.offset(x) < plan.offset(y) + plan.bytes(y) && plan.offset(y) < plan.offset(x) + plan.bytes(x);
  };
  for (auto [x, y] : {std::pair{a, c}, {b, c}, {a, d}, {b, d}, {c, d}}) EXPECT_FALSE(overlap(x, y)) << x << " " << y;
  EXPECT_LT(plan.arena_bytes(), 1000u + 1000u + 500u + 400u + 4 * BufferPlan::alignment);
  for (auto id : {a, b, c, d}) EXPECT_EQ(plan.offset(id) % BufferPlan::alignment, 0u);
}

TEST(BufferPlan, RandomPlansNeverOverlapLiveBuffers) {
  std::mt19937 rng(static_cast<unsigned>(test::base_seed()));
  for (int trial = 0; trial < 50; ++trial) {
    BufferPlan plan;
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      const int first = static_cast<int>(rng() % 20);
      plan.add(fmt::format("t{}", i), 1 + rng() % 100000, first, first + static_cast<int>(rng() % 6));
    }
    plan.finalize();
    for (int i = 0; i < n; ++i)
      for (int j = i + 1; j < n; ++j) {
        const bool live = plan.first_step(i) <= plan.last_step(j) && plan.first_step(j) <= plan.last_step(i);
        const bool mem = plan.offset(i) < plan.offset(j) + plan.bytes(j) && plan.offset(j) < plan.offset(i) + plan.bytes(i);
        ASSERT_FALSE(live && mem) << "trial " << trial << " buffers " << i << ", " << j;
      }
  }
}

TEST(BufferPlan, ArenaViewsAllocateNothingAndCheckSize) {
  BufferPlan plan;
  auto x = plan.add<float>("x", Shape<2>{8, 64}, 0, 1);
  auto y = plan.add<float>("y", Shape<2>{8, 64}, 1, 2);
  plan.finalize();
  Arena<HostSpace> arena(plan, host_memory());
  const auto before = host_memory()->allocation_count();
  auto xv = arena.view<float>(x, Shape<2>{8, 64});
  auto yv = arena.view<float>(y, Shape<2>{4, 64});  // smaller batch is fine
  xv(7, 63) = 1.0f;
  yv(3, 63) = 2.0f;
  EXPECT_EQ(xv(7, 63), 1.0f);
  EXPECT_EQ(host_memory()->allocation_count(), before);
  try {
    arena.view<float>(x, Shape<2>{9, 64});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[9, 64]"), std::string::npos) << e.what();
  }
  BufferPlan unfinished;
  unfinished.add("z", 10, 0, 0);
  EXPECT_THROW(Arena<HostSpace>(unfinished, host_memory()), Error);
}

TEST(CpuContext, ParallelForCoversEveryIndexOnce) {
  for (int threads : {1, 2, 4}) {
    cpu::Context ctx(threads);
    std::vector<std::atomic<int>> hits(10007);
    ctx.parallel_for(static_cast<index_t>(hits.size()), 100, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i) hits[i]++;
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
}
