// The metric edge-level methods compute at each pair's last position, from the final residual stream (before
// ln_f) of a run: the logits come from ln_f and the unembedding, as the forward computes them.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "cscrub/discover/pair_batch.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::discover {

enum class PairMetricKind {
  logit_diff,  // logit(answer) - logit(distractor) of the clean prompt; higher is better
  kl,          // KL(clean run's distribution || this run's), over the whole vocabulary; 0 for the clean run
};
std::string to_string(PairMetricKind kind);
// "logit_diff" or "kl"; throws cscrub::Error otherwise.
PairMetricKind parse_pair_metric(const std::string& text);
// Whether larger values mean the run does the task better.
bool higher_is_better(PairMetricKind kind);

class PairMetric {
 public:
  // For the pairs of `batch` (answers and distractors from the clean prompts of `pairs`).
  PairMetric(const engine::Weights& weights, PairMetricKind kind, const PairedDataset& pairs, const PairBatch& batch);

  // The metric of each row of `final_rows` ([rows, d_model], a run's final stream at the last position), row r
  // being a run of the batch's pair pair_of[r].
  std::vector<double> evaluate(const engine::RowMatrix& final_rows, std::span<const int> pair_of) const;
  // The clean runs' values, per pair of the batch.
  const std::vector<double>& clean() const { return clean_; }

 private:
  const engine::Weights& weights_;
  PairMetricKind kind_;
  std::vector<int32_t> answer_, distractor_;       // per pair
  std::vector<std::vector<double>> clean_log_probs_;  // kl: per pair, over the vocabulary
  std::vector<double> clean_;
};

}  // namespace cscrub::discover
