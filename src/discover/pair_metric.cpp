#include "cscrub/discover/pair_metric.hpp"

#include <algorithm>
#include <cmath>

#include "cscrub/engine/components.hpp"
#include "cscrub/error.hpp"

namespace cscrub::discover {
namespace {

// log softmax of one row of logits, in double.
std::vector<double> log_softmax(const float* logits, Eigen::Index count) {
  double largest = -INFINITY;
  for (Eigen::Index j = 0; j < count; ++j) largest = std::max(largest, static_cast<double>(logits[j]));
  double sum = 0;
  for (Eigen::Index j = 0; j < count; ++j) sum += std::exp(static_cast<double>(logits[j]) - largest);
  const double log_sum = largest + std::log(sum);
  std::vector<double> log_probs(static_cast<size_t>(count));
  for (Eigen::Index j = 0; j < count; ++j) log_probs[static_cast<size_t>(j)] = static_cast<double>(logits[j]) - log_sum;
  return log_probs;
}

}  // namespace

std::string to_string(PairMetricKind kind) { return kind == PairMetricKind::logit_diff ? "logit_diff" : "kl"; }

PairMetricKind parse_pair_metric(const std::string& text) {
  if (text == "logit_diff") return PairMetricKind::logit_diff;
  if (text == "kl") return PairMetricKind::kl;
  throw Error("unknown metric '" + text + "'",
              "logit_diff (logit(answer) - logit(distractor)) or kl (KL divergence from the clean run's distribution)");
}

bool higher_is_better(PairMetricKind kind) { return kind == PairMetricKind::logit_diff; }

PairMetric::PairMetric(const engine::Weights& weights, PairMetricKind kind, const PairedDataset& pairs,
                       const PairBatch& batch)
    : weights_(weights), kind_(kind) {
  for (int index : batch.plan.pairs) {
    const data::Example& example = pairs.clean.examples[static_cast<size_t>(index)];
    answer_.push_back(example.answer);
    distractor_.push_back(example.distractor);
  }
  const engine::RowMatrix clean_rows = last_positions(batch.clean_final, batch.length());
  if (kind_ == PairMetricKind::kl) {
    const engine::RowMatrix logits = engine::unembed(weights_, clean_rows, {});
    for (Eigen::Index i = 0; i < logits.rows(); ++i) clean_log_probs_.push_back(log_softmax(logits.row(i).data(), logits.cols()));
  }
  clean_ = evaluate(clean_rows, batch.identity);
}

std::vector<double> PairMetric::evaluate(const engine::RowMatrix& final_rows, std::span<const int> pair_of) const {
  if (static_cast<size_t>(final_rows.rows()) != pair_of.size())
    throw Error("metric: " + std::to_string(final_rows.rows()) + " rows for " + std::to_string(pair_of.size()) + " runs");
  std::vector<double> values(pair_of.size());
  if (kind_ == PairMetricKind::logit_diff) {
    // Only the columns of the batch's answers and distractors.
    std::vector<int32_t> columns(answer_);
    columns.insert(columns.end(), distractor_.begin(), distractor_.end());
    std::sort(columns.begin(), columns.end());
    columns.erase(std::unique(columns.begin(), columns.end()), columns.end());
    auto column_of = [&](int32_t id) { return std::lower_bound(columns.begin(), columns.end(), id) - columns.begin(); };
    const engine::RowMatrix logits = engine::unembed(weights_, final_rows, columns);
    for (size_t r = 0; r < pair_of.size(); ++r) {
      const auto pair = static_cast<size_t>(pair_of[r]);
      const auto row = static_cast<Eigen::Index>(r);
      values[r] = static_cast<double>(logits(row, column_of(answer_[pair]))) -
                  static_cast<double>(logits(row, column_of(distractor_[pair])));
    }
    return values;
  }
  const engine::RowMatrix logits = engine::unembed(weights_, final_rows, {});
  for (size_t r = 0; r < pair_of.size(); ++r) {
    const std::vector<double> log_probs = log_softmax(logits.row(static_cast<Eigen::Index>(r)).data(), logits.cols());
    const std::vector<double>& clean = clean_log_probs_[static_cast<size_t>(pair_of[r])];
    double kl = 0;
    for (size_t j = 0; j < log_probs.size(); ++j) kl += std::exp(clean[j]) * (clean[j] - log_probs[j]);
    values[r] = kl;
  }
  return values;
}

}  // namespace cscrub::discover
