// The discovery metric (metrics.hpp: logit_diff, prob_diff, kl, loss) of the runs the edge-level methods make of a
// batch of pairs, from the final residual stream (before ln_f) at the last position: ln_f and the unembedding as
// the forward computes them, then the formulas of engine/logit_metrics.hpp. Each run is a run of one pair of the
// batch; its labels, and for kl the clean run's distribution, are that pair's.
#pragma once
#include <span>
#include <vector>

#include "cscrub/discover/metrics.hpp"
#include "cscrub/discover/pair_batch.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::discover {

class PairMetric {
 public:
  // For the pairs of `batch` (answers and distractors from the clean prompts of `pairs`). Throws cscrub::Error
  // for a metric that needs a distractor and a pair without one.
  PairMetric(const engine::Weights& weights, Metric metric, const PairedDataset& pairs, const PairBatch& batch);

  // The metric of each row of `final_rows` ([rows, d_model], a run's final stream at the last position), row r
  // being a run of the batch's pair pair_of[r]. Throws cscrub::Error for logits that are not finite.
  std::vector<double> evaluate(const engine::RowMatrix& final_rows, std::span<const int> pair_of) const;
  // The clean runs' values, per pair of the batch.
  const std::vector<double>& clean() const { return clean_; }

 private:
  const engine::Weights& weights_;
  Metric metric_;
  std::vector<int> examples_;                    // per pair: its index in the dataset, for messages
  std::vector<int32_t> answer_, distractor_;     // per pair
  std::vector<int32_t> columns_;                 // logit_diff: the batch's answers and distractors, sorted
  engine::RowMatrix clean_logits_;               // kl: per pair, over the vocabulary
  std::vector<double> clean_;
};

}  // namespace cscrub::discover
