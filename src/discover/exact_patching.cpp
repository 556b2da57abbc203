#include "cscrub/discover/exact_patching.hpp"

#include <algorithm>
#include <cmath>

#include "cscrub/discover/circuit_evaluation.hpp"
#include "cscrub/engine/components.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/error.hpp"

namespace cscrub::discover {
namespace {

using engine::RowMatrix;

// `copies` copies of `rows` ([size * length, width]) stacked, copy g plus `added(g)` when given.
template <typename Added>
RowMatrix repeated(const RowMatrix& rows, int copies, Added&& added) {
  RowMatrix stacked(rows.rows() * copies, rows.cols());
  for (int g = 0; g < copies; ++g) stacked.middleRows(g * rows.rows(), rows.rows()) = rows + added(g);
  return stacked;
}

// Where a patched run resumes after a change to a head of `layer`: before that layer's MLP, which reads the
// head, or at the next layer when the MLP runs beside the heads (parallel blocks).
engine::ResumePoint head_resume_point(const engine::ModelConfig& config, int layer) {
  if (config.parallel_attn_mlp) return {layer + 1, engine::ResumePoint::Stage::attention};
  return {layer, engine::ResumePoint::Stage::mlp};
}

// The parents of a child handled in one patched run: as many as fit in `max_rows` rows.
int parents_per_run(const PairBatch& batch, int max_rows) {
  return std::max(1, max_rows / std::max(1, batch.size() * batch.length()));
}

}  // namespace

std::vector<double> exact_edge_scores(const engine::Weights& weights, const EdgeGraph& graph,
                                      const PairedDataset& pairs, const ExactPatchingOptions& options,
                                      const Progress& progress) {
  const engine::ModelConfig& config = weights.config;
  if (graph.shape() != graph_shape(config)) throw Error("exact patching: the graph is not this model's");
  if (options.max_rows <= 0) throw Error("exact patching: max_rows must be positive");
  const std::vector<PairBatchPlan> plans = plan_pair_batches(pairs, options.batch_size, CircuitAblation::counterfactual);
  const int edges = graph.edge_count(), layers = config.n_layer;
  const bool parallel = config.parallel_attn_mlp;
  std::vector<uint8_t> scored(static_cast<size_t>(graph.destination_count()), options.destinations.empty() ? 1 : 0);
  int scored_edges = options.destinations.empty() ? edges : 0;
  for (int destination : options.destinations) {
    if (destination < 0 || destination >= graph.destination_count())
      throw Error("exact patching: destination " + std::to_string(destination) + " is not in the graph");
    if (!scored[static_cast<size_t>(destination)]) scored_edges += graph.readable_sources(destination);
    scored[static_cast<size_t>(destination)] = 1;
  }
  // Per edge, per pair (dataset order): the metric's change; summed in the pairs' order at the end, so the
  // scores do not depend on how pairs were batched.
  std::vector<std::vector<double>> changes(static_cast<size_t>(edges), std::vector<double>(pairs.clean.examples.size()));
  const int total = scored_edges * static_cast<int>(plans.size());
  int done = 0;
  engine::ForwardScratch scratch;

  for (const PairBatchPlan& plan : plans) {
    const PairBatch batch = record_pair_batch(weights, graph, pairs, plan, CircuitAblation::counterfactual, nullptr);
    const PairMetric metric(weights, options.metric, pairs, batch);
    const int size = batch.size(), length = batch.length();
    std::vector<RowMatrix> delta(static_cast<size_t>(graph.source_count()));
    for (size_t s = 0; s < delta.size(); ++s) delta[s] = batch.ablated_out[s] - batch.clean_out[s];
    const int chunk = parents_per_run(batch, options.max_rows);

    // Runs of the parents [first, first + count) of `destination`, copy g patched with parent first + g.
    auto record = [&](int destination, int first, int count, const std::vector<double>& values) {
      for (int g = 0; g < count; ++g) {
        auto& per_pair = changes[static_cast<size_t>(*graph.edge_index(first + g, destination))];
        for (int i = 0; i < size; ++i)
          per_pair[static_cast<size_t>(plan.pairs[static_cast<size_t>(i)])] =
              values[static_cast<size_t>(g * size + i)] - metric.clean()[static_cast<size_t>(i)];
      }
      done += count;
      if (progress) progress(done, total);
    };

    for (int destination = 0; destination < graph.destination_count(); ++destination) {
      if (!scored[static_cast<size_t>(destination)]) continue;
      const Destination child = graph.destination(destination);
      const int parents = graph.readable_sources(destination);
      for (int first = 0; first < parents; first += chunk) {
        const int count = std::min(chunk, parents - first);
        const std::vector<int> pair_of = repeated_pairs(size, count);
        auto parent_delta = [&](int g) -> const RowMatrix& { return delta[static_cast<size_t>(first + g)]; };
        RowMatrix final_rows;
        if (child.port == Port::logits) {
          // The final stream at the last positions, each copy plus its parent's change there.
          const RowMatrix clean_last = last_positions(batch.clean_final, length);
          final_rows = repeated(clean_last, count, [&](int g) { return last_positions(parent_delta(g), length); });
        } else if (child.port == Port::mlp) {
          const int layer = child.layer;
          const auto mlp = static_cast<size_t>(graph.index_of(Source{Source::Kind::mlp, layer, -1}));
          // A parallel block's MLP reads the block's input, beside its heads.
          const RowMatrix& read = parallel ? batch.clean_pre[static_cast<size_t>(layer)] : batch.clean_mid[static_cast<size_t>(layer)];
          const RowMatrix input = repeated(read, count, parent_delta);
          const RowMatrix changed = engine::mlp_output(weights, layer, input);
          const RowMatrix& after = layer + 1 < layers ? batch.clean_pre[static_cast<size_t>(layer + 1)] : batch.clean_final;
          const RowMatrix resumed = repeated(after, count, [&](int g) {
            return changed.middleRows(static_cast<Eigen::Index>(g) * size * length, static_cast<Eigen::Index>(size) * length) -
                   batch.clean_out[mlp];
          });
          engine::resume_forward(weights, {layer + 1, engine::ResumePoint::Stage::attention}, batch.rows(pair_of),
                                 resumed, final_rows, &scratch);
        } else {
          const int layer = child.layer, head = child.head;
          const auto source = static_cast<size_t>(graph.index_of(Source{Source::Kind::head, layer, head}));
          const RowMatrix input = repeated(batch.clean_pre[static_cast<size_t>(layer)], count, parent_delta);
          engine::HeadStreams streams;  // the other ports keep their clean (cached) values
          (child.port == Port::q ? streams.q : child.port == Port::k ? streams.k : streams.v) = &input;
          const engine::SuffixRows rows = batch.rows(pair_of);
          const RowMatrix changed = engine::head_output_from_z(weights, layer, head, engine::head_z(weights, layer, head, rows, streams));
          // The head's change enters before its layer's MLP, or, in a parallel block (whose MLP does not read
          // it), after the block.
          const engine::ResumePoint point = head_resume_point(config, layer);
          const RowMatrix& entered = !parallel ? batch.clean_mid[static_cast<size_t>(layer)]
                                     : layer + 1 < layers ? batch.clean_pre[static_cast<size_t>(layer + 1)]
                                                          : batch.clean_final;
          const RowMatrix resumed = repeated(entered, count, [&](int g) {
            return changed.middleRows(static_cast<Eigen::Index>(g) * size * length, static_cast<Eigen::Index>(size) * length) -
                   batch.clean_out[source];
          });
          engine::resume_forward(weights, point, rows, resumed, final_rows, &scratch);
        }
        record(destination, first, count, metric.evaluate(final_rows, pair_of));
      }
    }
  }
  std::vector<double> scores(static_cast<size_t>(edges));
  for (size_t e = 0; e < scores.size(); ++e)
    scores[e] = scored[static_cast<size_t>(graph.edges()[e].destination)] ? mean_of(changes[e]) : std::nan("");
  return scores;
}

}  // namespace cscrub::discover

namespace cscrub::discover {

ExactPatchingCost exact_patching_cost(const engine::ModelConfig& config, const EdgeGraph& graph,
                                      const PairedDataset& pairs, const ExactPatchingOptions& options) {
  const double d = config.d_model, d_head = config.d_head(), d_mlp = config.d_mlp;
  ExactPatchingCost cost;
  for (const PairBatchPlan& plan : plan_pair_batches(pairs, options.batch_size, CircuitAblation::counterfactual)) {
    const int size = static_cast<int>(plan.pairs.size()), length = plan.positions - plan.start;
    const double rows = static_cast<double>(size) * length;
    cost.exact_flops += 2 * engine::forward_flops(config, size, plan.positions, 0, 0);  // the recorded runs
    const std::vector<int> one_copy(static_cast<size_t>(size), 0);
    const engine::SuffixRows suffix{.sequences = size, .positions = plan.positions, .start = plan.start,
                                    .cache_sequence = one_copy, .cache = nullptr};
    for (int destination = 0; destination < graph.destination_count(); ++destination) {
      const Destination child = graph.destination(destination);
      const double parents = graph.readable_sources(destination);
      cost.naive_flops += parents * engine::forward_flops(config, size, plan.positions, size, 2);
      if (child.port == Port::logits) continue;
      double per_parent = 0;
      if (child.port == Port::mlp) {
        per_parent = rows * 2.0 * 2 * d * d_mlp +
                     engine::resume_flops(config, {child.layer + 1, engine::ResumePoint::Stage::attention}, suffix);
      } else {
        per_parent = rows * 2.0 * (d * d_head + d_head * d) + 2.0 * 2.0 * rows * (plan.positions + 1) / 2.0 * d_head +
                     engine::resume_flops(config, head_resume_point(config, child.layer), suffix);
      }
      cost.exact_flops += parents * per_parent;
    }
  }
  return cost;
}

}  // namespace cscrub::discover

namespace cscrub::discover {

uint64_t exact_patching_bytes(const engine::ModelConfig& config, const PairedDataset& pairs,
                              const ExactPatchingOptions& options) {
  const uint64_t d = static_cast<uint64_t>(config.d_model);
  const uint64_t sources = 1 + static_cast<uint64_t>(config.n_layer) * (static_cast<uint64_t>(config.n_head) + 1);
  const bool full_vocabulary = options.metric != Metric::logit_diff;
  uint64_t largest = 0;
  for (const PairBatchPlan& plan : plan_pair_batches(pairs, options.batch_size, CircuitAblation::counterfactual)) {
    const int size = static_cast<int>(plan.pairs.size());
    const PairBatchMemory batch = pair_batch_memory(config, size, plan.positions, plan.start, full_vocabulary);
    const uint64_t suffix_rows = static_cast<uint64_t>(size) * static_cast<uint64_t>(plan.positions - plan.start);
    const uint64_t run_rows = std::max<uint64_t>(static_cast<uint64_t>(options.max_rows), suffix_rows);
    // The parents' changes; a patched run's inputs and temporaries (~6 matrices of d_model per row), the resumed
    // workspace (8 d_model + d_mlp per row) and, for metrics over the vocabulary, its logits.
    const uint64_t patched = sizeof(float) * (sources * suffix_rows * d +
                                              run_rows * (14 * d + static_cast<uint64_t>(config.d_mlp)) +
                                              (full_vocabulary ? run_rows / std::max(1, plan.positions - plan.start) *
                                                                     static_cast<uint64_t>(config.vocab_size)
                                                               : 0));
    largest = std::max(largest, batch.kept + std::max(batch.recording, patched));
  }
  // The per-edge, per-pair changes, kept until the end.
  return largest + sizeof(double) * static_cast<uint64_t>(EdgeGraph(graph_shape(config)).edge_count()) *
                       pairs.clean.examples.size();
}

}  // namespace cscrub::discover
