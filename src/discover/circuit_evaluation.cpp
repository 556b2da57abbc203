#include "cscrub/discover/circuit_evaluation.hpp"

#include <deque>
#include <numeric>

#include "cscrub/engine/components.hpp"
#include "cscrub/error.hpp"

namespace cscrub::discover {
namespace {

using engine::RowMatrix;

// How a destination's input is built from the streams and its edges.
struct InputRule {
  enum class Form { run, ablated, run_minus_missing, ablated_plus_present };
  Form form = Form::run;
  std::vector<int> terms;  // sources added (run_minus_missing: missing ones; ablated_plus_present: present ones)
};

std::vector<InputRule> input_rules(const EdgeGraph& graph, std::span<const uint8_t> in_circuit) {
  std::vector<InputRule> rules(static_cast<size_t>(graph.destination_count()));
  for (int d = 0; d < graph.destination_count(); ++d) {
    std::vector<int> present, missing;
    for (int s = 0; s < graph.readable_sources(d); ++s)
      (in_circuit[static_cast<size_t>(*graph.edge_index(s, d))] ? present : missing).push_back(s);
    InputRule& rule = rules[static_cast<size_t>(d)];
    if (missing.empty()) rule.form = InputRule::Form::run;
    else if (present.empty()) rule.form = InputRule::Form::ablated;
    else if (missing.size() <= present.size()) rule = {InputRule::Form::run_minus_missing, std::move(missing)};
    else rule = {InputRule::Form::ablated_plus_present, std::move(present)};
  }
  return rules;
}

// The layer of a destination (the logits: n_layer).
int layer_of(const EdgeGraph& graph, int destination) {
  const Destination d = graph.destination(destination);
  return d.port == Port::logits ? graph.shape().n_layers : d.layer;
}

}  // namespace

std::vector<double> evaluate_circuit(const engine::Weights& weights, const EdgeGraph& graph, const PairBatch& batch,
                                     const PairMetric& metric, std::span<const uint8_t> in_circuit) {
  if (in_circuit.size() != static_cast<size_t>(graph.edge_count()))
    throw Error("a circuit marks " + std::to_string(in_circuit.size()) + " edges of a graph of " +
                std::to_string(graph.edge_count()));
  const engine::ModelConfig& config = weights.config;
  const int layers = config.n_layer, heads = config.n_head, d_head = config.d_head();
  const std::vector<InputRule> rules = input_rules(graph, in_circuit);
  int first_layer = layers;
  std::vector<uint8_t> run_needed(static_cast<size_t>(graph.source_count()), 0);
  for (int d = 0; d < graph.destination_count(); ++d) {
    const InputRule& rule = rules[static_cast<size_t>(d)];
    if (rule.form != InputRule::Form::run) first_layer = std::min(first_layer, layer_of(graph, d));
    for (int s : rule.terms) run_needed[static_cast<size_t>(s)] = 1;
  }

  // This run's source outputs: below first_layer the clean ones (nothing there misses an edge).
  std::vector<const RowMatrix*> run_out(static_cast<size_t>(graph.source_count()));
  for (size_t s = 0; s < run_out.size(); ++s) run_out[s] = &batch.clean_out[s];
  std::vector<RowMatrix> recomputed(static_cast<size_t>(graph.source_count()));
  std::deque<RowMatrix> built;  // inputs built for the current layer (a deque: pointers to them stay valid)
  auto input_of = [&](int destination, const RowMatrix& run_stream, const RowMatrix& ablated_stream) -> const RowMatrix* {
    const InputRule& rule = rules[static_cast<size_t>(destination)];
    switch (rule.form) {
      case InputRule::Form::run: return &run_stream;
      case InputRule::Form::ablated: return &ablated_stream;
      case InputRule::Form::run_minus_missing: {
        RowMatrix input = run_stream;
        for (int s : rule.terms) input += batch.ablated_out[static_cast<size_t>(s)] - *run_out[static_cast<size_t>(s)];
        built.push_back(std::move(input));
        return &built.back();
      }
      case InputRule::Form::ablated_plus_present: {
        RowMatrix input = ablated_stream;
        for (int s : rule.terms) input += *run_out[static_cast<size_t>(s)] - batch.ablated_out[static_cast<size_t>(s)];
        built.push_back(std::move(input));
        return &built.back();
      }
    }
    return nullptr;
  };

  const engine::SuffixRows rows = batch.rows(batch.identity);
  RowMatrix stream = first_layer < layers ? batch.clean_pre[static_cast<size_t>(first_layer)] : batch.clean_final;
  for (int layer = first_layer; layer < layers; ++layer) {
    built.clear();
    // A parallel block's MLP reads the block's input (its graph has no edges from the same layer's heads).
    const RowMatrix block_input = config.parallel_attn_mlp ? stream : RowMatrix();
    RowMatrix z(rows.rows(), config.d_model);
    for (int head = 0; head < heads; ++head) {
      auto port_input = [&](Port port) {
        return input_of(graph.index_of(Destination{port, layer, head}), stream, batch.ablated_pre[static_cast<size_t>(layer)]);
      };
      const engine::HeadStreams streams{port_input(Port::q), port_input(Port::k), port_input(Port::v)};
      const RowMatrix head_z = engine::head_z(weights, layer, head, rows, streams);
      z.middleCols(static_cast<Eigen::Index>(head) * d_head, d_head) = head_z;
      const auto source = static_cast<size_t>(graph.index_of(Source{Source::Kind::head, layer, head}));
      if (run_needed[source]) {
        recomputed[source] = engine::head_output_from_z(weights, layer, head, head_z);
        run_out[source] = &recomputed[source];
      }
    }
    stream += engine::attention_output(weights, layer, z);
    built.clear();
    const RowMatrix* mlp_input =
        config.parallel_attn_mlp
            ? input_of(graph.index_of(Destination{Port::mlp, layer, -1}), block_input, batch.ablated_pre[static_cast<size_t>(layer)])
            : input_of(graph.index_of(Destination{Port::mlp, layer, -1}), stream, batch.ablated_mid[static_cast<size_t>(layer)]);
    const auto mlp = static_cast<size_t>(graph.index_of(Source{Source::Kind::mlp, layer, -1}));
    recomputed[mlp] = engine::mlp_output(weights, layer, *mlp_input);
    run_out[mlp] = &recomputed[mlp];
    stream += recomputed[mlp];
  }
  built.clear();
  const RowMatrix* final_input = input_of(graph.destination_count() - 1, stream, batch.ablated_final);
  return metric.evaluate(last_positions(*final_input, batch.length()), batch.identity);
}

struct CircuitEvaluator::Recorded {
  PairBatch batch;
  PairMetric metric;
};

CircuitEvaluator::CircuitEvaluator(const engine::Weights& weights, const EdgeGraph& graph, const PairedDataset& pairs,
                                   CircuitAblation ablation, Metric metric, int batch_size, bool resident)
    : weights_(weights),
      graph_(graph),
      pairs_(pairs),
      ablation_(ablation),
      metric_(metric),
      plans_(plan_pair_batches(pairs, batch_size, ablation)),
      resident_(resident) {
  if (graph.shape() != graph_shape(weights.config))
    throw Error("the circuit's graph is not this model's (" + std::to_string(graph.shape().n_layers) + " layers, " +
                std::to_string(graph.shape().n_heads) + " heads)");
  if (ablation == CircuitAblation::mean) means_ = source_means(weights, graph, pairs.corrupted, batch_size);
  clean_.assign(pairs.clean.examples.size(), 0.0);
  for_each_batch([&](const PairBatchPlan& plan, const Recorded& recorded) {
    for (size_t i = 0; i < plan.pairs.size(); ++i)
      clean_[static_cast<size_t>(plan.pairs[i])] = recorded.metric.clean()[i];
  });
}

CircuitEvaluator::~CircuitEvaluator() = default;

template <typename Visit>
void CircuitEvaluator::for_each_batch(Visit&& visit) {
  for (size_t b = 0; b < plans_.size(); ++b) {
    if (resident_ && b < recorded_.size()) {
      visit(plans_[b], *recorded_[b]);
      continue;
    }
    PairBatch batch = record_pair_batch(weights_, graph_, pairs_, plans_[b], ablation_, ablation_ == CircuitAblation::mean ? &means_ : nullptr);
    PairMetric metric(weights_, metric_, pairs_, batch);
    auto recorded = std::make_unique<Recorded>(Recorded{std::move(batch), std::move(metric)});
    visit(plans_[b], *recorded);
    if (resident_) recorded_.push_back(std::move(recorded));
  }
}

std::vector<std::vector<double>> CircuitEvaluator::per_pair(const std::vector<std::vector<uint8_t>>& circuits,
                                                            const Progress& progress) {
  std::vector<std::vector<double>> values(circuits.size(), std::vector<double>(clean_.size()));
  const int total = static_cast<int>(circuits.size() * plans_.size());
  int done = 0;
  for_each_batch([&](const PairBatchPlan& plan, const Recorded& recorded) {
    for (size_t c = 0; c < circuits.size(); ++c) {
      const std::vector<double> batch_values = evaluate_circuit(weights_, graph_, recorded.batch, recorded.metric, circuits[c]);
      for (size_t i = 0; i < plan.pairs.size(); ++i) values[c][static_cast<size_t>(plan.pairs[i])] = batch_values[i];
      if (progress) progress(++done, total);
    }
  });
  return values;
}

double CircuitEvaluator::mean(std::span<const uint8_t> in_circuit) {
  return mean_of(per_pair({std::vector<uint8_t>(in_circuit.begin(), in_circuit.end())}).front());
}

double CircuitEvaluator::clean_mean() const { return mean_of(clean_); }

uint64_t circuit_evaluation_bytes(const engine::ModelConfig& config, const PairedDataset& pairs,
                                  CircuitAblation ablation, Metric metric, int batch_size, bool resident) {
  const bool full_vocabulary = metric != Metric::logit_diff;
  const uint64_t d = static_cast<uint64_t>(config.d_model);
  const uint64_t sources = 1 + static_cast<uint64_t>(config.n_layer) * (static_cast<uint64_t>(config.n_head) + 1);
  uint64_t kept = 0, largest_kept = 0, transient = 0;
  for (const PairBatchPlan& plan : plan_pair_batches(pairs, batch_size, ablation)) {
    const int size = static_cast<int>(plan.pairs.size());
    const PairBatchMemory batch = pair_batch_memory(config, size, plan.positions, plan.start, full_vocabulary);
    kept += batch.kept;
    largest_kept = std::max(largest_kept, batch.kept);
    const uint64_t suffix_rows = static_cast<uint64_t>(size) * static_cast<uint64_t>(plan.positions - plan.start);
    // An evaluation: every source's recomputed output, the inputs built for one layer, the MLP's hidden layer, the
    // logits.
    const uint64_t evaluation =
        sizeof(float) * suffix_rows * (sources * d + (3 * static_cast<uint64_t>(config.n_head) + 4) * d +
                                       static_cast<uint64_t>(config.d_mlp)) +
        (full_vocabulary ? sizeof(float) * static_cast<uint64_t>(size) * static_cast<uint64_t>(config.vocab_size) : 0);
    transient = std::max({transient, batch.recording, evaluation});
  }
  // Mean ablation: one mean per source.
  const uint64_t means = ablation == CircuitAblation::mean ? sizeof(float) * sources * d : 0;
  return (resident ? kept : largest_kept) + transient + means;
}

double mean_of(const std::vector<double>& values) {
  if (values.empty()) return 0.0;
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

}  // namespace cscrub::discover
