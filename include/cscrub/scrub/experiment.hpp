// A causal-scrubbing experiment: one dataset, one model, a baseline and one or more hypotheses, scored
// over several seeds with bootstrap intervals; what `cscrub run` and `cscrub compare` print.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/engine/weights.hpp"
#include "cscrub/graph/hypothesis.hpp"
#include "cscrub/scrub/class_sizes.hpp"
#include "cscrub/scrub/metrics.hpp"
#include "cscrub/scrub/scrubber.hpp"
#include "cscrub/scrub/statistics.hpp"

namespace cscrub::scrub {

struct ExperimentSettings {
  Metric metric = Metric::logit_diff;
  int seeds = 5;           // scrubbing seeds: seed, seed + 1, ...
  uint64_t seed = 0;
  // References scrubbed together: each hypothesis streams the references batch by batch, every seed of a
  // batch before the next, so working memory grows with it (not with n or the seeds); results do not.
  int batch_size = 64;
  int bootstrap_resamples = 2000;
  uint64_t max_memory_bytes = 0;  // refuse runs whose estimated peak exceeds this (memory.hpp); 0: no limit
  uint64_t max_cache_bytes = 0;   // refuse runs whose clean cache alone exceeds this; 0: no limit
  Sampling sampling = Sampling::cscrub;
  Ablation ablation = Ablation::resample;
  // For Ablation::counterfactual: the paired prompts (counterfactual->examples[i] for dataset example i).
  const data::Dataset* counterfactual = nullptr;
  // Leave out the references that are alone in their agreement class for some resampled node of some
  // hypothesis (class_sizes.hpp): nothing would be resampled for them there.
  bool exclude_singletons = false;
  // % recovered is undefined when the model and the baseline cannot be told apart on these prompts: the 95%
  // interval of their mean difference includes 0, or that difference is below this fraction of the metric's
  // spread (the standard deviation of the per-reference values of the model and the baseline, pooled).
  double smallest_gap = 0.1;
};

// Whether "% recovered" means anything on these prompts (see ExperimentSettings::smallest_gap).
struct Recoverable {
  bool defined = true;
  std::string reason;  // when not defined: why, with the numbers
  Estimate gap;        // mean of model - baseline per reference, with its 95% bootstrap interval
  double spread = 0;   // the metric's pooled per-reference standard deviation
};

// When % recovered is undefined (Recoverable), `recovered`, `difference_to_first` and `recovered_per_seed`
// hold NaN.
struct HypothesisScore {
  std::string name;
  std::string source;
  Estimate scrubbed;
  Estimate recovered;
  Estimate difference_to_first;          // recovered minus the first hypothesis' (paired); zero for the first
  std::vector<double> recovered_per_seed;
  ReferenceValues values;                // per reference, seed-averaged
  std::vector<std::vector<double>> scrubbed_per_seed;  // [seed][reference]
  std::vector<NodeClassSizes> class_sizes;              // per node, over the scored references
  ScrubCost cost;
};

struct ExperimentCost {
  double clean_forward_flops = 0;  // one clean forward pass over the dataset
  double scrub_flops = 0;          // recomputation, all hypotheses, baseline and seeds
  int64_t head_evaluations = 0, mlp_evaluations = 0, node_evaluations = 0;
  uint64_t cache_bytes = 0;
  double forward_equivalents() const { return 1.0 + scrub_flops / clean_forward_flops; }
};

struct ExperimentResult {
  Metric metric = Metric::logit_diff;
  int n = 0;                 // references scored
  int excluded = 0;          // prompts alone in their alignment group (no random input can align with them)
  int excluded_singletons = 0;  // references left out by ExperimentSettings::exclude_singletons
  int seeds = 0;
  uint64_t seed = 0;
  Sampling sampling = Sampling::cscrub;
  Ablation ablation = Ablation::resample;
  std::string baseline_name;
  std::vector<int> references;          // the dataset indices of the scored references
  std::vector<int> group_sizes;         // per reference: prompts in its alignment group, itself included
  std::vector<double> model_values;     // per reference
  std::vector<std::vector<double>> baseline_per_seed;  // [seed][reference]
  Estimate model;
  Estimate baseline;
  Recoverable recoverable;
  std::vector<HypothesisScore> hypotheses;
  ExperimentCost cost;
};

// The references an experiment scores: every prompt that shares its alignment group with another one (a
// prompt alone in its group has no random input to be resampled from).
std::vector<int> scored_references(const data::Dataset& dataset);

// Whether % recovered is defined for these per-reference values (ExperimentSettings::smallest_gap).
Recoverable recoverable(std::span<const double> model, std::span<const double> baseline, const Bootstrap& bootstrap,
                        double smallest_gap);

// The batches references are streamed in, as indices into `references`: group by group in order of first
// appearance, in the given order within a group, at most `batch_size` each (the batches the Scrubber
// recomputes together). Their concatenation does not depend on `batch_size`.
std::vector<std::vector<int>> reference_batches(const data::Dataset& dataset, std::span<const int> references,
                                                int batch_size);

// Stage name, units done, units in total.
using ExperimentProgress = std::function<void(const std::string& stage, int done, int total)>;

// Throws cscrub::Error, before the clean cache is allocated, for a run whose memory estimate (memory.hpp)
// exceeds the settings' limits (with a suggestion), and for datasets or hypotheses the scrubber cannot run.
ExperimentResult run_experiment(const engine::Weights& weights, const data::Dataset& dataset,
                                const std::vector<graph::Hypothesis>& hypotheses, const graph::Hypothesis& baseline,
                                const ExperimentSettings& settings, const ExperimentProgress& progress = {});

// An experiment's scrubbing cut into units of work, for sharing among processes (parallel/ranks.hpp): unit u is
// run u / batches (the baseline, then each hypothesis) on batch u % batches of reference_batches, over every
// seed. Each unit's values are computed whole by one process (scrub) and the result is assembled from all of
// them in unit order, every sum in run_experiment's order (finish): any split gives run_experiment's bits.
class ExperimentUnits {
 public:
  // run_experiment's checks (throws cscrub::Error), before anything is computed. The arguments must outlive this.
  ExperimentUnits(const engine::Weights& weights, const data::Dataset& dataset,
                  const std::vector<graph::Hypothesis>& hypotheses, const graph::Hypothesis& baseline,
                  const ExperimentSettings& settings);
  int count() const { return static_cast<int>(runs() * batches_.size()); }
  // Scrubs units [begin, end): the clean activations of the whole dataset (a unit's random inputs may be any of
  // its alignment group), then each unit; returns their values as bytes (values_bytes_per_unit each, at most).
  std::string scrub(int begin, int end, const ExperimentProgress& progress = {}) const;
  // The result from the values of every unit, concatenated in unit order (scrub(0, count()), or the blocks of
  // [0, count()) in order). Throws cscrub::Error if they are not all there.
  ExperimentResult finish(std::string_view units) const;
  // The largest number of bytes scrub returns for one unit.
  uint64_t values_bytes_per_unit() const;

 private:
  size_t runs() const { return hypotheses_.size() + 1; }
  const engine::Weights& weights_;
  const data::Dataset& dataset_;
  const std::vector<graph::Hypothesis>& hypotheses_;
  const graph::Hypothesis& baseline_;
  const ExperimentSettings& settings_;
  std::vector<int> references_;
  int excluded_singletons_ = 0;
  std::vector<std::vector<int>> batches_;  // reference_batches: indices into references_
  uint64_t cache_bytes_ = 0;
};

}  // namespace cscrub::scrub
