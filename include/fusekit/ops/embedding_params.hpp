#pragma once
// Parameters of embedding(): out[t, c] = round_T(float(table[ids[t], c]) * scale).
#include <cstdint>

#include "fusekit/core/shape.hpp"

namespace fusekit {

template <class T>
struct EmbeddingParams {
  T* out;
  index_t out_row_stride, out_col_stride;
  const T* table;
  index_t table_row_stride, table_col_stride;
  const std::int32_t* ids;
  index_t id_stride;
  index_t tokens, cols, vocab;
  float scale;
};

}  // namespace fusekit
