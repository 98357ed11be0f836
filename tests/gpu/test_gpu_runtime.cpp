// GPU runtime layer: device facts, transfers, events, graph capture/replay, the caching allocator and
// error reporting.
#include "gpu_backend.hpp"

// Inside the namespace, `half` means fusekit::half (CUDA also declares a global `half`).
namespace fusekit::test {

TEST_F(Gpu, DeviceFacts) {
  const auto& d = stream().device();
  EXPECT_FALSE(d.name.empty());
  EXPECT_GT(d.multiprocessors, 0);
  EXPECT_TRUE(d.warp_size == 32 || d.warp_size == 64);
  std::printf("GPU: %s (%s), %d SMs, warp %d, %.1f GiB\n", d.name.c_str(), d.arch.c_str(), d.multiprocessors,
              d.warp_size, static_cast<double>(d.total_memory) / (1 << 30));
}

TEST_F(Gpu, TransfersRoundTripAndCheckShapes) {
  auto h = random_tensor<bfloat16, 3>({5, 7, 11}, 1);
  auto d = to_device(stream(), h);
  DeviceTensor<bfloat16, 3> d2({5, 7, 11}, stream());
  copy_async(stream(), d2, d);  // device to device
  auto back = to_host(stream(), d2);
  EXPECT_EQ(std::memcmp(back.data(), h.data(), h.bytes()), 0);
  HostTensor<bfloat16, 3> wrong({5, 7, 12});
  EXPECT_THROW(copy_async(stream(), wrong, d), Error);
  DeviceTensor<bfloat16, 3> d3({5, 7, 10}, stream());
  EXPECT_THROW(copy_async(stream(), d3, h.view().slice(2, 0, 10)), Error);  // non-contiguous source
}

TEST_F(Gpu, GraphCaptureReplaysTheWholeCall) {
  const Shape<2> s{788, 2048};
  auto x = random_tensor<bfloat16, 2>(s, 2);
  auto r = random_tensor<bfloat16, 2>(s, 3);
  auto w = random_tensor<bfloat16, 1>({2048}, 4);
  auto dx = to_device(stream(), x);
  auto dr = to_device(stream(), r);
  auto dw = to_device(stream(), w);
  DeviceTensor<bfloat16, 2> y(s, stream()), sum(s, stream());
  DeviceTensor<float, 2> y32(s, stream());
  stream().synchronize();
  const auto misses = stream().allocator().stats().device_allocations;
  auto graph = hip::capture(stream(), [&](hip::Stream& st) {
    rmsnorm(st, y, sum, dx, dr, dw, {1e-6f, true});
    copy(st, y32, y);
  });
  // Capture only records: nothing ran yet, so y32 is still unwritten memory. Poison, then replay.
  FUSEKIT_GPU_CHECK(gpu::memset_async(y32.data(), 0xff, y32.bytes(), stream().get()));
  graph.replay(stream());
  graph.replay(stream());
  auto h = to_host(stream(), y32);
  auto [ref, s_ref] = reference::rmsnorm_residual<bfloat16, bfloat16>(x.view(), r.view(), w.view(), 1e-6, true);
  EXPECT_TRUE(matches(h.view(), ref.view(), reference::tolerance_for<bfloat16>(), "replayed rmsnorm"));
  EXPECT_EQ(stream().allocator().stats().device_allocations, misses) << "replay must not allocate";
}

TEST_F(Gpu, AllocationDuringCaptureIsAClearError) {
  try {
    auto g = hip::capture(stream(), [&](hip::Stream& st) { DeviceTensor<float, 1> t({123457}, st); });
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("during graph capture"), std::string::npos) << e.what();
  }
  // the stream still works afterwards
  DeviceTensor<float, 1> t({16}, stream());
  fill(stream(), t, 2.0);
  EXPECT_EQ(to_host(stream(), t)(15), 2.0f);
}

TEST_F(Gpu, CachingAllocatorReusesAndRecoversFromOutOfMemory) {
  auto& alloc = stream().allocator();
  void* first;
  {
    DeviceTensor<float, 1> a({1 << 20}, stream());
    first = a.data();
  }
  const auto before = alloc.stats();
  {
    DeviceTensor<float, 1> b({1 << 20}, stream());  // same size class: served from the cache
    EXPECT_EQ(b.data(), first);
  }
  EXPECT_EQ(alloc.stats().device_allocations, before.device_allocations);
  EXPECT_EQ(alloc.stats().cache_hits, before.cache_hits + 1);
  try {
    DeviceTensor<uint8_t, 1> huge({index_t{1} << 50}, stream());
    FAIL() << "a petabyte allocation succeeded?";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("device out of memory"), std::string::npos) << e.what();
  }
  DeviceTensor<float, 1> after({1000}, stream());  // still usable, no sticky error
  fill(stream(), after, 1.0);
  EXPECT_EQ(to_host(stream(), after)(999), 1.0f);
  alloc.release_cached();
  EXPECT_EQ(alloc.stats().bytes_cached, 0u);
}

TEST_F(Gpu, EventsTimeWork) {
  DeviceTensor<float, 1> t({1 << 24}, stream());
  hip::Event a, b;
  a.record(stream());
  fill(stream(), t, 3.0);
  b.record(stream());
  b.synchronize();
  EXPECT_GT(hip::Event::elapsed_ms(a, b), 0.0f);
}

TEST_F(Gpu, LaunchErrorsNameTheKernel) {
  // A block larger than the hardware allows makes the launch itself fail.
  try {
    hip::launch("deliberately_invalid_block", kernels::elementwise_strided<float, detail::Constant<float>, float, 1>,
                dim3(1), dim3(4096), 0, stream(), index_t{1}, Extents<1>{1}, detail::Constant<float>{1.f},
                Operand<float, 1>{nullptr, Strides<1>{1}, 0});
    FAIL() << "expected a launch error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("deliberately_invalid_block"), std::string::npos) << e.what();
  }
  DeviceTensor<float, 1> t({4}, stream());  // the runtime keeps working
  fill(stream(), t, 5.0);
  EXPECT_EQ(to_host(stream(), t)(3), 5.0f);
}

}  // namespace fusekit::test
