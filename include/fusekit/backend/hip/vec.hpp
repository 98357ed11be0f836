#pragma once
// gpu::Vec<T, N>: N elements loaded or stored as one aligned access (16 bytes for 8 half/bfloat16 or 4
// floats). Kernels reinterpret suitably aligned pointers as Vec pointers after the host has checked the
// alignment.
#include "fusekit/config.hpp"

namespace fusekit::gpu {

template <class T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];
};

}  // namespace fusekit::gpu
