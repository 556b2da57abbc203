#include "cscrub/discover/pair_batch.hpp"

#include <map>
#include <set>

#include "cscrub/discover/batches.hpp"
#include "cscrub/engine/components.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/interventions.hpp"
#include "cscrub/error.hpp"

namespace cscrub::discover {
namespace {

using engine::RowMatrix;
using engine::RowVector;
using engine::Site;

// Rows [start, positions) of each of `sequences` sequences of a [sequences * positions, width] activation.
RowMatrix suffix_rows(const engine::StoredActivation& stored, int sequences, int positions, int start) {
  const auto rows = static_cast<Eigen::Index>(sequences) * positions;
  const engine::ConstRowMatrixMap full(stored.values.data(), rows, static_cast<Eigen::Index>(stored.values.size()) / rows);
  const int length = positions - start;
  RowMatrix suffix(static_cast<Eigen::Index>(sequences) * length, full.cols());
  for (int i = 0; i < sequences; ++i)
    suffix.middleRows(static_cast<Eigen::Index>(i) * length, length) =
        full.middleRows(static_cast<Eigen::Index>(i) * positions + start, length);
  return suffix;
}

std::vector<int32_t> tokens_of(const data::Dataset& dataset, const std::vector<int>& examples) {
  std::vector<int32_t> tokens;
  for (int index : examples) {
    const auto& example_tokens = dataset.examples[static_cast<size_t>(index)].tokens;
    tokens.insert(tokens.end(), example_tokens.begin(), example_tokens.end());
  }
  return tokens;
}

std::set<engine::HookPoint> recorded_hooks(int layers) {
  std::set<engine::HookPoint> hooks{{Site::embed, -1}, {Site::resid_post, layers - 1}};
  for (int layer = 0; layer < layers; ++layer)
    for (Site site : {Site::attn_z, Site::mlp_out, Site::resid_pre, Site::resid_mid}) hooks.insert({site, layer});
  return hooks;
}

// The source outputs of a run (the heads' from their z), at the suffix rows.
std::vector<RowMatrix> source_outputs(const engine::Weights& weights, const EdgeGraph& graph,
                                      const engine::ActivationCache& cache, int sequences, int positions, int start) {
  const engine::ModelConfig& config = weights.config;
  const int d_head = config.d_head();
  std::vector<RowMatrix> outputs(static_cast<size_t>(graph.source_count()));
  outputs[0] = suffix_rows(cache.at({Site::embed, -1}), sequences, positions, start);
  for (int layer = 0; layer < config.n_layer; ++layer) {
    const RowMatrix z = suffix_rows(cache.at({Site::attn_z, layer}), sequences, positions, start);
    for (int head = 0; head < config.n_head; ++head) {
      const RowMatrix head_z = z.middleCols(static_cast<Eigen::Index>(head) * d_head, d_head);
      outputs[static_cast<size_t>(graph.index_of(Source{Source::Kind::head, layer, head}))] =
          engine::head_output_from_z(weights, layer, head, head_z);
    }
    outputs[static_cast<size_t>(graph.index_of(Source{Source::Kind::mlp, layer, -1}))] =
        suffix_rows(cache.at({Site::mlp_out, layer}), sequences, positions, start);
  }
  return outputs;
}

}  // namespace

std::string to_string(CircuitAblation ablation) {
  return ablation == CircuitAblation::counterfactual ? "counterfactual" : "mean";
}

CircuitAblation parse_circuit_ablation(const std::string& text) {
  if (text == "counterfactual" || text == "patching") return CircuitAblation::counterfactual;
  if (text == "mean") return CircuitAblation::mean;
  throw Error("unknown ablation '" + text + "'",
              "counterfactual (an edge outside the circuit carries its parent's output on the corrupted prompt) or "
              "mean (its mean over the corrupted prompts)");
}

RowMatrix source_means(const engine::Weights& weights, const EdgeGraph& graph, const data::Dataset& dataset,
                       int batch_size) {
  const engine::ModelConfig& config = weights.config;
  Eigen::MatrixXd sums = Eigen::MatrixXd::Zero(graph.source_count(), config.d_model);
  double tokens = 0;
  std::set<engine::HookPoint> hooks{{Site::embed, -1}};
  for (int layer = 0; layer < config.n_layer; ++layer) {
    hooks.insert({Site::attn_z, layer});
    hooks.insert({Site::mlp_out, layer});
  }
  for (const Batch& batch : make_batches(dataset, batch_size)) {
    const std::vector<int32_t> batch_ids = batch_tokens(dataset, batch);
    const int sequences = static_cast<int>(batch.examples.size());
    engine::ActivationCache cache(hooks);
    engine::LogitRequest none;
    none.positions = engine::LogitRequest::Positions::none;
    (void)engine::forward(weights, {batch_ids, sequences, batch.positions}, none, &cache);
    const std::vector<RowMatrix> outputs = source_outputs(weights, graph, cache, sequences, batch.positions, 0);
    for (size_t s = 0; s < outputs.size(); ++s)
      for (Eigen::Index row = 0; row < outputs[s].rows(); ++row) sums.row(static_cast<Eigen::Index>(s)) += outputs[s].row(row).cast<double>();
    tokens += static_cast<double>(sequences) * batch.positions;
  }
  if (tokens == 0) throw Error("means over a dataset without prompts");
  return (sums / tokens).cast<float>();
}

std::vector<PairBatchPlan> plan_pair_batches(const PairedDataset& pairs, int max_batch, CircuitAblation ablation) {
  check_pairs(pairs);
  if (max_batch <= 0) throw Error("a batch of pairs must hold at least one pair");
  std::map<std::pair<int, int>, size_t> open;  // (length, start) -> the batch being filled
  std::vector<PairBatchPlan> plans;
  for (size_t i = 0; i < pairs.clean.examples.size(); ++i) {
    const auto& clean = pairs.clean.examples[i].tokens;
    const auto& corrupted = pairs.corrupted.examples[i].tokens;
    const int positions = static_cast<int>(clean.size());
    int start = 0;
    if (ablation == CircuitAblation::counterfactual) {
      while (start < positions && clean[static_cast<size_t>(start)] == corrupted[static_cast<size_t>(start)]) ++start;
      if (start == positions) start = positions - 1;
    }
    auto found = open.find({positions, start});
    if (found == open.end() || static_cast<int>(plans[found->second].pairs.size()) == max_batch) {
      plans.push_back({.pairs = {}, .positions = positions, .start = start});
      found = open.insert_or_assign({positions, start}, plans.size() - 1).first;
    }
    plans[found->second].pairs.push_back(static_cast<int>(i));
  }
  return plans;
}

engine::SuffixRows PairBatch::rows(std::span<const int> cache_sequence) const {
  return {.sequences = static_cast<int>(cache_sequence.size()), .positions = plan.positions, .start = plan.start,
          .cache_sequence = cache_sequence, .cache = &clean_qkv};
}

std::vector<int> repeated_pairs(int size, int copies) {
  std::vector<int> sequences(static_cast<size_t>(size) * copies);
  for (size_t i = 0; i < sequences.size(); ++i) sequences[i] = static_cast<int>(i % static_cast<size_t>(size));
  return sequences;
}

PairBatch record_pair_batch(const engine::Weights& weights, const EdgeGraph& graph, const PairedDataset& pairs,
                            const PairBatchPlan& plan, CircuitAblation ablation, const RowMatrix* means) {
  const engine::ModelConfig& config = weights.config;
  const int layers = config.n_layer, sequences = static_cast<int>(plan.pairs.size());
  const int positions = plan.positions, start = plan.start;
  PairBatch batch;
  batch.plan = plan;
  batch.identity = repeated_pairs(sequences, 1);
  engine::LogitRequest none;
  none.positions = engine::LogitRequest::Positions::none;

  // The runs record hooks that do not change the forward's arithmetic (no hook_result): their streams are the
  // plain forward's bit for bit.
  auto record = [&](const data::Dataset& dataset, engine::QkvRecorder* qkv, std::vector<RowMatrix>& outputs,
                    std::vector<RowMatrix>& pre, std::vector<RowMatrix>& mid, RowMatrix& final_stream) {
    const std::vector<int32_t> tokens = tokens_of(dataset, plan.pairs);
    engine::ActivationCache cache(recorded_hooks(layers));
    engine::InterventionChain chain;
    chain.add(cache);
    if (qkv != nullptr) chain.add(*qkv);
    (void)engine::forward(weights, {tokens, sequences, positions}, none, &chain);
    outputs = source_outputs(weights, graph, cache, sequences, positions, start);
    for (int layer = 0; layer < layers; ++layer) {
      pre.push_back(suffix_rows(cache.at({Site::resid_pre, layer}), sequences, positions, start));
      mid.push_back(suffix_rows(cache.at({Site::resid_mid, layer}), sequences, positions, start));
    }
    final_stream = suffix_rows(cache.at({Site::resid_post, layers - 1}), sequences, positions, start);
  };
  engine::QkvRecorder qkv(config, sequences, positions);
  record(pairs.clean, &qkv, batch.clean_out, batch.clean_pre, batch.clean_mid, batch.clean_final);
  batch.clean_qkv = qkv.take();
  if (ablation == CircuitAblation::counterfactual) {
    record(pairs.corrupted, nullptr, batch.ablated_out, batch.ablated_pre, batch.ablated_mid, batch.ablated_final);
    return batch;
  }

  if (means == nullptr || means->rows() != graph.source_count() || means->cols() != config.d_model)
    throw Error("mean ablation needs one mean output per source node");
  if (start != 0) throw Error("mean ablation changes every position: its batches start at 0");
  const Eigen::Index rows = static_cast<Eigen::Index>(sequences) * positions;
  for (int s = 0; s < graph.source_count(); ++s) batch.ablated_out.push_back(means->row(s).replicate(rows, 1));
  // The stream in which every source writes its mean: position embeddings (if the model has them), the
  // attention output biases and the means, added in the forward's order.
  RowMatrix stream(rows, config.d_model);
  for (Eigen::Index row = 0; row < rows; ++row)
    stream.row(row) = config.learned_positions ? RowVector(weights.position_embedding.row(row % positions) + means->row(0))
                                               : RowVector(means->row(0));
  for (int layer = 0; layer < layers; ++layer) {
    batch.ablated_pre.push_back(stream);
    RowMatrix attention = RowMatrix::Zero(1, config.d_model);
    for (int head = 0; head < config.n_head; ++head)
      attention += means->row(graph.index_of(Source{Source::Kind::head, layer, head}));
    attention += weights.layers[static_cast<size_t>(layer)].out_bias;
    stream.rowwise() += attention.row(0);
    batch.ablated_mid.push_back(stream);
    stream.rowwise() += means->row(graph.index_of(Source{Source::Kind::mlp, layer, -1}));
  }
  batch.ablated_final = std::move(stream);
  return batch;
}

RowMatrix last_positions(const RowMatrix& suffix, int length) {
  const Eigen::Index sequences = suffix.rows() / length;
  RowMatrix last(sequences, suffix.cols());
  for (Eigen::Index i = 0; i < sequences; ++i) last.row(i) = suffix.row(i * length + length - 1);
  return last;
}

}  // namespace cscrub::discover

namespace cscrub::discover {

PairBatchMemory pair_batch_memory(const engine::ModelConfig& config, int size, int positions, int start,
                                  bool full_vocabulary) {
  const uint64_t d = static_cast<uint64_t>(config.d_model), layers = static_cast<uint64_t>(config.n_layer);
  const uint64_t sources = 1 + layers * (static_cast<uint64_t>(config.n_head) + 1);
  const uint64_t all_rows = static_cast<uint64_t>(size) * static_cast<uint64_t>(positions);
  const uint64_t suffix_rows = static_cast<uint64_t>(size) * static_cast<uint64_t>(positions - start);
  PairBatchMemory memory;
  memory.kept = sizeof(float) * (layers * all_rows * 3 * d              // the clean q|k|v
                                 + 2 * sources * suffix_rows * d        // source outputs, clean and ablated
                                 + (4 * layers + 2) * suffix_rows * d)  // streams, clean and ablated
                + (full_vocabulary ? sizeof(float) * static_cast<uint64_t>(size) * static_cast<uint64_t>(config.vocab_size) : 0);
  // The recording pass: its hooks (embeddings, z, MLP outputs, two streams per layer), q|k|v, and the forward's
  // workspace (8 d_model + d_mlp floats per row).
  memory.recording = sizeof(float) * all_rows * ((4 * layers + 2) * d + layers * 3 * d + 8 * d +
                                                 static_cast<uint64_t>(config.d_mlp));
  return memory;
}

}  // namespace cscrub::discover
