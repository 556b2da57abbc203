#include "cscrub/discover/pair_metric.hpp"

#include <algorithm>
#include <cmath>

#include "cscrub/engine/components.hpp"
#include "cscrub/engine/logit_metrics.hpp"
#include "cscrub/error.hpp"

namespace cscrub::discover {
namespace {

namespace logit_metrics = engine::logit_metrics;

std::span<const float> row_of(const engine::RowMatrix& matrix, Eigen::Index row) {
  return {matrix.row(row).data(), static_cast<size_t>(matrix.cols())};
}

}  // namespace

PairMetric::PairMetric(const engine::Weights& weights, Metric metric, const PairedDataset& pairs, const PairBatch& batch)
    : weights_(weights), metric_(metric) {
  const bool needs_distractor = metric == Metric::logit_diff || metric == Metric::prob_diff;
  for (int index : batch.plan.pairs) {
    const data::Example& example = pairs.clean.examples[static_cast<size_t>(index)];
    if (needs_distractor && example.distractor < 0)
      throw Error("metric " + to_string(metric) + " needs a distractor token, and prompt " + std::to_string(index) +
                      " has none",
                  "use --metric loss or --metric kl");
    examples_.push_back(index);
    answer_.push_back(example.answer);
    distractor_.push_back(example.distractor);
  }
  if (metric == Metric::logit_diff) {  // only the columns of the batch's answers and distractors
    columns_ = answer_;
    columns_.insert(columns_.end(), distractor_.begin(), distractor_.end());
    std::sort(columns_.begin(), columns_.end());
    columns_.erase(std::unique(columns_.begin(), columns_.end()), columns_.end());
  }
  const engine::RowMatrix clean_rows = last_positions(batch.clean_final, batch.length());
  if (metric == Metric::kl) clean_logits_ = engine::unembed(weights_, clean_rows, {});
  clean_ = evaluate(clean_rows, batch.identity);
}

std::vector<double> PairMetric::evaluate(const engine::RowMatrix& final_rows, std::span<const int> pair_of) const {
  if (static_cast<size_t>(final_rows.rows()) != pair_of.size())
    throw Error("metric: " + std::to_string(final_rows.rows()) + " rows for " + std::to_string(pair_of.size()) + " runs");
  const engine::RowMatrix logits = engine::unembed(weights_, final_rows, columns_);
  auto column_of = [&](int32_t id) -> int64_t {
    if (columns_.empty()) return id;
    return std::lower_bound(columns_.begin(), columns_.end(), id) - columns_.begin();
  };
  std::vector<double> values(pair_of.size());
  for (size_t r = 0; r < pair_of.size(); ++r) {
    const auto pair = static_cast<size_t>(pair_of[r]);
    const std::span<const float> row = row_of(logits, static_cast<Eigen::Index>(r));
    for (const float logit : row)
      if (!std::isfinite(logit))
        throw Error("a patched run of prompt " + std::to_string(examples_[pair]) +
                        " produced a non-finite logit: the forward pass overflowed float32",
                    "the weights are finite, but some activation outgrew float32's range; look for extreme weights");
    const int64_t answer = column_of(answer_[pair]);
    const int64_t distractor = distractor_[pair] < 0 ? -1 : column_of(distractor_[pair]);
    switch (metric_) {
      case Metric::logit_diff: values[r] = logit_metrics::logit_difference(row, answer, distractor); break;
      case Metric::prob_diff:
        values[r] = logit_metrics::probability_difference(logit_metrics::with_log_normaliser(row), answer, distractor);
        break;
      case Metric::loss: values[r] = logit_metrics::cross_entropy(logit_metrics::with_log_normaliser(row), answer); break;
      case Metric::kl:
        values[r] = logit_metrics::kl_divergence(
            logit_metrics::with_log_normaliser(row_of(clean_logits_, static_cast<Eigen::Index>(pair))),
            logit_metrics::with_log_normaliser(row));
        break;
    }
  }
  return values;
}

}  // namespace cscrub::discover
