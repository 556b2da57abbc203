#include "cscrub/discover/edge_attribution.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <map>
#include <numeric>

#include "cscrub/engine/backward.hpp"
#include "cscrub/engine/components.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/row_products.hpp"
#include "cscrub/error.hpp"
#include "cscrub/suggest.hpp"

namespace cscrub::discover {
namespace {

using engine::RowMatrix;

// Batches of pairs of one length each (EAP needs equal lengths, not equal named positions), lengths in order of
// first appearance and pairs in dataset order within a length: the order every pair's scores are summed in.
std::vector<Batch> batches_by_length(const data::Dataset& dataset, int max_batch) {
  std::vector<size_t> order;
  std::map<size_t, std::vector<int>> members;
  for (size_t i = 0; i < dataset.examples.size(); ++i) {
    auto& list = members[dataset.examples[i].tokens.size()];
    if (list.empty()) order.push_back(dataset.examples[i].tokens.size());
    list.push_back(static_cast<int>(i));
  }
  std::vector<Batch> batches;
  for (const size_t length : order) {
    const std::vector<int>& list = members[length];
    for (size_t start = 0; start < list.size(); start += static_cast<size_t>(max_batch)) {
      Batch batch;
      batch.examples.assign(list.begin() + static_cast<std::ptrdiff_t>(start),
                            list.begin() + static_cast<std::ptrdiff_t>(std::min(list.size(), start + max_batch)));
      batch.positions = static_cast<int>(length);
      batches.push_back(std::move(batch));
    }
  }
  return batches;
}

// What the sources write in one batch's clean and corrupted runs, and their differences.
struct SourceActivations {
  SourceActivations(const engine::ModelConfig& config, int sources, int rows)
      : delta(static_cast<Eigen::Index>(sources) * rows, config.d_model),
        z(static_cast<Eigen::Index>(config.n_layer) * rows, config.d_model),
        clean_embed(rows, config.d_model),
        corrupted_embed(rows, config.d_model),
        rows(rows) {}
  auto block(int source) { return delta.middleRows(static_cast<Eigen::Index>(source) * rows, rows); }

  RowMatrix delta;  // [sources * rows, d_model]: block s is Δ of source s (graph order), once both runs are in
  RowMatrix z;      // [layers * rows, d_model]: each layer's z in the first run, then the corrupted minus clean z
  RowMatrix clean_embed, corrupted_embed;
  Eigen::Index rows;
};

// Records the sources' activations during a run: the token embeddings, each layer's z (the heads' outputs are
// z_h W_O[h]: their difference is the difference of z through W_O) and each MLP's output. The first run's are
// stored; the second run's turn them into corrupted minus clean.
class SourceRecorder : public engine::Interventions {
 public:
  SourceRecorder(const EdgeGraph& graph, SourceActivations& into, bool corrupted, bool second)
      : graph_(graph), into_(into), corrupted_(corrupted), second_(second) {}

  bool wants(engine::HookPoint hook) const override {
    return hook.site == engine::Site::embed || hook.site == engine::Site::attn_z || hook.site == engine::Site::mlp_out;
  }
  void visit(const engine::Activation& activation) override {
    const auto rows = into_.rows, width = into_.delta.cols();
    const engine::ConstRowMatrixMap values(activation.data.data(), rows, width);
    const int layer = activation.hook.layer;
    switch (activation.hook.site) {
      case engine::Site::embed: (corrupted_ ? into_.corrupted_embed : into_.clean_embed) = values; return;
      case engine::Site::attn_z: combine(into_.z.middleRows(static_cast<Eigen::Index>(layer) * rows, rows), values); return;
      case engine::Site::mlp_out:
        combine(into_.block(graph_.index_of(Source{Source::Kind::mlp, layer, -1})), values);
        return;
      default: return;
    }
  }

 private:
  template <typename Stored>
  void combine(Stored stored, const engine::ConstRowMatrixMap& values) const {
    if (!second_) stored = values;
    else if (corrupted_) stored = values - stored;
    else stored = stored - values;
  }

  const EdgeGraph& graph_;
  SourceActivations& into_;
  bool corrupted_, second_;
};

// Δ of the input (corrupted minus clean token embeddings) and of every head (Δz_h W_O[h]), once both runs are in.
void finish_differences(const engine::Weights& weights, const EdgeGraph& graph, SourceActivations& sources) {
  const engine::ModelConfig& config = weights.config;
  const auto rows = sources.rows;
  sources.block(0) = sources.corrupted_embed - sources.clean_embed;
  const int d_head = config.d_head();
  for (int layer = 0; layer < config.n_layer; ++layer)
    for (int head = 0; head < config.n_head; ++head) {
      const RowMatrix z_difference =
          sources.z.block(static_cast<Eigen::Index>(layer) * rows, static_cast<Eigen::Index>(head) * d_head, rows, d_head);
      sources.block(graph.index_of(Source{Source::Kind::head, layer, head})) =
          engine::head_output_from_z(weights, layer, head, z_difference);
    }
}

// Token embeddings corrupted + alpha (clean − corrupted): EAP-IG's interpolated input.
class InterpolatedEmbedding : public engine::Interventions {
 public:
  InterpolatedEmbedding(const SourceActivations& sources, float alpha) : sources_(sources), alpha_(alpha) {}
  bool wants(engine::HookPoint hook) const override { return hook.site == engine::Site::embed; }
  void visit(const engine::Activation& activation) override {
    engine::RowMatrixMap embed(activation.data.data(), sources_.rows, sources_.clean_embed.cols());
    embed = sources_.corrupted_embed + alpha_ * (sources_.clean_embed - sources_.corrupted_embed);
  }

 private:
  const SourceActivations& sources_;
  float alpha_;
};

// Contracts each layer's destination gradients with the activation differences of the sources they read, pair
// by pair (Σ over the pair's positions and d_model), into each pair's score sums: [pair][source][destination].
class EdgeContraction : public engine::DestinationGradients {
 public:
  EdgeContraction(const EdgeGraph& graph, const SourceActivations& sources, int batch, int positions)
      : graph_(graph), sources_(sources), batch_(batch), positions_(positions),
        sums_(static_cast<size_t>(batch) * graph.source_count() * graph.destination_count(), 0.0),
        scratch_(static_cast<size_t>(omp_get_max_threads())) {}

  void final_residual(const RowMatrix& gradient) override {
    contract(graph_.destination_count() - 1, 1, graph_.source_count(), gradient);
  }
  void layer_inputs(int layer, const RowMatrix& gradients) override {
    const int first = graph_.index_of(Destination{Port::q, layer, 0});
    const int mlp = graph_.index_of(Destination{Port::mlp, layer, -1});
    contract(first, mlp - first + 1, graph_.readable_sources(mlp), gradients);
  }
  // Pair b's sum for source s and destination d.
  double sum(int pair, int source, int destination) const {
    return sums_[(static_cast<size_t>(pair) * graph_.source_count() + source) * graph_.destination_count() + destination];
  }

 private:
  // Destinations [first, first + count), whose gradients are the consecutive [rows, d_model] blocks of
  // `gradients`, against sources [0, sources). Sources a destination does not read (a head's own layer) are
  // contracted along and never read back.
  void contract(int first, int count, int sources, const RowMatrix& gradients) {
    const Eigen::Index rows = sources_.rows, width = sources_.delta.cols();
    const Eigen::Index pair_length = static_cast<Eigen::Index>(positions_) * width;
    const Eigen::OuterStride<> block_stride(rows * width);
    // Below ~2M multiply-adds a parallel region costs more than it saves (and on a busy machine a thread can
    // wait a whole time slice for a descheduled partner).
    const double work = static_cast<double>(batch_) * sources * count * static_cast<double>(pair_length);
#pragma omp parallel if (work >= (1 << 21))
    {
      RowMatrix products(sources, count);
      engine::RowProductsScratch& scratch = scratch_[static_cast<size_t>(omp_get_thread_num())];
#pragma omp for schedule(static)
      for (int pair = 0; pair < batch_; ++pair) {
        const Eigen::Index offset = static_cast<Eigen::Index>(pair) * pair_length;
        engine::row_products(engine::ConstRowsMap(sources_.delta.data() + offset, sources, pair_length, block_stride),
                             engine::ConstRowsMap(gradients.data() + offset, count, pair_length, block_stride),
                             products, scratch);
        for (int s = 0; s < sources; ++s)
          for (int d = 0; d < count; ++d)
            sums_[(static_cast<size_t>(pair) * graph_.source_count() + s) * graph_.destination_count() + first + d] +=
                products(s, d);
      }
    }
  }

  const EdgeGraph& graph_;
  const SourceActivations& sources_;
  int batch_, positions_;
  std::vector<double> sums_;
  std::vector<engine::RowProductsScratch> scratch_;  // per thread
};

struct Pass {
  std::vector<double> values;  // the metric per pair of the batch
  RowMatrix logits;
};

}  // namespace

std::string to_string(EdgeMethod method) { return method == EdgeMethod::eap ? "eap" : "eap-ig"; }

EdgeMethod parse_edge_method(const std::string& name) {
  if (name == "eap") return EdgeMethod::eap;
  if (name == "eap-ig") return EdgeMethod::eap_ig;
  throw Error("unknown attribution method '" + name + "'" + did_you_mean(name, {"eap", "eap-ig"}), "eap or eap-ig");
}

namespace {

// What one thread keeps from slice to slice: the passes' buffers, reused while the slice's shape holds.
struct Worker {
  engine::ForwardScratch forward;
  engine::BackwardScratch backward;
  engine::BackwardTape tape;
  std::unique_ptr<SourceActivations> sources;
};

// One slice's results: per pair (in the slice's order) the metric on the clean and corrupted prompts, and the
// score sums [pair][source][destination] over the steps.
struct SliceResult {
  std::vector<double> clean_values, corrupted_values;
  std::unique_ptr<EdgeContraction> contraction;
};

// EAP or EAP-IG on the pairs of `slice` (one length): the runs, the differences, the backwards contracted.
// `advance` is called after each pass.
SliceResult run_slice(const engine::Weights& weights, const PairedDataset& pairs, const EdgeGraph& graph,
                      const EdgeAttributionSettings& settings, const Batch& slice, Worker& worker,
                      const std::function<void()>& advance) {
  const engine::ModelConfig& config = weights.config;
  const data::Dataset& labels = pairs.clean;
  const bool integrated = settings.method == EdgeMethod::eap_ig;
  const int size = static_cast<int>(slice.examples.size()), rows = size * slice.positions;
  const std::vector<int32_t> clean_tokens = batch_tokens(labels, slice);
  const std::vector<int32_t> corrupted_tokens = batch_tokens(pairs.corrupted, slice);
  const engine::TokenBatch clean_batch{clean_tokens, size, slice.positions};
  const engine::TokenBatch corrupted_batch{corrupted_tokens, size, slice.positions};
  const engine::LogitRequest request = metric_logits(settings.metric, labels, slice);
  if (!worker.sources || worker.sources->rows != rows)
    worker.sources = std::make_unique<SourceActivations>(config, graph.source_count(), rows);
  SourceActivations& sources = *worker.sources;
  SliceResult result;
  result.contraction = std::make_unique<EdgeContraction>(graph, sources, size, slice.positions);
  RowMatrix clean_logits, logits, logit_gradient;

  // The metric of a taped run and its gradient, then the backward with every destination contracted.
  auto backward_from = [&](const RowMatrix& run_logits, const std::string& run) {
    metric_values(settings.metric, labels, slice, request, run_logits, &clean_logits, &logit_gradient, run);
    engine::backward(weights, worker.tape, request, logit_gradient, nullptr, result.contraction.get(), &worker.backward);
    advance();
  };
  auto values = [&](const RowMatrix& run_logits, const std::string& run) {
    return metric_values(settings.metric, labels, slice, request, run_logits, &clean_logits, nullptr, run);
  };
  if (!integrated) {
    // EAP: the corrupted run records, the clean run (the gradient's) finishes the differences.
    SourceRecorder corrupted_recorder(graph, sources, /*corrupted=*/true, /*second=*/false);
    engine::forward_into(weights, corrupted_batch, request, logits, &corrupted_recorder, &worker.forward);
    advance();
    SourceRecorder clean_recorder(graph, sources, /*corrupted=*/false, /*second=*/true);
    engine::forward_for_backward(weights, clean_batch, request, clean_logits, worker.tape, &clean_recorder,
                                 &worker.forward);
    advance();
    finish_differences(weights, graph, sources);
    result.clean_values = values(clean_logits, "the clean run");
    result.corrupted_values = values(logits, "the corrupted run");
    backward_from(clean_logits, "the clean run");
    return result;
  }
  // EAP-IG: the clean run records; step 0 is the corrupted run itself (its embeddings are the corrupted ones).
  SourceRecorder clean_recorder(graph, sources, /*corrupted=*/false, /*second=*/false);
  engine::forward_into(weights, clean_batch, request, clean_logits, &clean_recorder, &worker.forward);
  advance();
  result.clean_values = values(clean_logits, "the clean run");
  SourceRecorder corrupted_recorder(graph, sources, /*corrupted=*/true, /*second=*/true);
  engine::forward_for_backward(weights, corrupted_batch, request, logits, worker.tape, &corrupted_recorder,
                               &worker.forward);
  advance();
  finish_differences(weights, graph, sources);
  result.corrupted_values = values(logits, "the corrupted run");
  backward_from(logits, "the corrupted run");
  for (int step = 1; step < settings.steps; ++step) {
    InterpolatedEmbedding interpolated(sources, static_cast<float>(step) / static_cast<float>(settings.steps));
    engine::forward_for_backward(weights, clean_batch, request, logits, worker.tape, &interpolated, &worker.forward);
    advance();
    backward_from(logits, "interpolation step " + std::to_string(step));
  }
  return result;
}

// A batch cut into `count` consecutive slices of (nearly) equal size.
std::vector<Batch> slices_of(const Batch& batch, int count) {
  std::vector<Batch> slices;
  const auto size = static_cast<int>(batch.examples.size());
  for (int t = 0; t < count; ++t) {
    Batch slice = batch;
    slice.examples.assign(batch.examples.begin() + size * t / count, batch.examples.begin() + size * (t + 1) / count);
    slices.push_back(std::move(slice));
  }
  return slices;
}

}  // namespace

namespace {

// The pairs in the order their scores are summed in (batches_by_length's), as units: unit i is order[i].
std::vector<int> pair_order(const data::Dataset& labels) {
  std::vector<int> order;
  for (const Batch& batch : batches_by_length(labels, std::max<int>(1, static_cast<int>(labels.examples.size()))))
    order.insert(order.end(), batch.examples.begin(), batch.examples.end());
  return order;
}

// Units [begin, end) of `order` in batches of at most `max_batch` pairs of one length.
std::vector<Batch> batches_of_units(const data::Dataset& labels, const std::vector<int>& order, int begin, int end,
                                    int max_batch) {
  std::vector<Batch> batches;
  for (int unit = begin; unit < end; ++unit) {
    const int pair = order[static_cast<size_t>(unit)];
    const int length = static_cast<int>(labels.examples[static_cast<size_t>(pair)].tokens.size());
    if (batches.empty() || batches.back().positions != length ||
        static_cast<int>(batches.back().examples.size()) >= max_batch)
      batches.push_back(Batch{.examples = {}, .positions = length, .named_positions = {}});
    batches.back().examples.push_back(pair);
  }
  return batches;
}

// One pair's results, handed over in unit order: its metric on the clean and corrupted prompts, and its score
// sums over the steps for source s and destination d at sums(s, d).
using PairSums = std::function<double(int source, int destination)>;
using TakePair = std::function<void(double clean, double corrupted, const PairSums& sums)>;

// EAP or EAP-IG on `batches`, every pair's results to `take` in batch order, pair by pair.
void attribute_batches(const engine::Weights& weights, const PairedDataset& pairs, const EdgeGraph& graph,
                       const EdgeAttributionSettings& settings, const std::vector<Batch>& batches,
                       const Progress& progress, const TakePair& take) {
  const bool integrated = settings.method == EdgeMethod::eap_ig;
  const int steps = integrated ? settings.steps : 1;
  const int passes = 2 + (integrated ? steps - 1 : 0);  // forward passes; plus `steps` backwards
  const int total_work = static_cast<int>(batches.size()) * (passes + steps);
  int done = 0;
  auto advance = [&] {
    if (progress) progress(++done, total_work);
  };
  const std::function<void()> no_progress = [] {};

  // The pairs of a batch run in one slice per thread, each thread's passes on one core: threads meet once per
  // batch instead of at every product, layer norm and attention of every pass (on a busy machine each meeting
  // can wait a whole time slice for a descheduled partner). A batch of one pair runs the passes' own threads.
  const int threads = omp_get_max_threads();
  std::vector<Worker> workers(static_cast<size_t>(threads));
  for (const Batch& batch : batches) {
    const int count = std::min(threads, static_cast<int>(batch.examples.size()));
    const std::vector<Batch> slices = slices_of(batch, count);
    std::vector<SliceResult> results(slices.size());
    std::vector<std::exception_ptr> failures(slices.size());
#pragma omp parallel num_threads(count) if (count > 1)
    {
      const int t = omp_get_thread_num();
      try {
        // The first thread reports progress for all: the slices run in step.
        results[static_cast<size_t>(t)] = run_slice(weights, pairs, graph, settings, slices[static_cast<size_t>(t)],
                                                    workers[static_cast<size_t>(t)], t == 0 ? advance : no_progress);
      } catch (...) {
        failures[static_cast<size_t>(t)] = std::current_exception();
      }
    }
    for (const std::exception_ptr& failure : failures)
      if (failure) std::rethrow_exception(failure);
    // In pair order: slice by slice, pair by pair.
    for (const SliceResult& slice : results)
      for (size_t pair = 0; pair < slice.clean_values.size(); ++pair)
        take(slice.clean_values[pair], slice.corrupted_values[pair], [&](int source, int destination) {
          return slice.contraction->sum(static_cast<int>(pair), source, destination);
        });
  }
}

}  // namespace

EdgeAttribution attribute_edges(const engine::Weights& weights, const PairedDataset& pairs,
                                const EdgeAttributionSettings& settings, const Progress& progress) {
  const EdgeAttributionUnits units(weights.config, pairs, settings);
  EdgeAttributionSum sum(units);
  const EdgeGraph& graph = sum.graph();
  const std::vector<Batch> batches =
      batches_of_units(pairs.clean, units.order(), 0, units.count(), settings.batch_size);
  attribute_batches(weights, pairs, graph, settings, batches, progress,
                    [&](double clean, double corrupted, const PairSums& sums) {
                      sum.add_pair(clean, corrupted, [&](const Edge& edge) { return sums(edge.source, edge.destination); });
                    });
  return sum.result();
}

EdgeAttributionUnits::EdgeAttributionUnits(const engine::ModelConfig& config, const PairedDataset& pairs,
                                           const EdgeAttributionSettings& settings)
    : config_(config), pairs_(pairs), settings_(settings) {
  if (settings.steps < 1) throw Error("--steps must be at least 1 (got " + std::to_string(settings.steps) + ")");
  if (settings.batch_size < 1) throw Error("the batch size must be positive");
  check_pairs(pairs);
  order_ = pair_order(pairs.clean);
}

std::string EdgeAttributionUnits::attribute(const engine::Weights& weights, int begin, int end,
                                            const Progress& progress) const {
  const EdgeGraph graph(graph_shape(config_));
  std::string bytes;
  const auto put = [&](double value) { bytes.append(reinterpret_cast<const char*>(&value), sizeof value); };
  attribute_batches(weights, pairs_, graph, settings_, batches_of_units(pairs_.clean, order_, begin, end, settings_.batch_size),
                    progress, [&](double clean, double corrupted, const PairSums& sums) {
                      put(clean);
                      put(corrupted);
                      for (const Edge& edge : graph.edges()) put(sums(edge.source, edge.destination));
                    });
  return bytes;
}

uint64_t EdgeAttributionUnits::bytes_per_unit() const {
  return sizeof(double) * (2 + static_cast<uint64_t>(EdgeGraph(graph_shape(config_)).edges().size()));
}

EdgeAttributionSum::EdgeAttributionSum(const EdgeAttributionUnits& units)
    : units_(units),
      result_{.graph = ScoredGraph(EdgeGraph(graph_shape(units.config()))),
              .clean_metric = 0,
              .corrupted_metric = 0,
              .pairs = 0,
              .forward_passes = 0,
              .backward_passes = 0},
      totals_(result_.graph.graph.edges().size(), 0.0) {}

void EdgeAttributionSum::add_pair(double clean, double corrupted, const std::function<double(const Edge&)>& sum) {
  clean_sum_ += clean;
  corrupted_sum_ += corrupted;
  const std::vector<Edge>& edges = result_.graph.graph.edges();
  for (size_t e = 0; e < edges.size(); ++e) totals_[e] += sum(edges[e]);
  ++added_;
}

void EdgeAttributionSum::add(std::string_view units) {
  const size_t edges = totals_.size(), unit_bytes = sizeof(double) * (2 + edges);
  if (units.size() % unit_bytes != 0) throw Error("the edge scores of the units are cut short (an internal error)");
  for (size_t at = 0; at < units.size(); at += unit_bytes) {
    const auto value = [&](size_t index) {
      double number;
      std::memcpy(&number, units.data() + at + index * sizeof(double), sizeof number);
      return number;
    };
    size_t e = 0;
    add_pair(value(0), value(1), [&](const Edge&) { return value(2 + e++); });
  }
}

EdgeAttribution EdgeAttributionSum::result() const {
  const int count_pairs = units_.count();
  if (added_ != count_pairs)
    throw Error("edge scores of " + std::to_string(added_) + " pairs of " + std::to_string(count_pairs) +
                " arrived (an internal error)");
  const EdgeAttributionSettings& settings = units_.settings();
  const bool integrated = settings.method == EdgeMethod::eap_ig;
  const int steps = integrated ? settings.steps : 1;
  EdgeAttribution result = result_;
  const double count = static_cast<double>(count_pairs);
  for (size_t e = 0; e < totals_.size(); ++e) result.graph.scores[e] = totals_[e] / count / static_cast<double>(steps);
  result.clean_metric = clean_sum_ / count;
  result.corrupted_metric = corrupted_sum_ / count;
  result.pairs = count_pairs;
  result.forward_passes = 2 + (integrated ? steps - 1 : 0);
  result.backward_passes = steps;
  return result;
}

EdgeAttributionMemory estimate_edge_attribution_memory(const engine::ModelConfig& config, engine::MatmulKernel kernel,
                                                       int batch, int positions, Metric metric) {
  const EdgeGraph graph(graph_shape(config));
  const uint64_t rows = static_cast<uint64_t>(batch) * positions, width = config.d_model;
  const int threads = omp_get_max_threads();
  EdgeAttributionMemory memory;
  // Δ of every source, the layers' z, and both runs' embeddings.
  memory.activation_differences =
      sizeof(float) * rows * width * (static_cast<uint64_t>(graph.source_count()) + config.n_layer + 2);
  memory.tape = engine::backward_tape_bytes(config, static_cast<int>(rows));
  memory.backward = engine::backward_workspace_bytes(config, kernel, static_cast<int>(rows), threads, true);
  // The forward's buffers and packing; the logits of the clean run, the current run and their gradient.
  const uint64_t logit_columns = metric == Metric::logit_diff ? 2 * static_cast<uint64_t>(batch) : config.vocab_size;
  memory.forward = sizeof(float) * rows * (8 * width + config.d_mlp) +
                   engine::forward_packing_bytes(config, kernel, static_cast<int>(rows), threads) +
                   3 * sizeof(float) * static_cast<uint64_t>(batch) * logit_columns;
  memory.scores = sizeof(double) * static_cast<uint64_t>(batch + 1) * graph.source_count() * graph.destination_count();
  return memory;
}

}  // namespace cscrub::discover
