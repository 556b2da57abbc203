#include "cscrub/scrub/metrics.hpp"

#include <cassert>
#include <cmath>

#include "cscrub/engine/components.hpp"
#include "cscrub/engine/logit_metrics.hpp"
#include "cscrub/error.hpp"
#include "cscrub/suggest.hpp"

namespace cscrub::scrub {
namespace {

using engine::RowMatrix;
namespace logit_metrics = engine::logit_metrics;

std::span<const float> row_of(const RowMatrix& matrix, Eigen::Index row) {
  return {matrix.row(row).data(), static_cast<size_t>(matrix.cols())};
}

std::string non_finite_name(double value) { return std::isnan(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf"; }

[[noreturn]] void fail_non_finite(std::string_view run, const std::string& what, double value, int example) {
  throw Error(std::string(run) + " produced " + what + " (" + non_finite_name(value) + ") for dataset example " +
                  std::to_string(example) + ": the forward pass overflowed float32, so no score can be computed",
              "the weights are finite, but some activation outgrew float32's range; look for extreme weights");
}

// One check per logit the metric reads, after the unembedding: nothing is added to the forward pass.
void require_finite_logits(std::span<const float> logits, std::string_view run, int example) {
  for (float logit : logits)
    if (!std::isfinite(logit)) fail_non_finite(run, "non-finite logits", logit, example);
}

// Row r of `logits` belongs to examples[r].
void require_finite_logits(const RowMatrix& logits, std::string_view run, std::span<const int> examples) {
  assert(logits.rows() >= static_cast<Eigen::Index>(examples.size()));
  for (size_t r = 0; r < examples.size(); ++r)
    require_finite_logits(std::span<const float>(logits.row(static_cast<Eigen::Index>(r)).data(),
                                                 static_cast<size_t>(logits.cols())),
                          run, examples[r]);
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
  if (metric == Metric::kl) {
    clean_logits_ = engine::unembed(weights, clean_rows, {});
    require_finite_logits(clean_logits_, "the model", references_);
  }
}

std::vector<double> MetricEvaluator::values(const RowMatrix& rows, std::string_view run) const {
  std::vector<double> result(references_.size());
  if (metric_ == Metric::logit_diff || (metric_ == Metric::accuracy)) {
    // Two logits per reference unless accuracy has no distractor to compare with.
    for (size_t i = 0; i < references_.size(); ++i) {
      const data::Example& example = dataset_.examples[static_cast<size_t>(references_[i])];
      if (metric_ == Metric::accuracy && example.distractor < 0) {
        const RowMatrix logits = engine::unembed(weights_, rows.row(static_cast<Eigen::Index>(i)), {});
        require_finite_logits(logits, run, std::span<const int>(&references_[i], 1));
        Eigen::Index best = 0;
        logits.row(0).maxCoeff(&best);
        result[i] = best == example.answer ? 1.0 : 0.0;
        continue;
      }
      const int32_t ids[2] = {example.answer, example.distractor};
      const RowMatrix logits = engine::unembed(weights_, rows.row(static_cast<Eigen::Index>(i)), ids);
      require_finite_logits(std::span<const float>(logits.data(), 2), run, references_[i]);
      const double difference = logit_metrics::logit_difference(row_of(logits, 0), 0, 1);
      result[i] = metric_ == Metric::logit_diff ? difference : (difference > 0 ? 1.0 : 0.0);
    }
    return result;
  }
  const RowMatrix logits = engine::unembed(weights_, rows, {});
  require_finite_logits(logits, run, references_);
  for (size_t i = 0; i < references_.size(); ++i) {
    const auto row = static_cast<Eigen::Index>(i);
    const logit_metrics::LogitRow scored = logit_metrics::with_log_normaliser(row_of(logits, row));
    result[i] = metric_ == Metric::loss
                    ? logit_metrics::cross_entropy(scored, dataset_.examples[static_cast<size_t>(references_[i])].answer)
                    : logit_metrics::kl_divergence(logit_metrics::with_log_normaliser(row_of(clean_logits_, row)), scored);
  }
  // Finite logits give finite values; this guards the arithmetic on them (e.g. +-3e38 - -+3e38).
  for (size_t i = 0; i < result.size(); ++i)
    if (!std::isfinite(result[i])) fail_non_finite(run, "a non-finite " + to_string(metric_) + " value", result[i], references_[i]);
  return result;
}

}  // namespace cscrub::scrub
