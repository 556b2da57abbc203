#include "cscrub/scrub/experiment.hpp"

#include <map>
#include <numeric>

#include "cscrub/engine/forward.hpp"
#include "cscrub/error.hpp"

namespace cscrub::scrub {
namespace {

std::string gibibytes(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return text;
}

// Seed-averaged metric values of one hypothesis, and the mean of each seed.
struct SeedRuns {
  std::vector<double> per_reference;
  std::vector<double> per_seed_mean;
};

SeedRuns score_over_seeds(Scrubber& scrubber, const MetricEvaluator& metric, const std::vector<int>& references,
                          const ExperimentSettings& settings, const std::function<void()>& seed_done) {
  SeedRuns runs;
  runs.per_reference.assign(references.size(), 0.0);
  for (int s = 0; s < settings.seeds; ++s) {
    const std::vector<double> values = metric.values(scrubber.final_rows(references, settings.seed + static_cast<uint64_t>(s)));
    for (size_t i = 0; i < values.size(); ++i) runs.per_reference[i] += values[i] / settings.seeds;
    runs.per_seed_mean.push_back(std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size()));
    if (seed_done) seed_done();
  }
  return runs;
}

}  // namespace

ExperimentResult run_experiment(const engine::Weights& weights, const data::Dataset& dataset,
                                const std::vector<graph::Hypothesis>& hypotheses, const graph::Hypothesis& baseline,
                                const ExperimentSettings& settings, const ExperimentProgress& progress) {
  if (dataset.examples.empty()) throw Error("the dataset is empty");
  if (settings.seeds < 1) throw Error("--seeds must be at least 1");
  const int n_layer = weights.config.n_layer;
  std::set<Stream> streams = streams_needed(baseline, n_layer);
  for (const auto& hypothesis : hypotheses) streams.merge(streams_needed(hypothesis, n_layer));

  // References: every prompt that shares its alignment group with another one.
  std::map<std::string, int> group_sizes;
  for (const auto& example : dataset.examples) ++group_sizes[example.group];
  std::vector<int> references;
  for (size_t i = 0; i < dataset.examples.size(); ++i)
    if (group_sizes[dataset.examples[i].group] >= 2) references.push_back(static_cast<int>(i));
  if (references.size() < 2)
    throw Error("no two prompts of the dataset share an alignment group (same template and length), so no input can "
                "be resampled",
                "use a larger --n");

  ExperimentResult result;
  result.metric = settings.metric;
  result.n = static_cast<int>(references.size());
  result.excluded = static_cast<int>(dataset.examples.size() - references.size());
  result.seeds = settings.seeds;
  result.seed = settings.seed;
  result.baseline_name = baseline.name;
  result.cost.cache_bytes = CleanCache::bytes_needed(dataset, streams, weights.config.d_model);
  if (settings.max_cache_bytes > 0 && result.cost.cache_bytes > settings.max_cache_bytes)
    throw Error("the activation cache would need " + gibibytes(result.cost.cache_bytes) + " (" +
                    std::to_string(streams.size()) + " activations x " + std::to_string(result.n) +
                    " prompts), more than the limit of " + gibibytes(settings.max_cache_bytes),
                "use a smaller --n, or raise --max-memory");

  for (const auto& example : dataset.examples)
    result.cost.clean_forward_flops +=
        engine::forward_flops(weights.config, 1, static_cast<int>(example.tokens.size()), 0, 0);

  const CleanCache cache(weights, dataset, std::move(streams), settings.batch_size, [&](int done, int total) {
    if (progress) progress("clean activations", done, total);
  });

  // The model's own value: the clean final residual stream.
  const engine::RowMatrix clean_rows = [&] {
    engine::RowMatrix rows(static_cast<Eigen::Index>(references.size()), weights.config.d_model);
    for (size_t i = 0; i < references.size(); ++i) {
      const int example = references[i];
      const std::vector<int> one{example};
      rows.row(static_cast<Eigen::Index>(i)) =
          cache.gather({Stream::Kind::resid_final, -1}, one).row(dataset.answer_position(dataset.examples[example]));
    }
    return rows;
  }();
  const MetricEvaluator metric(weights, dataset, settings.metric, references, clean_rows);
  const std::vector<double> model_values = metric.values(clean_rows);

  const int total_runs = settings.seeds * static_cast<int>(hypotheses.size() + 1);
  int runs_done = 0;
  auto seed_done = [&] {
    ++runs_done;
    if (progress) progress("scrubbing", runs_done, total_runs);
  };
  const Bootstrap bootstrap(result.n, settings.bootstrap_resamples, settings.seed ^ 0xb0075ULL);

  Scrubber baseline_scrubber(weights, cache, baseline, settings.batch_size);
  const SeedRuns baseline_runs = score_over_seeds(baseline_scrubber, metric, references, settings, seed_done);
  result.model = bootstrap.mean(model_values);
  result.baseline = bootstrap.mean(baseline_runs.per_reference);
  ScrubCost total_cost = baseline_scrubber.cost();

  for (const auto& hypothesis : hypotheses) {
    Scrubber scrubber(weights, cache, hypothesis, settings.batch_size);
    const SeedRuns runs = score_over_seeds(scrubber, metric, references, settings, seed_done);
    HypothesisScore score;
    score.name = hypothesis.name;
    score.source = hypothesis.source_file;
    score.values = {model_values, baseline_runs.per_reference, runs.per_reference};
    score.scrubbed = bootstrap.mean(runs.per_reference);
    score.recovered = bootstrap.recovered(score.values);
    for (size_t s = 0; s < runs.per_seed_mean.size(); ++s)
      score.recovered_per_seed.push_back(recovered_fraction(result.model.value, baseline_runs.per_seed_mean[s],
                                                            runs.per_seed_mean[s]));
    score.difference_to_first = result.hypotheses.empty()
                                    ? Estimate{0, 0, 0}
                                    : bootstrap.recovered_difference(result.hypotheses.front().values, score.values);
    score.cost = scrubber.cost();
    total_cost += score.cost;
    result.hypotheses.push_back(std::move(score));
  }
  result.cost.scrub_flops = total_cost.flops;
  result.cost.head_evaluations = total_cost.head_evaluations;
  result.cost.mlp_evaluations = total_cost.mlp_evaluations;
  result.cost.node_evaluations = total_cost.node_evaluations;
  return result;
}

}  // namespace cscrub::scrub
