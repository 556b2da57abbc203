#include "cscrub/scrub/metrics.hpp"

#include <cmath>

#include "cscrub/engine/components.hpp"
#include "cscrub/error.hpp"
#include "cscrub/suggest.hpp"

namespace cscrub::scrub {
namespace {

using engine::RowMatrix;

RowMatrix log_softmax_rows(const RowMatrix& logits) {
  RowMatrix result(logits.rows(), logits.cols());
  for (Eigen::Index r = 0; r < logits.rows(); ++r) {
    const double max = logits.row(r).maxCoeff();
    double sum = 0;
    for (Eigen::Index c = 0; c < logits.cols(); ++c) sum += std::exp(static_cast<double>(logits(r, c)) - max);
    const double log_sum = max + std::log(sum);
    for (Eigen::Index c = 0; c < logits.cols(); ++c) result(r, c) = static_cast<float>(logits(r, c) - log_sum);
  }
  return result;
}

}  // namespace

std::string to_string(Metric metric) {
  switch (metric) {
    case Metric::logit_diff: return "logit_diff";
    case Metric::loss: return "loss";
    case Metric::kl: return "kl";
    case Metric::accuracy: return "accuracy";
  }
  return "?";
}

std::vector<std::string> metric_names() { return {"logit_diff", "loss", "kl", "accuracy"}; }

Metric parse_metric(const std::string& name) {
  for (Metric metric : {Metric::logit_diff, Metric::loss, Metric::kl, Metric::accuracy})
    if (to_string(metric) == name) return metric;
  throw Error("unknown metric '" + name + "'" + did_you_mean(name, metric_names()),
              "metrics: logit_diff, loss, kl, accuracy");
}

bool higher_is_better(Metric metric) { return metric == Metric::logit_diff || metric == Metric::accuracy; }

MetricEvaluator::MetricEvaluator(const engine::Weights& weights, const data::Dataset& dataset, Metric metric,
                                 std::span<const int> references, const RowMatrix& clean_rows)
    : weights_(weights), dataset_(dataset), metric_(metric), references_(references.begin(), references.end()) {
  if (metric == Metric::logit_diff)
    for (int reference : references_)
      if (dataset.examples[static_cast<size_t>(reference)].distractor < 0)
        throw Error("metric logit_diff needs a distractor token, and task '" + dataset.schema.task +
                        "' gives none for some prompts",
                    "use --metric loss or --metric kl");
  if (metric == Metric::kl) clean_log_probs_ = log_softmax_rows(engine::unembed(weights, clean_rows, {}));
}

std::vector<double> MetricEvaluator::values(const RowMatrix& rows) const {
  std::vector<double> result(references_.size());
  if (metric_ == Metric::logit_diff || (metric_ == Metric::accuracy)) {
    // Two logits per reference unless accuracy has no distractor to compare with.
    for (size_t i = 0; i < references_.size(); ++i) {
      const data::Example& example = dataset_.examples[static_cast<size_t>(references_[i])];
      if (metric_ == Metric::accuracy && example.distractor < 0) {
        const RowMatrix logits = engine::unembed(weights_, rows.row(static_cast<Eigen::Index>(i)), {});
        Eigen::Index best = 0;
        logits.row(0).maxCoeff(&best);
        result[i] = best == example.answer ? 1.0 : 0.0;
        continue;
      }
      const int32_t ids[2] = {example.answer, example.distractor};
      const RowMatrix logits = engine::unembed(weights_, rows.row(static_cast<Eigen::Index>(i)), ids);
      const double difference = static_cast<double>(logits(0, 0)) - logits(0, 1);
      result[i] = metric_ == Metric::logit_diff ? difference : (difference > 0 ? 1.0 : 0.0);
    }
    return result;
  }
  const RowMatrix log_probs = log_softmax_rows(engine::unembed(weights_, rows, {}));
  for (size_t i = 0; i < references_.size(); ++i) {
    const auto row = static_cast<Eigen::Index>(i);
    if (metric_ == Metric::loss) {
      result[i] = -log_probs(row, dataset_.examples[static_cast<size_t>(references_[i])].answer);
      continue;
    }
    double kl = 0;
    for (Eigen::Index c = 0; c < log_probs.cols(); ++c) {
      const double model = clean_log_probs_(row, c);
      kl += std::exp(model) * (model - log_probs(row, c));
    }
    result[i] = kl;
  }
  return result;
}

}  // namespace cscrub::scrub
