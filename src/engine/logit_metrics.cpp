#include "cscrub/engine/logit_metrics.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace cscrub::engine::logit_metrics {
namespace {

double log_probability(const LogitRow& row, size_t column) {
  return static_cast<double>(row.logits[column]) - row.log_normaliser;
}

double probability(const LogitRow& row, size_t column) { return std::exp(log_probability(row, column)); }

size_t column(int64_t index, [[maybe_unused]] std::span<const float> logits) {
  assert(index >= 0 && static_cast<size_t>(index) < logits.size());
  return static_cast<size_t>(index);
}

}  // namespace

LogitRow with_log_normaliser(std::span<const float> logits) {
  assert(!logits.empty());
  const double max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (const float logit : logits) sum += std::exp(static_cast<double>(logit) - max);
  return {logits, max + std::log(sum)};
}

double logit_difference(std::span<const float> logits, int64_t answer, int64_t distractor) {
  return static_cast<double>(logits[column(answer, logits)]) - static_cast<double>(logits[column(distractor, logits)]);
}

double probability_difference(const LogitRow& row, int64_t answer, int64_t distractor) {
  return probability(row, column(answer, row.logits)) - probability(row, column(distractor, row.logits));
}

double cross_entropy(const LogitRow& row, int64_t answer) { return -log_probability(row, column(answer, row.logits)); }

double kl_divergence(const LogitRow& reference, const LogitRow& row) {
  assert(reference.logits.size() == row.logits.size());
  double sum = 0;
  for (size_t i = 0; i < row.logits.size(); ++i) {
    const double reference_log_probability = log_probability(reference, i);
    sum += std::exp(reference_log_probability) * (reference_log_probability - log_probability(row, i));
  }
  return sum;
}

void logit_difference_gradient(int64_t answer, int64_t distractor, std::span<float> gradient) {
  std::fill(gradient.begin(), gradient.end(), 0.0f);
  gradient[static_cast<size_t>(answer)] += 1.0f;
  gradient[static_cast<size_t>(distractor)] -= 1.0f;  // 0 when the distractor is the answer
}

void probability_difference_gradient(const LogitRow& row, int64_t answer, int64_t distractor, std::span<float> gradient) {
  assert(gradient.size() == row.logits.size());
  const size_t a = column(answer, row.logits), d = column(distractor, row.logits);
  const double p_answer = probability(row, a), p_distractor = probability(row, d);
  for (size_t i = 0; i < gradient.size(); ++i) {
    const double p = probability(row, i);
    gradient[i] = static_cast<float>(-(p_answer - p_distractor) * p + (i == a ? p_answer : 0.0) - (i == d ? p_distractor : 0.0));
  }
}

void cross_entropy_gradient(const LogitRow& row, int64_t answer, std::span<float> gradient) {
  assert(gradient.size() == row.logits.size());
  const size_t a = column(answer, row.logits);
  for (size_t i = 0; i < gradient.size(); ++i) gradient[i] = static_cast<float>(probability(row, i) - (i == a ? 1.0 : 0.0));
}

void kl_divergence_gradient(const LogitRow& reference, const LogitRow& row, std::span<float> gradient) {
  assert(gradient.size() == row.logits.size() && reference.logits.size() == row.logits.size());
  for (size_t i = 0; i < gradient.size(); ++i) gradient[i] = static_cast<float>(probability(row, i) - probability(reference, i));
}

}  // namespace cscrub::engine::logit_metrics
