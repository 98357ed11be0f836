#pragma once
// What an attention launch needs (ops/attention.hpp is the front end), and the masking rule every
// backend shares.
//
// For batch entry b, query row i (of q_count(b)), query head h and its KV head hk = h / (q_heads /
// kv_heads), key j (of k_count(b)) is visible when j < row_end(b, i), where row_end is the smallest of
//   k_count(b)                         (key padding: per-batch kv_lens, or the varlen offsets)
//   kv_end(b, i)                       (optional per-row end: the Pi0 block mask)
//   i + k_count(b) - q_count(b) + 1    (causal; aligned bottom-right, so that the last query sees every key:
//                                       q_count new tokens at the end of a cache of k_count)
//   out(b, i, h) = sum_j softmax_j(scale * q . k_j) v_j  over the visible keys, fp32 logits and sums.
// A row that sees no key (row_end <= 0) is fully masked and its output is 0 (not NaN).
#include <algorithm>
#include <cstdint>

#include "fusekit/core/shape.hpp"

namespace fusekit {

// GPU kernel choice. automatic: matrix cores where the GPU and dtype allow (NVIDIA sm_80+, f16/bf16),
// else the portable SIMT kernel; simt: always the portable kernel (AMD's path today, testable anywhere).
enum class AttentionPath { automatic, simt };

// How the GPU matrix-core kernel combines key splits. automatic: inside a thread-block cluster (the
// splits' partial rows meet in distributed shared memory, no second kernel) where the device and build
// allow it (NVIDIA sm_90) and there are at most 8 splits; else through the workspace and a combine
// kernel. cluster: that (at most 8 splits), or an error where it cannot run; workspace: never the
// cluster (tests, comparisons).
enum class AttentionSplitCombine { automatic, cluster, workspace };

struct AttentionOptions {
  float scale = 0.f;    // multiplies q . k; 0 means 1 / sqrt(head_dim)
  bool causal = false;  // bottom-right aligned (see above)
  int kv_splits = 0;    // key ranges per tile combined afterwards; 0: chosen to fill the device
  AttentionPath path = AttentionPath::automatic;  // GPU kernel choice (simt: the portable kernel)
  int tiles = -1;  // GPU matrix-core tile shape, for tests and tuning: 0 narrow, 1 wide, 2 decode, 3 narrow with
                   // column warps (head dims 129..256); -1 automatic
  AttentionSplitCombine combine = AttentionSplitCombine::automatic;
  int combine_groups = 0;  // GPU combine kernel: rows (x 128 columns) per block, 1/2/4/8; 0 automatic
};

// [batch][token][head][dim] addressing of q, k, v or out (dim contiguous). In the varlen form the batch
// stride is 0 and token indices are offset by the batch entry's cumulative length.
template <class T>
struct AttentionTensor {
  T* data;
  index_t batch_stride, token_stride, head_stride;

  FUSEKIT_HOST_DEVICE T* at(index_t b, index_t token, index_t head) const {
    return data + b * batch_stride + token * token_stride + head * head_stride;
  }
};

template <class T>
struct AttentionParams {
  AttentionTensor<T> out;
  AttentionTensor<const T> q, k, v;
  const std::int32_t* cu_q = nullptr;     // [batch + 1] query offsets (varlen), else nullptr
  const std::int32_t* cu_k = nullptr;     // [batch + 1] key offsets (varlen), else nullptr
  const std::int32_t* kv_lens = nullptr;  // [batch] keys per entry (dense with key padding), else nullptr
  const std::int32_t* kv_end = nullptr;   // per-row key end, addressed like q's tokens, else nullptr
  index_t kv_end_batch_stride = 0, kv_end_token_stride = 0;
  index_t batch = 0, q_len = 0, kv_len = 0;  // q_len, kv_len: dense lengths, or the varlen maxima
  index_t q_heads = 0, kv_heads = 0, head_dim = 0;
  float scale = 1.f;
  bool causal = false;

  FUSEKIT_HOST_DEVICE index_t group() const { return q_heads / kv_heads; }
  FUSEKIT_HOST_DEVICE index_t q_begin(index_t b) const { return cu_q ? cu_q[b] : 0; }
  FUSEKIT_HOST_DEVICE index_t q_count(index_t b) const { return cu_q ? cu_q[b + 1] - cu_q[b] : q_len; }
  FUSEKIT_HOST_DEVICE index_t k_begin(index_t b) const { return cu_k ? cu_k[b] : 0; }
  FUSEKIT_HOST_DEVICE index_t k_count(index_t b) const {
    if (cu_k) return cu_k[b + 1] - cu_k[b];
    if (kv_lens) return kv_lens[b] < 0 ? 0 : (kv_lens[b] > kv_len ? kv_len : kv_lens[b]);
    return kv_len;
  }
  // Keys [0, row_end) are visible to query row i of entry b (qn = q_count(b), kn = k_count(b)).
  FUSEKIT_HOST_DEVICE index_t row_end(index_t b, index_t i, index_t qn, index_t kn) const {
    index_t e = kn;
    if (kv_end) {
      const index_t x = kv_end[b * kv_end_batch_stride + (q_begin(b) + i) * kv_end_token_stride];
      e = x < e ? x : e;
    }
    if (causal) {
      const index_t c = i + kn - qn + 1;
      e = c < e ? c : e;
    }
    return e < 0 ? 0 : e;
  }
};

}  // namespace fusekit
