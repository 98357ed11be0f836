#pragma once
// GPU embedding lookup: one block row per token, threads over the columns. The ids live on the device,
// so a bad id cannot raise an exception without a synchronisation: its row is written as NaN instead
// (documented in ops/embedding.hpp; loaders that take ids from the host check them there).
#include <limits>

#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/embedding_params.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {
template <class T>
FUSEKIT_GLOBAL void __launch_bounds__(256) embedding_rows(EmbeddingParams<T> p) {
  gpu::wait_for_prior_grid();  // launched dependent: nothing before this touches memory
  gpu::allow_dependent_launch();
  const index_t t = blockIdx.x;
  const std::int32_t id = p.ids[t * p.id_stride];
  const bool ok = id >= 0 && id < p.vocab;
  const T* row = p.table + (ok ? id : 0) * p.table_row_stride;
  for (index_t c = threadIdx.x; c < p.cols; c += blockDim.x) {
    const float v = ok ? to_float(row[c * p.table_col_stride]) * p.scale : std::numeric_limits<float>::quiet_NaN();
    p.out[t * p.out_row_stride + c * p.out_col_stride] = convert<T>(v);
  }
}
}  // namespace kernels

template <>
struct OpImpl<op::Embedding, HipBackend> {
  template <class T>
  static void run(const hip::Stream& s, const EmbeddingParams<T>& p) {
    FUSEKIT_CHECK(p.tokens <= index_t{0x7fffffff}, "embedding: {} tokens exceed the grid limit", p.tokens);
    hip::launch_dependent("embedding", kernels::embedding_rows<T>, dim3(static_cast<unsigned>(p.tokens)), dim3(256), 0, s, p);
  }
};

}  // namespace fusekit
#endif
