#pragma once
// Umbrella for the public ops. Each op works on cpu::Context (host tensors) and, in translation units
// compiled by hipcc/nvcc, on hip::Stream (device tensors).
#include "fusekit/ops/activation.hpp"
#include "fusekit/ops/add.hpp"
#include "fusekit/ops/attention.hpp"
#include "fusekit/ops/axpby.hpp"
#include "fusekit/ops/bias_add.hpp"
#include "fusekit/ops/copy.hpp"
#include "fusekit/ops/fill.hpp"
#include "fusekit/ops/conv.hpp"
#include "fusekit/ops/gemm.hpp"
#include "fusekit/ops/global_pool.hpp"
#include "fusekit/ops/layernorm.hpp"
#include "fusekit/ops/norm_act.hpp"
#include "fusekit/ops/rmsnorm.hpp"
#include "fusekit/ops/rope.hpp"
#include "fusekit/ops/softmax.hpp"
#include "fusekit/ops/transfer.hpp"
