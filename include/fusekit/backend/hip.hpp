#pragma once
// Umbrella for the GPU backend (HIP on AMD, CUDA runtime on NVIDIA). Compiles to nothing unless the
// translation unit is compiled by hipcc or nvcc (link fusekit::hip).
#include "fusekit/backend/hip/block_reduce.hpp"
#include "fusekit/backend/hip/caching_allocator.hpp"
#include "fusekit/backend/hip/check.hpp"
#include "fusekit/backend/hip/device.hpp"
#include "fusekit/backend/hip/graph.hpp"
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/backend/hip/stream.hpp"
#include "fusekit/backend/hip/vec.hpp"
#include "fusekit/backend/hip/vendor.hpp"
