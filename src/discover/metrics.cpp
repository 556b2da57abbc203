#include "cscrub/discover/metrics.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "cscrub/engine/logit_metrics.hpp"
#include "cscrub/error.hpp"
#include "cscrub/suggest.hpp"

namespace cscrub::discover {
namespace {

namespace logit_metrics = engine::logit_metrics;
using engine::RowMatrix;

constexpr Metric kMetrics[] = {Metric::logit_diff, Metric::prob_diff, Metric::kl, Metric::loss};

std::span<const float> row_of(const RowMatrix& matrix, Eigen::Index row) {
  return {matrix.row(row).data(), static_cast<size_t>(matrix.cols())};
}

std::span<float> row_of(RowMatrix& matrix, Eigen::Index row) {
  return {matrix.row(row).data(), static_cast<size_t>(matrix.cols())};
}

void require_finite(std::span<const float> logits, const std::string& run, int example) {
  for (const float logit : logits)
    if (!std::isfinite(logit))
      throw Error(run + " produced a non-finite logit (" + (std::isnan(logit) ? "NaN" : logit > 0 ? "+Inf" : "-Inf") +
                      ") for prompt " + std::to_string(example) + ": the forward pass overflowed float32",
                  "the weights are finite, but some activation outgrew float32's range; look for extreme weights");
}

}  // namespace

std::string to_string(Metric metric) {
  switch (metric) {
    case Metric::logit_diff: return "logit_diff";
    case Metric::prob_diff: return "prob_diff";
    case Metric::kl: return "kl";
    case Metric::loss: return "loss";
  }
  return "?";
}

std::vector<std::string> metric_names() {
  std::vector<std::string> names;
  for (Metric metric : kMetrics) names.push_back(to_string(metric));
  return names;
}

Metric parse_metric(const std::string& name) {
  for (Metric metric : kMetrics)
    if (to_string(metric) == name) return metric;
  throw Error("unknown metric '" + name + "'" + did_you_mean(name, metric_names()),
              "metrics: logit_diff, prob_diff, kl, loss");
}

bool higher_is_better(Metric metric) { return metric == Metric::logit_diff || metric == Metric::prob_diff; }

std::string describe(Metric metric) {
  switch (metric) {
    case Metric::logit_diff: return "logit(answer) \u2212 logit(distractor)";
    case Metric::prob_diff: return "p(answer) \u2212 p(distractor)";
    case Metric::kl: return "KL(clean \u2016 run)";
    case Metric::loss: return "\u2212log p(answer)";
  }
  return "?";
}

engine::LogitRequest metric_logits(Metric metric, const data::Dataset& labels, const Batch& batch) {
  engine::LogitRequest request;
  request.positions = engine::LogitRequest::Positions::last;
  if (metric != Metric::logit_diff) return request;
  for (int index : batch.examples) {
    const data::Example& example = labels.examples[static_cast<size_t>(index)];
    request.token_ids.push_back(example.answer);
    request.token_ids.push_back(example.distractor);
  }
  std::sort(request.token_ids.begin(), request.token_ids.end());
  request.token_ids.erase(std::unique(request.token_ids.begin(), request.token_ids.end()), request.token_ids.end());
  return request;
}

std::vector<double> metric_values(Metric metric, const data::Dataset& labels, const Batch& batch,
                                  const engine::LogitRequest& request, const RowMatrix& logits,
                                  const RowMatrix* clean_logits, RowMatrix* gradient, const std::string& run) {
  const auto prompts = static_cast<Eigen::Index>(batch.examples.size());
  assert(logits.rows() == prompts);
  const auto column_of = [&](int32_t id) -> int64_t {
    if (request.token_ids.empty()) return id;
    const auto found = std::lower_bound(request.token_ids.begin(), request.token_ids.end(), id);
    assert(found != request.token_ids.end() && *found == id);
    return found - request.token_ids.begin();
  };
  if (gradient != nullptr) gradient->resize(logits.rows(), logits.cols());
  std::vector<double> values(static_cast<size_t>(prompts));
  for (Eigen::Index b = 0; b < prompts; ++b) {
    const int index = batch.examples[static_cast<size_t>(b)];
    const data::Example& example = labels.examples[static_cast<size_t>(index)];
    const bool needs_distractor = metric == Metric::logit_diff || metric == Metric::prob_diff;
    if (needs_distractor && example.distractor < 0)
      throw Error("metric " + to_string(metric) + " needs a distractor token, and prompt " + std::to_string(index) +
                      " has none",
                  "use --metric loss or --metric kl");
    const std::span<const float> row = row_of(logits, b);
    require_finite(row, run, index);
    const int64_t answer = column_of(example.answer);
    const int64_t distractor = example.distractor < 0 ? -1 : column_of(example.distractor);
    double& value = values[static_cast<size_t>(b)];
    if (metric == Metric::logit_diff) {
      value = logit_metrics::logit_difference(row, answer, distractor);
      if (gradient != nullptr) logit_metrics::logit_difference_gradient(answer, distractor, row_of(*gradient, b));
      continue;
    }
    const logit_metrics::LogitRow scored = logit_metrics::with_log_normaliser(row);
    if (metric == Metric::prob_diff) {
      value = logit_metrics::probability_difference(scored, answer, distractor);
      if (gradient != nullptr)
        logit_metrics::probability_difference_gradient(scored, answer, distractor, row_of(*gradient, b));
    } else if (metric == Metric::loss) {
      value = logit_metrics::cross_entropy(scored, answer);
      if (gradient != nullptr) logit_metrics::cross_entropy_gradient(scored, answer, row_of(*gradient, b));
    } else {
      assert(clean_logits != nullptr && clean_logits->rows() == prompts && clean_logits->cols() == logits.cols());
      const std::span<const float> clean_row = row_of(*clean_logits, b);
      require_finite(clean_row, "the clean run", index);
      const logit_metrics::LogitRow reference = logit_metrics::with_log_normaliser(clean_row);
      value = logit_metrics::kl_divergence(reference, scored);
      if (gradient != nullptr) logit_metrics::kl_divergence_gradient(reference, scored, row_of(*gradient, b));
    }
    if (!std::isfinite(value))
      throw Error(run + " gives a non-finite " + to_string(metric) + " for prompt " + std::to_string(index));
  }
  return values;
}

}  // namespace cscrub::discover
