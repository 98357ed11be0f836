#pragma once
// KataGo's post-processing of raw outputs (FORMAT.md 1.2, KataGo's NNEvaluator), for one position:
//   policy     softmax of the logits over the legal moves and pass (channel 0; illegal and off-board
//              moves get probability 0). Legal here: on the board, empty (input planes 1 and 2 are the
//              stones) and not banned by ko (plane 6).
//   value      softmax of (win, loss, no-result)
//   scores     scoreMean = raw0 * scoreMeanMult, scoreStdev = softplus(raw1) * scoreStdevMult,
//              lead = raw2 * leadMult, varTimeLeft = softplus(raw3) * varTimeMult, and from model
//              version 14 the short-term errors sqrt(softplus(raw / 2)^2 * mult) (0 before)
//   ownership  tanh(raw)
// Everything is from the side to move's view; KataGo's engine flips to White's view when Black moves.
#include <algorithm>
#include <cmath>
#include <vector>

#include "fusekit/katago/evaluator.hpp"
#include "fusekit/ops/activation_functors.hpp"

namespace fusekit::katago {

struct Evaluation {
  std::vector<float> policy;  // H * W move probabilities (row-major) followed by pass
  float win = 0, loss = 0, no_result = 0;
  float score_mean = 0, score_stdev = 0, lead = 0, var_time_left = 0, shortterm_winloss_error = 0, shortterm_score_error = 0;
  std::vector<float> ownership;  // H * W, in [-1, 1]
};

inline Evaluation postprocess(const Outputs& raw, const HostView<const float, 4>& spatial, index_t b, const ModelDesc& m) {
  const act::Softplus softplus;
  const index_t H = raw.policy.size(2), W = raw.policy.size(3), HW = H * W;
  FUSEKIT_CHECK(spatial.size(2) == H && spatial.size(3) == W && b < spatial.size(0) && b < raw.policy.size(0),
                "katago::postprocess: inputs {} do not match outputs {} (entry {})", spatial.shape(), raw.policy.shape(), b);
  Evaluation e;
  e.policy.assign(static_cast<std::size_t>(HW + 1), 0.f);
  std::vector<char> legal(static_cast<std::size_t>(HW + 1), 1);
  float top = raw.pass(b, 0);
  for (index_t i = 0; i < HW; ++i) {
    const index_t y = i / W, x = i % W;
    legal[i] = spatial(b, 0, y, x) != 0.f && spatial(b, 1, y, x) == 0.f && spatial(b, 2, y, x) == 0.f &&
               (spatial.size(1) <= 6 || spatial(b, 6, y, x) == 0.f);
    if (legal[i]) top = std::max(top, raw.policy(b, 0, y, x));
  }
  double sum = 0;
  for (index_t i = 0; i <= HW; ++i) {
    if (!legal[i]) continue;
    const float logit = i < HW ? raw.policy(b, 0, i / W, i % W) : raw.pass(b, 0);
    e.policy[i] = std::exp(logit - top);
    sum += e.policy[i];
  }
  for (float& p : e.policy) p = static_cast<float>(p / sum);
  const float v[3] = {raw.value(b, 0), raw.value(b, 1), raw.value(b, 2)};
  const float vm = std::max({v[0], v[1], v[2]});
  const float ew = std::exp(v[0] - vm), el = std::exp(v[1] - vm), en = std::exp(v[2] - vm);
  e.win = ew / (ew + el + en), e.loss = el / (ew + el + en), e.no_result = en / (ew + el + en);
  const PostProcess& k = m.post;
  const index_t S = raw.score.size(1);
  auto s = [&](index_t i) { return i < S ? raw.score(b, i) : 0.f; };
  e.score_mean = s(0) * k.score_mean;
  if (S > 1) e.score_stdev = softplus(s(1)) * k.score_stdev;
  e.lead = S > 2 ? s(2) * k.lead : e.score_mean;
  if (S > 3) e.var_time_left = softplus(s(3)) * k.var_time;
  if (S > 5 && m.version >= 14) {
    const float a = softplus(0.5f * s(4)), c = softplus(0.5f * s(5));
    e.shortterm_winloss_error = std::sqrt(a * a * k.shortterm_value_error);
    e.shortterm_score_error = std::sqrt(c * c * k.shortterm_score_error);
  }
  e.ownership.resize(static_cast<std::size_t>(HW));
  for (index_t i = 0; i < HW; ++i) e.ownership[i] = std::tanh(raw.ownership(b, 0, i / W, i % W));
  return e;
}

}  // namespace fusekit::katago
