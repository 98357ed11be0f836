#pragma once
// Whole-call graph capture: Graph g = hip::capture(stream, [&](hip::Stream& s) { net.forward(s); });
// then g.replay(stream) re-runs every captured launch and copy with one call. Buffers must be allocated
// (or planned) before capture: the caching allocator refuses to call the runtime while capturing.
#include <exception>
#include <utility>

#include "fusekit/backend/hip/stream.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::hip {

class Graph {
 public:
  Graph() = default;
  Graph(gpu::graph_t g, gpu::graph_exec_t x) : graph_(g), exec_(x) {}
  Graph(Graph&& o) noexcept : graph_(std::exchange(o.graph_, nullptr)), exec_(std::exchange(o.exec_, nullptr)) {}
  Graph& operator=(Graph&& o) noexcept {
    if (this != &o) {
      reset();
      graph_ = std::exchange(o.graph_, nullptr);
      exec_ = std::exchange(o.exec_, nullptr);
    }
    return *this;
  }
  ~Graph() { reset(); }

  void replay(const Stream& s) const {
    FUSEKIT_CHECK(exec_ != nullptr, "Graph::replay: empty graph (capture one first)");
    FUSEKIT_GPU_CHECK(gpu::graph_launch(exec_, s.get()));
  }
  explicit operator bool() const { return exec_ != nullptr; }

 private:
  void reset() noexcept {
    if (exec_) (void)gpu::graph_exec_destroy(exec_);
    if (graph_) (void)gpu::graph_destroy(graph_);
    exec_ = nullptr;
    graph_ = nullptr;
  }
  gpu::graph_t graph_ = nullptr;
  gpu::graph_exec_t exec_ = nullptr;
};

// Records everything fn(stream) enqueues on `stream` into a graph. If fn throws, capture is ended and
// the exception propagates; the stream is usable afterwards.
template <class Fn>
Graph capture(Stream& stream, Fn&& fn) {
  FUSEKIT_GPU_CHECK(gpu::stream_begin_capture(stream.get()));
  try {
    fn(stream);
  } catch (...) {
    gpu::graph_t g = nullptr;
    (void)gpu::stream_end_capture(stream.get(), &g);
    if (g) (void)gpu::graph_destroy(g);
    (void)gpu::get_last_error();
    throw;
  }
  gpu::graph_t g = nullptr;
  FUSEKIT_GPU_CHECK(gpu::stream_end_capture(stream.get(), &g));
  gpu::graph_exec_t x = nullptr;
  const gpu::error_t e = gpu::graph_instantiate(&x, g);
  if (e != gpu::success) {
    (void)gpu::graph_destroy(g);
    gpu::throw_gpu_error(e, "graph_instantiate", __FILE__, __LINE__);
  }
  return Graph(g, x);
}

}  // namespace fusekit::hip
#endif
