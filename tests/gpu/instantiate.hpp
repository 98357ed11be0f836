#pragma once
// The parts of fusekit_gpu_instantiate that live in translation units of their own.
#include <fusekit/backend/hip.hpp>

namespace fusekit {
void instantiate_gemm_conv(hip::Stream& s);
void instantiate_attention_transformer(hip::Stream& s);
}  // namespace fusekit
