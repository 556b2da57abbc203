#include "cscrub/scrub/experiment.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <map>
#include <optional>

#include "cscrub/engine/forward.hpp"
#include "cscrub/error.hpp"
#include "cscrub/graph/check_on_data.hpp"
#include "cscrub/scrub/memory.hpp"

namespace cscrub::scrub {
namespace {

// One run (the baseline or a hypothesis) over every seed: each reference's seed-averaged value, and the
// sum over references of each seed's values (added in batch order, which does not depend on the batch size).
struct RunValues {
  std::vector<double> per_reference;
  std::vector<double> seed_sums;
  std::vector<std::vector<double>> per_seed;  // [seed][reference]
};

// What scrubbing leaves once the clean cache is gone.
struct ScrubbedValues {
  std::vector<double> model;      // per reference
  std::vector<RunValues> runs;    // the baseline, then each hypothesis
  std::vector<ScrubCost> costs;
};

// One unit's values: the run's scrubbed values of the batch's references for each seed, the model's own (for
// the baseline's units, which compute them), and what its recomputation cost.
struct UnitValues {
  int unit = 0;
  std::vector<double> model;                   // per slot of the batch; empty but for the baseline's units
  std::vector<std::vector<double>> per_seed;   // [seed][slot of the batch]
  ScrubCost cost;
};

// Units as bytes: the numbers' own bits (the ranks of one job run one build on machines of one kind).
class UnitWriter {
 public:
  template <class T>
  void put(const T& value) {
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof value);
  }
  void put(const std::vector<double>& values) {
    put(static_cast<uint64_t>(values.size()));
    if (!values.empty()) bytes_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double));
  }
  void put(const UnitValues& unit) {
    put(static_cast<int64_t>(unit.unit));
    put(unit.model);
    put(static_cast<uint64_t>(unit.per_seed.size()));
    for (const auto& seed : unit.per_seed) put(seed);
    put(unit.cost.head_evaluations);
    put(unit.cost.mlp_evaluations);
    put(unit.cost.node_evaluations);
    put(unit.cost.flops);
  }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class UnitReader {
 public:
  explicit UnitReader(std::string_view bytes) : bytes_(bytes) {}
  bool done() const { return at_ == bytes_.size(); }
  template <class T>
  T get() {
    T value;
    need(sizeof value);
    std::memcpy(&value, bytes_.data() + at_, sizeof value);
    at_ += sizeof value;
    return value;
  }
  std::vector<double> get_values() {
    const uint64_t count = get<uint64_t>();
    need(count * sizeof(double));
    std::vector<double> values(count);
    if (count > 0) std::memcpy(values.data(), bytes_.data() + at_, count * sizeof(double));
    at_ += count * sizeof(double);
    return values;
  }
  UnitValues get_unit() {
    UnitValues unit;
    unit.unit = static_cast<int>(get<int64_t>());
    unit.model = get_values();
    unit.per_seed.resize(get<uint64_t>());
    for (auto& seed : unit.per_seed) seed = get_values();
    unit.cost.head_evaluations = get<int64_t>();
    unit.cost.mlp_evaluations = get<int64_t>();
    unit.cost.node_evaluations = get<int64_t>();
    unit.cost.flops = get<double>();
    return unit;
  }

 private:
  void need(uint64_t count) const {
    if (count > bytes_.size() - at_) throw Error("the scrubbed values of the units are cut short (an internal error)");
  }
  std::string_view bytes_;
  size_t at_ = 0;
};

// The model's own final residual rows of `batch` (at the answer position), from the clean cache.
engine::RowMatrix clean_final_rows(const CleanCache& cache, const std::vector<int>& batch, int d_model) {
  const data::Dataset& dataset = cache.dataset();
  engine::RowMatrix rows(static_cast<Eigen::Index>(batch.size()), d_model);
  for (size_t b = 0; b < batch.size(); ++b) {
    const std::vector<int> one{batch[b]};
    rows.row(static_cast<Eigen::Index>(b)) = cache.gather({Stream::Kind::resid_final, -1}, one)
                                                 .row(dataset.answer_position(dataset.examples[static_cast<size_t>(batch[b])]));
  }
  return rows;
}

std::string join_features(const std::vector<std::string>& features) {
  std::string text;
  for (const std::string& feature : features) text += (text.empty() ? "" : "+") + feature;
  return text;
}

// Four significant digits, for messages.
std::string significant(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", value);
  return text;
}

}  // namespace

std::vector<int> scored_references(const data::Dataset& dataset) {
  std::map<std::string, int> group_sizes;
  for (const auto& example : dataset.examples) ++group_sizes[example.group];
  std::vector<int> references;
  for (size_t i = 0; i < dataset.examples.size(); ++i)
    if (group_sizes[dataset.examples[i].group] >= 2) references.push_back(static_cast<int>(i));
  return references;
}

Recoverable recoverable(std::span<const double> model, std::span<const double> baseline, const Bootstrap& bootstrap,
                        double smallest_gap) {
  const size_t n = model.size();
  std::vector<double> gaps(n);
  double model_mean = 0, baseline_mean = 0;
  for (size_t i = 0; i < n; ++i) {
    gaps[i] = model[i] - baseline[i];
    model_mean += model[i] / static_cast<double>(n);
    baseline_mean += baseline[i] / static_cast<double>(n);
  }
  double squares = 0;
  for (size_t i = 0; i < n; ++i)
    squares += (model[i] - model_mean) * (model[i] - model_mean) + (baseline[i] - baseline_mean) * (baseline[i] - baseline_mean);
  Recoverable result;
  result.gap = bootstrap.mean(gaps);
  result.spread = n > 1 ? std::sqrt(squares / (2.0 * static_cast<double>(n - 1))) : 0.0;
  const bool interval_has_zero = !(result.gap.low > 0 || result.gap.high < 0);
  const bool tiny = std::abs(result.gap.value) < smallest_gap * result.spread;
  if (!interval_has_zero && !tiny) return result;
  result.defined = false;
  result.reason = interval_has_zero ? "model - baseline = " + significant(result.gap.value) + ", 95% interval [" +
                                          significant(result.gap.low) + ", " + significant(result.gap.high) +
                                          "], includes 0"
                                    : "model - baseline = " + significant(result.gap.value) + ", less than " +
                                          significant(smallest_gap) + " x the metric's spread on these prompts (" +
                                          significant(result.spread) + ")";
  return result;
}

std::vector<std::vector<int>> reference_batches(const data::Dataset& dataset, std::span<const int> references,
                                                int batch_size) {
  std::map<std::string, std::vector<int>> slots_by_group;
  std::vector<const std::string*> group_order;
  for (size_t slot = 0; slot < references.size(); ++slot) {
    const std::string& group = dataset.examples[static_cast<size_t>(references[slot])].group;
    auto [found, inserted] = slots_by_group.try_emplace(group);
    if (inserted) group_order.push_back(&found->first);
    found->second.push_back(static_cast<int>(slot));
  }
  const size_t size = static_cast<size_t>(std::max(1, batch_size));
  std::vector<std::vector<int>> batches;
  for (const std::string* group : group_order) {
    const std::vector<int>& slots = slots_by_group[*group];
    for (size_t start = 0; start < slots.size(); start += size)
      batches.emplace_back(slots.begin() + static_cast<std::ptrdiff_t>(start),
                           slots.begin() + static_cast<std::ptrdiff_t>(std::min(slots.size(), start + size)));
  }
  return batches;
}

ExperimentUnits::ExperimentUnits(const engine::Weights& weights, const data::Dataset& dataset,
                                 const std::vector<graph::Hypothesis>& hypotheses, const graph::Hypothesis& baseline,
                                 const ExperimentSettings& settings)
    : weights_(weights), dataset_(dataset), hypotheses_(hypotheses), baseline_(baseline), settings_(settings) {
  if (dataset.examples.empty()) throw Error("the dataset is empty");
  if (settings.seeds < 1) throw Error("--seeds must be at least 1");
  std::vector<int> references = scored_references(dataset);
  if (references.size() < 2)
    throw Error("no two prompts of the dataset share an alignment group (same template and length), so no input can "
                "be resampled",
                "use a larger --n");
  // Claims that only the prompts can refute (positions that meet or miss) fail before anything is computed.
  graph::validate_on_data(baseline, dataset);
  for (const auto& hypothesis : hypotheses) graph::validate_on_data(hypothesis, dataset);
  if (settings.ablation == Ablation::counterfactual && settings.counterfactual == nullptr)
    throw Error("the counterfactual ablation needs a paired dataset, and none was given");
  const size_t excluded_singletons = [&] {
    if (!settings.exclude_singletons) return size_t{0};
    const std::vector<bool> singleton = singleton_references(hypotheses, dataset, references);
    std::vector<int> kept;
    for (size_t r = 0; r < references.size(); ++r)
      if (!singleton[r]) kept.push_back(references[r]);
    const size_t left_out = references.size() - kept.size();
    if (kept.size() < 2) {
      std::string worst;  // the node that leaves the most references alone
      int most = -1;
      for (const auto& hypothesis : hypotheses)
        for (const NodeClassSizes& node : class_sizes(hypothesis, dataset, references))
          if (node.resampled && node.singletons() > most) {
            most = node.singletons();
            worst = "'" + node.node + "' of '" + hypothesis.name + "' (feature " + join_features(node.feature) + ")";
          }
      throw Error("leaving out the references alone in their agreement class leaves " + std::to_string(kept.size()) +
                      " of " + std::to_string(references.size()) + ": at node " + worst + ", " + std::to_string(most) +
                      " are alone",
                  "use more prompts (--n), or a coarser feature there");
    }
    references = std::move(kept);
    return left_out;
  }();
  // Fails for a metric the task cannot support (only KL reads the clean rows, per batch later).
  if (settings.metric != Metric::kl) (void)MetricEvaluator(weights, dataset, settings.metric, references, engine::RowMatrix());

  const MemoryEstimate memory =
      estimate_memory(weights.config, weights.matmul, dataset, hypotheses, baseline, settings);
  check_memory(memory, settings);
  references_ = std::move(references);
  excluded_singletons_ = static_cast<int>(excluded_singletons);
  batches_ = reference_batches(dataset, references_, settings.batch_size);
  cache_bytes_ = memory.clean_cache;
}

uint64_t ExperimentUnits::values_bytes_per_unit() const {
  size_t largest = 0;
  for (const auto& batch : batches_) largest = std::max(largest, batch.size());
  const uint64_t seeds = static_cast<uint64_t>(settings_.seeds);
  return 8 * (8 + seeds + (seeds + 1) * largest);
}

std::string ExperimentUnits::scrub(int begin, int end, const ExperimentProgress& progress) const {
  std::set<Stream> streams = streams_needed(baseline_, weights_.config);
  for (const auto& hypothesis : hypotheses_) streams.merge(streams_needed(hypothesis, weights_.config));
  const CleanCache cache(weights_, dataset_, streams, settings_.batch_size, [&](int done, int total) {
    if (progress) progress("clean activations", done, total);
  });
  std::optional<CleanCache> counterfactual;
  if (settings_.ablation == Ablation::counterfactual)
    counterfactual.emplace(weights_, *settings_.counterfactual, streams, settings_.batch_size, [&](int done, int total) {
      if (progress) progress("counterfactual activations", done, total);
    });
  std::vector<const graph::Hypothesis*> runs{&baseline_};
  for (const auto& hypothesis : hypotheses_) runs.push_back(&hypothesis);
  const ScrubOptions options{.batch_size = settings_.batch_size,
                             .sampling = settings_.sampling,
                             .ablation = settings_.ablation,
                             .counterfactual = counterfactual ? &*counterfactual : nullptr};
  // A hypothesis the scrubber cannot run fails here, before any scrubbing.
  for (const graph::Hypothesis* hypothesis : runs) (void)Scrubber(weights_, cache, *hypothesis, options);

  // Units stream batch by batch through each run and all its seeds, so that only one batch's activations and
  // logits and one scrubber exist at a time, whatever the number of seeds, hypotheses or references.
  const size_t seeds = static_cast<size_t>(settings_.seeds), batch_count = batches_.size();
  const int total = (end - begin) * settings_.seeds;
  int done = 0;
  UnitWriter writer;
  std::optional<Scrubber> scrubber;
  size_t scrubber_run = runs.size();
  for (int unit = begin; unit < end; ++unit) {
    const size_t run = static_cast<size_t>(unit) / batch_count;
    const std::vector<int>& slots = batches_[static_cast<size_t>(unit) % batch_count];
    const graph::Hypothesis& hypothesis = *runs[run];
    if (scrubber_run != run) {
      scrubber.emplace(weights_, cache, hypothesis, options);
      scrubber_run = run;
    }
    std::vector<int> batch;
    for (int slot : slots) batch.push_back(references_[static_cast<size_t>(slot)]);
    const engine::RowMatrix clean_rows = clean_final_rows(cache, batch, weights_.config.d_model);
    const MetricEvaluator metric(weights_, dataset_, settings_.metric, batch, clean_rows);
    UnitValues values{.unit = unit, .model = {}, .per_seed = {}, .cost = {}};
    if (run == 0) values.model = metric.values(clean_rows);
    for (size_t s = 0; s < seeds; ++s) {
      values.per_seed.push_back(
          metric.values(scrubber->final_rows(batch, settings_.seed + s),
                        "scrubbing with '" + hypothesis.name + "' (seed " + std::to_string(settings_.seed + s) + ")"));
      if (progress) progress("scrubbing", ++done, total);
    }
    values.cost = scrubber->take_cost();  // the unit's own: the same sums on any rank
    writer.put(values);
  }
  return writer.take();
}

ExperimentResult ExperimentUnits::finish(std::string_view units) const {
  const size_t n = references_.size(), seeds = static_cast<size_t>(settings_.seeds), batch_count = batches_.size();
  ScrubbedValues scrubbed;
  scrubbed.model.resize(n);
  // In run_experiment's order of old: run by run, batch by batch, seed by seed, reference by reference.
  UnitReader reader(units);
  for (size_t run = 0; run < runs(); ++run) {
    RunValues values{std::vector<double>(n, 0.0), std::vector<double>(seeds, 0.0),
                     std::vector<std::vector<double>>(seeds, std::vector<double>(n, 0.0))};
    ScrubCost cost;
    for (size_t b = 0; b < batch_count; ++b) {
      const std::vector<int>& slots = batches_[b];
      const UnitValues unit = reader.get_unit();
      const bool fits = unit.unit == static_cast<int>(run * batch_count + b) && unit.per_seed.size() == seeds &&
                        unit.model.size() == (run == 0 ? slots.size() : 0);
      if (!fits) throw Error("the scrubbed values of unit " + std::to_string(run * batch_count + b) +
                             " are missing or out of order (an internal error)");
      for (size_t i = 0; i < slots.size(); ++i)
        if (run == 0) scrubbed.model[static_cast<size_t>(slots[i])] = unit.model[i];
      for (size_t s = 0; s < seeds; ++s) {
        if (unit.per_seed[s].size() != slots.size()) throw Error("a unit's scrubbed values do not fit its batch");
        for (size_t i = 0; i < slots.size(); ++i) {
          const double value = unit.per_seed[s][i];
          values.per_reference[static_cast<size_t>(slots[i])] += value / settings_.seeds;
          values.per_seed[s][static_cast<size_t>(slots[i])] = value;
          values.seed_sums[s] += value;
        }
      }
      cost += unit.cost;
    }
    scrubbed.runs.push_back(std::move(values));
    scrubbed.costs.push_back(cost);
  }
  if (!reader.done()) throw Error("more scrubbed values than units (an internal error)");

  const std::vector<graph::Hypothesis>& hypotheses = hypotheses_;
  const ExperimentSettings& settings = settings_;
  ExperimentResult result;
  result.metric = settings.metric;
  result.n = static_cast<int>(n);
  result.excluded = static_cast<int>(dataset_.examples.size() - n - static_cast<size_t>(excluded_singletons_));
  result.excluded_singletons = excluded_singletons_;
  result.seeds = settings.seeds;
  result.seed = settings.seed;
  result.sampling = settings.sampling;
  result.ablation = settings.ablation;
  result.baseline_name = baseline_.name;
  result.references = references_;
  result.group_sizes = alignment_group_sizes(dataset_, references_);
  result.cost.cache_bytes = cache_bytes_;
  for (const auto& example : dataset_.examples)
    result.cost.clean_forward_flops +=
        engine::forward_flops(weights_.config, 1, static_cast<int>(example.tokens.size()), 0, 0);

  const Bootstrap bootstrap(result.n, settings.bootstrap_resamples, settings.seed ^ 0xb0075ULL);
  const RunValues& baseline_run = scrubbed.runs.front();
  result.model = bootstrap.mean(scrubbed.model);
  result.baseline = bootstrap.mean(baseline_run.per_reference);
  result.model_values = scrubbed.model;
  result.baseline_per_seed = baseline_run.per_seed;
  result.recoverable = recoverable(scrubbed.model, baseline_run.per_reference, bootstrap, settings.smallest_gap);
  const double undefined = std::nan("");
  ScrubCost total_cost = scrubbed.costs.front();
  for (size_t h = 0; h < hypotheses.size(); ++h) {
    RunValues& run = scrubbed.runs[h + 1];
    HypothesisScore score;
    score.name = hypotheses[h].name;
    score.source = hypotheses[h].source_file;
    score.values = {scrubbed.model, baseline_run.per_reference, run.per_reference};
    score.scrubbed = bootstrap.mean(run.per_reference);
    score.recovered = result.recoverable.defined ? bootstrap.recovered(score.values)
                                                 : Estimate{undefined, undefined, undefined};
    for (size_t s = 0; s < run.seed_sums.size(); ++s)
      score.recovered_per_seed.push_back(result.recoverable.defined
                                             ? recovered_fraction(result.model.value, baseline_run.seed_sums[s] / result.n,
                                                                  run.seed_sums[s] / result.n)
                                             : undefined);
    score.difference_to_first = result.hypotheses.empty() ? Estimate{0, 0, 0}
                                : result.recoverable.defined
                                    ? bootstrap.recovered_difference(result.hypotheses.front().values, score.values)
                                    : Estimate{undefined, undefined, undefined};
    score.scrubbed_per_seed = std::move(run.per_seed);
    score.class_sizes = class_sizes(hypotheses[h], dataset_, references_);
    score.cost = scrubbed.costs[h + 1];
    total_cost += score.cost;
    result.hypotheses.push_back(std::move(score));
  }
  result.cost.scrub_flops = total_cost.flops;
  result.cost.head_evaluations = total_cost.head_evaluations;
  result.cost.mlp_evaluations = total_cost.mlp_evaluations;
  result.cost.node_evaluations = total_cost.node_evaluations;
  return result;
}

ExperimentResult run_experiment(const engine::Weights& weights, const data::Dataset& dataset,
                                const std::vector<graph::Hypothesis>& hypotheses, const graph::Hypothesis& baseline,
                                const ExperimentSettings& settings, const ExperimentProgress& progress) {
  const ExperimentUnits units(weights, dataset, hypotheses, baseline, settings);
  // The caches live only while scrubbing: the statistics do not need them.
  return units.finish(units.scrub(0, units.count(), progress));
}

}  // namespace cscrub::scrub
