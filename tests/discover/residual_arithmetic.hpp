// The slow, obvious route for checking the discover layer: one prompt at a time, the residual stream summed
// by hand from the model's components (engine::head_output, engine::mlp_output, engine::unembed, the
// embeddings read straight from the weights). It never calls engine::forward or any hook, so it shares with
// the code under test only the weights and the component kernels.
#pragma once
#include <functional>
#include <optional>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/engine/components.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::test {

using engine::RowMatrix;

// Everything one plain run of a prompt writes: resid[l] enters layer l (resid[n_layer] is the final stream),
// heads[l][h] is head h's output (without b_O), mlps[l] the MLP's output.
struct ResidualRun {
  std::vector<RowMatrix> resid;
  std::vector<std::vector<RowMatrix>> heads;
  std::vector<RowMatrix> mlps;
};

inline RowMatrix embeddings(const engine::Weights& weights, const std::vector<int32_t>& tokens) {
  RowMatrix rows(static_cast<Eigen::Index>(tokens.size()), weights.config.d_model);
  for (size_t p = 0; p < tokens.size(); ++p)
    rows.row(static_cast<Eigen::Index>(p)) =
        weights.token_embedding.row(tokens[p]) + weights.position_embedding.row(static_cast<Eigen::Index>(p));
  return rows;
}

// How a hand-made run computes head h of layer l: given the residual stream entering the layer, its output.
// Returning nullopt means "as the model would" (q, k and v all read from that stream).
using HeadRule = std::function<std::optional<RowMatrix>(int layer, int head, const RowMatrix& resid)>;

// Runs a prompt layer by layer; `rule` may replace any head's output. MLPs and layer norms are always
// recomputed from the stream as it is.
inline ResidualRun run_by_hand(const engine::Weights& weights, const std::vector<int32_t>& tokens,
                               const HeadRule& rule = {}) {
  const engine::ModelConfig& config = weights.config;
  const int positions = static_cast<int>(tokens.size());
  ResidualRun run;
  run.resid.push_back(embeddings(weights, tokens));
  for (int layer = 0; layer < config.n_layer; ++layer) {
    const RowMatrix& resid = run.resid.back();
    RowMatrix attention = RowMatrix::Zero(positions, config.d_model);
    run.heads.emplace_back();
    for (int head = 0; head < config.n_head; ++head) {
      std::optional<RowMatrix> replaced = rule ? rule(layer, head, resid) : std::nullopt;
      RowMatrix output = replaced ? *replaced : engine::head_output(weights, layer, head, 1, positions, resid, resid, resid);
      attention += output;
      run.heads.back().push_back(std::move(output));
    }
    attention.rowwise() += weights.layers[static_cast<size_t>(layer)].out_bias;
    const RowMatrix middle = resid + attention;
    run.mlps.push_back(engine::mlp_output(weights, layer, middle));
    run.resid.push_back(middle + run.mlps.back());
  }
  return run;
}

// logit(answer) - logit(distractor) read from the final stream of `run` at the last position.
inline double logit_diff(const engine::Weights& weights, const ResidualRun& run, const data::Example& example) {
  const RowMatrix& final_stream = run.resid.back();
  const RowMatrix last = final_stream.bottomRows(1);
  const std::vector<int32_t> ids{example.answer, example.distractor};
  const RowMatrix logits = engine::unembed(weights, last, ids);
  return static_cast<double>(logits(0, 0)) - static_cast<double>(logits(0, 1));
}

}  // namespace cscrub::test
