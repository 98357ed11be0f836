#pragma once
// GPU side of the shared op cases: transfers through a hip::Stream, outputs poisoned with 0xFF bytes
// (NaN for every float dtype) on the device, and a fixture that skips cleanly without a GPU.
#include <gtest/gtest.h>

#include "../op_cases.hpp"
#include "fusekit/backend/hip.hpp"
#include "fusekit/ops/transfer.hpp"

namespace fusekit::test {

template <>
struct Backend<hip::Stream> {
  template <class T, std::size_t R>
  static DeviceTensor<T, R> upload(hip::Stream& s, const HostTensor<T, R>& h) {
    auto d = to_device(s, h);
    s.synchronize();
    return d;
  }
  template <class T, std::size_t R>
  static HostTensor<T, R> download(hip::Stream& s, const DeviceTensor<T, R>& t) {
    return to_host(s, t);
  }
  template <class T, std::size_t R>
  static DeviceTensor<T, R> poisoned(hip::Stream& s, const Shape<R>& shape) {
    DeviceTensor<T, R> t(shape, s);
    if (t.bytes()) FUSEKIT_GPU_CHECK(gpu::memset_async(t.data(), 0xff, t.bytes(), s.get()));
    return t;
  }
};

class Gpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (hip::device_count() == 0) GTEST_SKIP() << "no GPU visible: GPU tests skipped";
    stream_ = std::make_unique<hip::Stream>();
  }
  hip::Stream& stream() { return *stream_; }
  std::unique_ptr<hip::Stream> stream_;
};

}  // namespace fusekit::test
