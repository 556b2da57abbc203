// What `cscrub run`, `cscrub compare` and the Python module's run() and compare() share: their options,
// loading the model, dataset and hypotheses, and the result as JSON (the same bytes from both) or text.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/engine/weights.hpp"
#include "cscrub/graph/hypothesis.hpp"
#include "cscrub/scrub/experiment.hpp"
#include "cscrub/scrub/memory.hpp"

namespace cscrub::app {

struct ExperimentOptions {
  std::string model;
  std::string matmul = "auto";  // see matmul_kernel_for
  int n = 0;       // 0: the first hypothesis' default
  int seeds = 0;   // 0: the first hypothesis' default
  uint64_t seed = 0;
  std::string metric;  // empty: hypothesis default, else the task's
  std::string task;    // empty: the hypothesis' task
  std::vector<std::string> task_options;
  std::string dataset_file;
  const data::Dataset* dataset = nullptr;  // a dataset in memory (the Python module's), used like dataset_file
  std::string baseline = "builtin:none";
  std::string sampling = "cscrub";  // see scrub::Sampling
  bool exclude_singletons = false;
  int batch_size = 64;
  double max_memory_gib = 0;  // 0: half of the physical memory; the limit of the estimated peak
  int threads = 0;            // 0: OpenMP's default
  bool quiet = false;
  std::string json_out;
  // The MPI job this run is part of (app/ranks_work.hpp): its ranks, and how many of them share this machine
  // (the default memory limit is shared among those; each rank's estimate is its own).
  int ranks = 1, ranks_on_machine = 1;
};

struct PreparedExperiment {
  engine::Weights weights;
  data::Dataset dataset;
  std::vector<graph::Hypothesis> hypotheses;
  graph::Hypothesis baseline;
  scrub::ExperimentSettings settings;
  scrub::MemoryEstimate memory;  // made before the weights were loaded, with the program and checkpoint
  nlohmann::json provenance;  // version, model hash, dataset seed and hash, hypothesis hashes
  int ranks = 1, ranks_on_machine = 1;  // ExperimentOptions'
};

// Throws cscrub::Error, before loading the weights, when the run's memory estimate exceeds --max-memory.
PreparedExperiment prepare_experiment(const ExperimentOptions& options, const std::vector<std::string>& hypotheses);

// {"hypothesis", "model", "metric", "n", "seeds", "model_value", "baseline_value", "scrubbed_value",
//  "recovered", "recovered_ci95", "cost", ...} for hypothesis `index`.
nlohmann::json hypothesis_json(const PreparedExperiment& prepared, const scrub::ExperimentResult& result, size_t index);
nlohmann::json experiment_json(const PreparedExperiment& prepared, const scrub::ExperimentResult& result);

// The per-reference values of the model and the baseline ({"reference_indices", "group_sizes", "model",
// "baseline": [seed][reference]}), and of one hypothesis ({"scrubbed": [seed][reference]}).
nlohmann::json reference_values_json(const scrub::ExperimentResult& result);
nlohmann::json scrubbed_values_json(const scrub::HypothesisScore& score);
// Per node: its feature, how many references are alone in their agreement class, every class size.
nlohmann::json class_sizes_json(const scrub::HypothesisScore& score);
// {"defined", "reason", "model_minus_baseline": {"value", "ci95"}, "metric_spread"}.
nlohmann::json recoverable_json(const scrub::Recoverable& recoverable);

// "72.9% [68.1%, 77.0%]", or "undefined" when the estimate is (NaN).
std::string percent_with_interval(const scrub::Estimate& estimate);
std::string value_with_interval(const scrub::Estimate& estimate);
// The cost line printed under every result.
std::string cost_summary(const scrub::ExperimentResult& result);
// The provenance line: version, model, dataset and hypothesis hashes (shortened).
std::string provenance_summary(const PreparedExperiment& prepared);
// The memory line: the estimated peak, its parts, and the limit.
std::string memory_summary(const PreparedExperiment& prepared);
// Lines about nodes whose features leave references alone in their class (empty if none does): counts,
// and a warning with what to do when more than `warn_above` of them are.
std::string class_sizes_summary(const scrub::ExperimentResult& result, double warn_above = 0.05);

}  // namespace cscrub::app
