#pragma once
// fusekit: header-only tensors and fused kernels for CPU (Eigen) and GPU (HIP/CUDA).
// Including this one header gives the whole public API available to the current compiler.
#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/backend/hip.hpp"
#include "fusekit/core.hpp"
#include "fusekit/io/npy.hpp"
#include "fusekit/io/safetensors.hpp"
#include "fusekit/ops.hpp"
