// The statistical tests of `cscrub test`, as functions of per-reference values (each reference's metric
// averaged over the scrubbing seeds), so that anyone holding those values (the JSON writes them) can
// recompute every test. docs/hypothesis-tests.md defines each one; in short, with m, b, s the model's,
// the baseline's and the hypothesis' per-reference values over n references:
//   R = (mean s - mean b) / (mean m - mean b), the % recovered;
//   its standard error by the delta method, SE = sd(z) / sqrt(n) with z_i = ((s_i - b_i) - R (m_i - b_i)) /
//   (mean m - mean b) and sd the n - 1 standard deviation; t statistics with n - 1 degrees of freedom.
#pragma once
#include <span>
#include <vector>

#include "cscrub/scrub/statistics.hpp"

namespace cscrub::scrub {

struct RatioEstimate {
  double value = 0;           // R
  double standard_error = 0;  // delta method
  int degrees_of_freedom = 0;  // n - 1
};

// R and its standard error.
RatioEstimate recovered_with_error(const ReferenceValues& values);

// Equivalence with the model: two one-sided t tests (TOST) of R against 1 - margin and 1 + margin.
// H0: |R - 1| >= margin. p_lower = P(T >= (R - (1 - margin)) / SE), p_upper = P(T >= ((1 + margin) - R) /
// SE); p = max of the two; equivalent when p <= alpha, i.e. when the (1 - 2 alpha) interval R -+ t(1 - alpha)
// SE lies inside [1 - margin, 1 + margin].
struct Equivalence {
  double margin = 0.05;
  double alpha = 0.05;
  RatioEstimate recovered;
  double low = 0, high = 0;  // the (1 - 2 alpha) interval
  double p_lower = 1, p_upper = 1, p_value = 1;
  bool equivalent = false;
};
Equivalence equivalence_test(const ReferenceValues& values, double margin, double alpha);

// The paired difference D = R(a) - R(b) of two hypotheses scored on the same references, seeds, model and
// baseline values: D = mean(a - b) / (mean m - mean b); z_i = ((a_i - b_i) - D (m_i - base_i)) / (mean m -
// mean base); SE = sd(z) / sqrt(n); t = D / SE; two-sided p = 2 P(T >= |t|) (1 when D = SE = 0).
struct PairedDifference {
  double difference = 0;
  double standard_error = 0;
  double t = 0;
  int degrees_of_freedom = 0;
  double p_value = 1;
};
PairedDifference paired_difference_test(std::span<const double> model, std::span<const double> baseline,
                                        std::span<const double> a, std::span<const double> b);

// Holm's step-down adjustment: with p sorted ascending p_(1) <= ... <= p_(m), adjusted p_(i) =
// max over j <= i of min(1, (m - j + 1) p_(j)); returned in the input's order. Rejecting where adjusted <=
// alpha holds the family-wise error rate at alpha.
std::vector<double> holm_adjusted(std::span<const double> p_values);

// The Monte Carlo permutation p-value of a statistic where smaller is better (the claim's distance |R - 1|
// among K random circuits' distances): (1 + #{k : random_k <= claim}) / (K + 1). Under the null (the claim
// is like a random circuit) P(p <= alpha) <= alpha.
double permutation_p_value(double claim, std::span<const double> random);

// The q-quantile of `values` with linear interpolation between order statistics (numpy's default,
// Hyndman-Fan type 7): position q (n - 1) in the sorted values.
double quantile(std::vector<double> values, double q);

// Per reference, its share of R: r_i = 1 - (m_i - s_i) / (mean m - mean b). The mean of r is R; r_i < 1
// means the hypothesis falls short of the model on reference i, whatever the metric's direction.
std::vector<double> per_reference_recovered(const ReferenceValues& values);

}  // namespace cscrub::scrub
