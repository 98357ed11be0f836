#pragma once
// CPU embedding lookup: tokens split across the context's threads. An id outside [0, vocab) is an error.
#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/core/error.hpp"
#include "fusekit/ops/embedding_params.hpp"
#include "fusekit/ops/tags.hpp"

namespace fusekit {

template <>
struct OpImpl<op::Embedding, CpuBackend> {
  template <class T>
  static void run(const cpu::Context& ctx, const EmbeddingParams<T>& p) {
    for (index_t t = 0; t < p.tokens; ++t) {
      const std::int32_t id = p.ids[t * p.id_stride];
      FUSEKIT_CHECK(id >= 0 && id < p.vocab, "embedding: token {} has id {} outside the table's {} rows", t, id, p.vocab);
    }
    ctx.parallel_for(p.tokens, 8, [&](index_t t0, index_t t1) {
      for (index_t t = t0; t < t1; ++t) {
        const T* row = p.table + p.ids[t * p.id_stride] * p.table_row_stride;
        for (index_t c = 0; c < p.cols; ++c)
          p.out[t * p.out_row_stride + c * p.out_col_stride] = convert<T>(to_float(row[c * p.table_col_stride]) * p.scale);
      }
    });
  }
};

}  // namespace fusekit
