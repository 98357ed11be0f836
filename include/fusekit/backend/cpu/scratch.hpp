#pragma once
// Per-thread scratch memory for CPU kernels that need work buffers on every call (convolution staging,
// Winograd and im2col blocks). Allocating them per call cost a page fault per 4 KiB and a memset of the
// whole buffer every time: about a fifth of a KataGo forward pass on one core.
#include <cstddef>
#include <vector>

#include "fusekit/core/shape.hpp"

namespace fusekit::cpu {

// At least n floats, owned by the calling thread and reused by later calls with the same slot; contents
// are unspecified. A caller must not hold two pointers of one slot at once (nested users take other slots).
template <int kSlot>
float* scratch_floats(index_t n) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < static_cast<std::size_t>(n)) {
    buffer.clear();
    buffer.shrink_to_fit();
    buffer.resize(static_cast<std::size_t>(n));
  }
  return buffer.data();
}

}  // namespace fusekit::cpu
