// Metrics of one position's logits, in double precision, and their gradients with respect to the logits: the
// formulas causal scrubbing scores (scrub/metrics) and circuit discovery attributes (discover/metrics) share.
//
// Sign conventions: logit_difference and probability_difference are higher when the model prefers the answer;
// cross_entropy and kl_divergence are lower when the model is closer to the answer or to the reference.
#pragma once
#include <cstdint>
#include <span>

namespace cscrub::engine::logit_metrics {

// A row of logits with its log-normaliser log Σ exp(logits), so that log p(i) = logits[i] - log_normaliser.
struct LogitRow {
  std::span<const float> logits;
  double log_normaliser = 0;
};
// Computed in double, shifted by the row's maximum; every logit must be finite.
LogitRow with_log_normaliser(std::span<const float> logits);

// logits[answer] - logits[distractor] (columns of `logits`).
double logit_difference(std::span<const float> logits, int64_t answer, int64_t distractor);
// p(answer) - p(distractor).
double probability_difference(const LogitRow& row, int64_t answer, int64_t distractor);
// -log p(answer).
double cross_entropy(const LogitRow& row, int64_t answer);
// KL(reference || row) = Σ_i p_ref(i) (log p_ref(i) - log p(i)), over the same columns.
double kl_divergence(const LogitRow& reference, const LogitRow& row);

// Their gradients with respect to the row's logits, written into `gradient` (as many entries as the row;
// every entry is set).
void logit_difference_gradient(int64_t answer, int64_t distractor, std::span<float> gradient);
// p_a (e_a - p) - p_d (e_d - p)
void probability_difference_gradient(const LogitRow& row, int64_t answer, int64_t distractor, std::span<float> gradient);
// p - e_answer
void cross_entropy_gradient(const LogitRow& row, int64_t answer, std::span<float> gradient);
// p - p_ref
void kl_divergence_gradient(const LogitRow& reference, const LogitRow& row, std::span<float> gradient);

}  // namespace cscrub::engine::logit_metrics
