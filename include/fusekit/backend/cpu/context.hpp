#pragma once
// cpu::Context: the CPU backend's handle. Holds the thread count and an Eigen thread pool; ops take it
// to pick the CPU implementation and to run their loops in parallel.
#include <algorithm>
#include <cstddef>
#include <memory>
#include <thread>

#define EIGEN_USE_THREADS
#include <unsupported/Eigen/CXX11/ThreadPool>

#include "fusekit/core/backend.hpp"
#include "fusekit/core/memory.hpp"
#include "fusekit/core/shape.hpp"

namespace fusekit {

namespace cpu {

class Context {
 public:
  using backend = CpuBackend;
  using space = HostSpace;

  // threads <= 0 means one per hardware thread.
  explicit Context(int threads = 0)
      : threads_(threads > 0 ? threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))) {
    if (threads_ > 1) pool_ = std::make_unique<Eigen::ThreadPool>(threads_);
  }

  int threads() const { return threads_; }
  Eigen::ThreadPool* pool() const { return pool_.get(); }
  std::shared_ptr<MemoryResource> memory() const { return host_memory(); }

  // Runs fn(begin, end) over [0, n) in chunks of at least `grain` items, on the pool and this thread.
  template <class Fn>
  void parallel_for(index_t n, index_t grain, Fn&& fn) const {
    if (n <= 0) return;
    grain = std::max<index_t>(grain, 1);
    const index_t chunks = std::min<index_t>(threads_, (n + grain - 1) / grain);
    if (chunks <= 1 || !pool_) {
      fn(index_t{0}, n);
      return;
    }
    const index_t step = (n + chunks - 1) / chunks;
    Eigen::Barrier done(static_cast<unsigned>(chunks - 1));
    for (index_t c = 1; c < chunks; ++c) {
      pool_->Schedule([&, c] {
        fn(c * step, std::min(n, (c + 1) * step));
        done.Notify();
      });
    }
    fn(index_t{0}, std::min(n, step));
    done.Wait();
  }

 private:
  int threads_;
  std::unique_ptr<Eigen::ThreadPool> pool_;
};

}  // namespace cpu
}  // namespace fusekit
