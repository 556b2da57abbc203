// The slow, literal route for checking edge-level methods: one prompt at a time, every position, each
// destination's input summed by hand from what each of its sources contributes (engine::head_output with
// three streams, engine::mlp_output, engine::unembed; embeddings read from the weights). It never calls
// engine::forward, a hook, a resumed pass or a QkvCache. Every family: position embeddings only where the model
// has them, and a parallel block's MLP reading the block's input (engine::head_output rotates and windows).
#pragma once
#include <functional>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/discover/edge_graph.hpp"
#include "cscrub/engine/components.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::test {

using engine::RowMatrix;

// A plain run of one prompt: every source's output, [positions, d_model] each (the input: token embeddings).
inline std::vector<RowMatrix> source_outputs_by_hand(const engine::Weights& weights, const discover::EdgeGraph& graph,
                                                     const std::vector<int32_t>& tokens) {
  const engine::ModelConfig& config = weights.config;
  const auto positions = static_cast<Eigen::Index>(tokens.size());
  std::vector<RowMatrix> outputs(static_cast<size_t>(graph.source_count()));
  RowMatrix token_part(positions, config.d_model), stream(positions, config.d_model);
  for (Eigen::Index p = 0; p < positions; ++p) {
    token_part.row(p) = weights.token_embedding.row(tokens[static_cast<size_t>(p)]);
    stream.row(p) = token_part.row(p);
    if (config.learned_positions) stream.row(p) += weights.position_embedding.row(p);
  }
  outputs[0] = token_part;
  for (int layer = 0; layer < config.n_layer; ++layer) {
    RowMatrix attention = RowMatrix::Zero(positions, config.d_model);
    for (int head = 0; head < config.n_head; ++head) {
      RowMatrix output = engine::head_output(weights, layer, head, 1, static_cast<int>(positions), stream, stream, stream);
      attention += output;
      outputs[static_cast<size_t>(graph.index_of(discover::Source{discover::Source::Kind::head, layer, head}))] = std::move(output);
    }
    attention.rowwise() += weights.layers[static_cast<size_t>(layer)].out_bias;
    const RowMatrix block_input = stream;
    stream += attention;
    RowMatrix mlp = engine::mlp_output(weights, layer, config.parallel_attn_mlp ? block_input : stream);
    stream += mlp;
    outputs[static_cast<size_t>(graph.index_of(discover::Source{discover::Source::Kind::mlp, layer, -1}))] = std::move(mlp);
  }
  return outputs;
}

// What source `source` contributes to destination `destination`'s input, given its output in this run.
using Contribution = std::function<RowMatrix(int source, int destination, const RowMatrix& run_output)>;

// logit(answer) - logit(distractor) at the last position of a run of `tokens` in which every destination reads
// the constants (position embeddings, the output biases of the attention layers before it) plus the sum over
// its sources of `contribution` (graph.readable_sources: a parallel block's MLP does not read its heads).
inline double logit_diff_by_hand(const engine::Weights& weights, const discover::EdgeGraph& graph,
                                 const std::vector<int32_t>& tokens, const data::Example& labels,
                                 const Contribution& contribution) {
  const engine::ModelConfig& config = weights.config;
  const auto positions = static_cast<Eigen::Index>(tokens.size());
  std::vector<RowMatrix> run(static_cast<size_t>(graph.source_count()));
  run[0] = RowMatrix(positions, config.d_model);
  for (Eigen::Index p = 0; p < positions; ++p) run[0].row(p) = weights.token_embedding.row(tokens[static_cast<size_t>(p)]);
  auto input_of = [&](int destination, int biases) {
    RowMatrix input = RowMatrix::Zero(positions, config.d_model);
    if (config.learned_positions)
      for (Eigen::Index p = 0; p < positions; ++p) input.row(p) = weights.position_embedding.row(p);
    for (int layer = 0; layer < biases; ++layer) input.rowwise() += weights.layers[static_cast<size_t>(layer)].out_bias;
    for (int source = 0; source < graph.readable_sources(destination); ++source)
      input += contribution(source, destination, run[static_cast<size_t>(source)]);
    return input;
  };
  for (int layer = 0; layer < config.n_layer; ++layer) {
    for (int head = 0; head < config.n_head; ++head) {
      auto port = [&](discover::Port p) { return input_of(graph.index_of(discover::Destination{p, layer, head}), layer); };
      const RowMatrix q = port(discover::Port::q), k = port(discover::Port::k), v = port(discover::Port::v);
      run[static_cast<size_t>(graph.index_of(discover::Source{discover::Source::Kind::head, layer, head}))] =
          engine::head_output(weights, layer, head, 1, static_cast<int>(positions), q, k, v);
    }
    const int mlp = graph.index_of(discover::Source{discover::Source::Kind::mlp, layer, -1});
    const int biases = config.parallel_attn_mlp ? layer : layer + 1;  // the attention layers before the MLP reads
    run[static_cast<size_t>(mlp)] =
        engine::mlp_output(weights, layer, input_of(graph.index_of(discover::Destination{discover::Port::mlp, layer, -1}), biases));
  }
  const RowMatrix final_stream = input_of(graph.destination_count() - 1, config.n_layer);
  const std::vector<int32_t> ids{labels.answer, labels.distractor};
  const RowMatrix logits = engine::unembed(weights, final_stream.bottomRows(1), ids);
  return static_cast<double>(logits(0, 0)) - static_cast<double>(logits(0, 1));
}

}  // namespace cscrub::test
