#pragma once
// Shared by katago-eval and katago-bench: command-line helpers, the default network, and a few built-in
// example positions featurised like KataGo's fillRowV7 for the planes that matter on a quiet board
// (on-board mask, own/opponent stones, groups with 1/2/3 liberties) and komi from the mover's view.
#include <array>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <fusekit/katago/evaluator.hpp>
#include <fusekit/katago/model_reader.hpp>
#include <fusekit/katago/random_model.hpp>

#include "args.hpp"

namespace fusekit::examples {

inline katago::ModelDesc load_or_default(const std::string& model, std::uint64_t seed) {
  if (!model.empty()) return katago::read_model(model);
  return katago::random_model("b18c384nbt", seed);
}

struct Position {
  const char* title;
  int size;
  float komi;
  bool white_to_move;
  std::vector<std::string> black, white;  // "D4", "Q16", ...
};

inline const std::vector<Position>& example_positions() {
  static const std::vector<Position> p = {
      {"empty 19x19, black to move, komi 7.5", 19, 7.5f, false, {}, {}},
      {"19x19 opening, white to move", 19, 7.5f, true, {"Q16", "D4", "R4"}, {"D16", "C17"}},
      {"19x19 contact fight, black to move", 19, 7.5f, false, {"D4", "E4", "D5", "Q16", "P4"}, {"E5", "F4", "C5", "Q4"}},
      {"9x9 middle game, white to move", 9, 7.0f, true, {"E5", "D4", "C6", "F3"}, {"F5", "E4", "D6", "G4"}},
  };
  return p;
}

// "Q16" on an n x n board -> (row from the top, column); the column letters skip I, as Go software does.
inline std::pair<int, int> parse_point(const std::string& s, int n) {
  static const std::string cols = "ABCDEFGHJKLMNOPQRST";
  const auto c = cols.find(s.at(0));
  const int row = std::stoi(s.substr(1));
  FUSEKIT_CHECK(c != std::string::npos && static_cast<int>(c) < n && row >= 1 && row <= n, "bad point '{}' on {}x{}", s, n, n);
  return {n - row, static_cast<int>(c)};
}
inline std::string point_name(int y, int x, int n) {
  static const std::string cols = "ABCDEFGHJKLMNOPQRST";
  return cols.substr(static_cast<std::size_t>(x), 1) + std::to_string(n - y);
}

// Spatial [N, 22, H, W] and global [N, 19] inputs for positions (the board in the top-left corner).
inline std::pair<HostTensor<float, 4>, HostTensor<float, 2>> featurize(const std::vector<Position>& ps, index_t H, index_t W) {
  const index_t n = static_cast<index_t>(ps.size());
  HostTensor<float, 4> s({n, 22, H, W});
  HostTensor<float, 2> g({n, 19});
  std::fill(s.data(), s.data() + s.numel(), 0.f);
  std::fill(g.data(), g.data() + g.numel(), 0.f);
  for (index_t b = 0; b < n; ++b) {
    const Position& p = ps[static_cast<std::size_t>(b)];
    FUSEKIT_CHECK(p.size <= H && p.size <= W, "position '{}' is {}x{}, the tensor {}x{}", p.title, p.size, p.size, H, W);
    std::vector<int> board(static_cast<std::size_t>(p.size * p.size), 0);  // 1 black, 2 white
    for (const auto& m : p.black) board[parse_point(m, p.size).first * p.size + parse_point(m, p.size).second] = 1;
    for (const auto& m : p.white) board[parse_point(m, p.size).first * p.size + parse_point(m, p.size).second] = 2;
    const int own = p.white_to_move ? 2 : 1;
    // Liberties of each group by flood fill.
    std::vector<int> libs(board.size(), 0);
    for (int start = 0; start < p.size * p.size; ++start) {
      if (board[start] == 0 || libs[start] != 0) continue;
      std::vector<int> group{start}, seen(board.size(), 0), liberty(board.size(), 0);
      seen[start] = 1;
      int count = 0;
      for (std::size_t i = 0; i < group.size(); ++i) {
        const int y = group[i] / p.size, x = group[i] % p.size;
        const int nb[4][2] = {{y - 1, x}, {y + 1, x}, {y, x - 1}, {y, x + 1}};
        for (const auto& q : nb) {
          if (q[0] < 0 || q[1] < 0 || q[0] >= p.size || q[1] >= p.size) continue;
          const int j = q[0] * p.size + q[1];
          if (board[j] == 0 && !liberty[j]) liberty[j] = 1, ++count;
          if (board[j] == board[start] && !seen[j]) seen[j] = 1, group.push_back(j);
        }
      }
      for (int j : group) libs[j] = count;
    }
    for (int y = 0; y < p.size; ++y)
      for (int x = 0; x < p.size; ++x) {
        const int i = y * p.size + x;
        s(b, 0, y, x) = 1.f;
        if (board[i] == own) s(b, 1, y, x) = 1.f;
        if (board[i] != 0 && board[i] != own) s(b, 2, y, x) = 1.f;
        if (board[i] != 0 && libs[i] >= 1 && libs[i] <= 3) s(b, 2 + libs[i], y, x) = 1.f;
      }
    g(b, 5) = (p.white_to_move ? p.komi : -p.komi) / 20.f;
  }
  return {std::move(s), std::move(g)};
}

}  // namespace fusekit::examples

#include <fusekit/backend/cpu/context.hpp>
#if FUSEKIT_GPUCC
#include <fusekit/backend/hip.hpp>
#endif

namespace fusekit::examples {

// Calls fn(evaluator, label) with an Evaluator for device "cpu" or "gpu" and dtype "fp32" or "fp16".
template <class Fn>
void with_evaluator(const std::string& device, const std::string& dtype, const katago::ModelDesc& m,
                    const katago::NetworkOptions& opt, int threads, bool graph, Fn&& fn) {
  if (device == "cpu") {
    FUSEKIT_CHECK(dtype == "fp32", "the CPU backend computes in fp32 (got --dtype {})", dtype);
    cpu::Context ctx(threads);
    katago::Evaluator<cpu::Context, float> e(ctx, m, opt);
    fn(e, fmt::format("CPU fp32, {} threads", ctx.threads()));
    return;
  }
  FUSEKIT_CHECK(device == "gpu", "--device must be cpu or gpu (got {})", device);
#if FUSEKIT_GPUCC
  hip::Stream s;
  const std::string name = hip::Device::current().name;
  if (dtype == "fp16") {
    katago::Evaluator<hip::Stream, fusekit::half> e(s, m, opt, graph);
    fn(e, fmt::format("GPU fp16 ({})", name));
  } else {
    FUSEKIT_CHECK(dtype == "fp32", "--dtype must be fp32 or fp16 (got {})", dtype);
    katago::Evaluator<hip::Stream, float> e(s, m, opt, graph);
    fn(e, fmt::format("GPU fp32 ({})", name));
  }
#else
  (void)graph;
  fail("this build has no GPU backend: configure with -DFUSEKIT_GPU=NVIDIA or AMD for --device gpu");
#endif
}

}  // namespace fusekit::examples
