// The behaviour f(x) whose expectation causal scrubbing compares: computed from the final residual stream
// at the answer position of each reference, with the reference's own labels.
#pragma once
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/engine/tensor.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::scrub {

enum class Metric {
  logit_diff,  // logit(answer) - logit(distractor)
  loss,        // cross-entropy of the answer token
  kl,          // KL(model's own next-token distribution || this one)
  accuracy,    // 1 if the answer's logit beats the distractor's (or is the top token when there is none)
};

std::string to_string(Metric metric);
std::vector<std::string> metric_names();
// Throws cscrub::Error naming the closest metric.
Metric parse_metric(const std::string& name);
// Higher is better for logit_diff and accuracy, lower for loss and kl.
bool higher_is_better(Metric metric);

// Evaluates a metric on final residual rows, knowing the model's own (clean) rows for KL.
class MetricEvaluator {
 public:
  // Throws cscrub::Error if the dataset cannot support the metric (logit_diff without distractors), and
  // for KL if the clean rows give a non-finite logit (see values()).
  MetricEvaluator(const engine::Weights& weights, const data::Dataset& dataset, Metric metric,
                  std::span<const int> references, const engine::RowMatrix& clean_rows);
  // rows[i] is the final residual at the answer position of references[i] (as given to the constructor).
  // Throws cscrub::Error, naming `run` (e.g. "the model", "scrubbing with 'X', seed 3") and the dataset
  // example, if a logit the metric reads or a value is NaN or infinite: finite weights can still overflow
  // float32, and a NaN would otherwise become a score (or silently count as wrong for accuracy).
  std::vector<double> values(const engine::RowMatrix& rows, std::string_view run = "the model") const;
  Metric metric() const { return metric_; }

 private:
  const engine::Weights& weights_;
  const data::Dataset& dataset_;
  Metric metric_;
  std::vector<int> references_;
  engine::RowMatrix clean_logits_;  // KL only: the model's own logits
};

}  // namespace cscrub::scrub
