// The statistics of `cscrub test` against values worked out independently: closed forms of Student's t
// (1, 2 and 3 degrees of freedom) and of the incomplete beta function, exact binomial tail sums for the
// Clopper-Pearson interval, hand-computed delta-method errors, Holm's adjustment and quantiles as numpy
// computes them.
#include <catch2/catch.hpp>
#include <cmath>
#include <numbers>

#include "cscrub/scrub/distributions.hpp"
#include "cscrub/scrub/hypothesis_tests.hpp"

using namespace cscrub::scrub;

namespace {

// Student's t CDF in closed form for 1, 2 and 3 degrees of freedom.
double t_cdf_closed_form(double t, int df) {
  const double pi = std::numbers::pi;
  if (df == 1) return 0.5 + std::atan(t) / pi;
  if (df == 2) return 0.5 + t / (2 * std::sqrt(2 + t * t));
  const double x = t / std::sqrt(3.0);
  return 0.5 + (x / (1 + x * x) + std::atan(x)) / pi;
}

double binomial_probability(int k, int n, double p) {
  return std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) + k * std::log(p) +
                  (n - k) * std::log1p(-p));
}

// P(X >= k) for X ~ Binomial(n, p), summed term by term.
double binomial_upper_tail(int k, int n, double p) {
  double sum = 0;
  for (int j = k; j <= n; ++j) sum += binomial_probability(j, n, p);
  return sum;
}

}  // namespace

TEST_CASE("Student's t and the incomplete beta function match their closed forms", "[scrub][statistics]") {
  for (int df : {1, 2, 3})
    for (double t : {-30.0, -4.0, -1.5, -0.2, 0.0, 0.7, 2.0, 6.3, 100.0}) {
      INFO("df " << df << ", t " << t);
      CHECK(student_t_cdf(t, df) == Approx(t_cdf_closed_form(t, df)).margin(1e-13));
    }
  // Far tails keep their precision: for 1 degree of freedom P(T >= t) = atan(1 / t) / pi.
  for (double t : {1e3, 1e8, 1e15})
    CHECK(student_t_upper_tail(t, 1) == Approx(std::atan(1 / t) / std::numbers::pi).epsilon(1e-10));
  CHECK(student_t_upper_tail(40, 100) > 0);
  CHECK(student_t_upper_tail(40, 100) < 1e-60);
  // Table values of the quantiles.
  CHECK(student_t_quantile(0.975, 10) == Approx(2.228138851986).epsilon(1e-10));
  CHECK(student_t_quantile(0.95, 5) == Approx(2.015048373333).epsilon(1e-10));  // from F(t; 5) in closed form
  CHECK(student_t_quantile(0.975, 1e6) == Approx(1.959966).epsilon(1e-5));
  CHECK(student_t_quantile(0.025, 3) == Approx(-3.182446305284).epsilon(1e-10));
  for (double x : {0.01, 0.3, 0.5, 0.77, 0.999}) {
    CHECK(regularized_incomplete_beta(x, 1, 1) == Approx(x).margin(1e-14));
    CHECK(regularized_incomplete_beta(x, 3.5, 1) == Approx(std::pow(x, 3.5)).margin(1e-14));
    CHECK(regularized_incomplete_beta(x, 1, 7) == Approx(1 - std::pow(1 - x, 7)).margin(1e-14));
    // I_x(2, 2) = x^2 (3 - 2x).
    CHECK(regularized_incomplete_beta(x, 2, 2) == Approx(x * x * (3 - 2 * x)).margin(1e-14));
  }
}

TEST_CASE("the Clopper-Pearson interval's ends leave alpha/2 in each binomial tail", "[scrub][statistics]") {
  for (auto [k, n] : {std::pair{0, 20}, std::pair{3, 20}, std::pair{15, 300}, std::pair{290, 300}, std::pair{40, 40}}) {
    const Interval interval = clopper_pearson(k, n, 0.95);
    INFO(k << " of " << n << ": [" << interval.low << ", " << interval.high << "]");
    if (k == 0) CHECK(interval.low == 0);
    else CHECK(binomial_upper_tail(k, n, interval.low) == Approx(0.025).margin(1e-9));
    if (k == n) CHECK(interval.high == 1);
    else CHECK(1 - binomial_upper_tail(k + 1, n, interval.high) == Approx(0.025).margin(1e-9));
    CHECK(interval.low <= static_cast<double>(k) / n);
    CHECK(interval.high >= static_cast<double>(k) / n);
  }
  // 0 of n: the upper end is 1 - 0.025^(1/n).
  CHECK(clopper_pearson(0, 10, 0.95).high == Approx(1 - std::pow(0.025, 0.1)).epsilon(1e-10));
}

TEST_CASE("% recovered, its delta-method error and the equivalence test by hand", "[scrub][statistics]") {
  // m = 2, b = 0 everywhere; s = 1.9, 2.1, 2.0, 2.0: R = 1, z = (s - 2) / 2 = -0.05, 0.05, 0, 0,
  // sd(z) = sqrt(0.005 / 3), SE = sd / 2.
  ReferenceValues values{{2, 2, 2, 2}, {0, 0, 0, 0}, {1.9, 2.1, 2.0, 2.0}};
  const RatioEstimate recovered = recovered_with_error(values);
  const double se = std::sqrt(0.005 / 3) / 2;
  CHECK(recovered.value == Approx(1.0).margin(1e-15));
  CHECK(recovered.standard_error == Approx(se).epsilon(1e-12));
  CHECK(recovered.degrees_of_freedom == 3);
  // Margin 5 points: both one-sided statistics are 0.05 / SE, with 3 degrees of freedom.
  const Equivalence five = equivalence_test(values, 0.05, 0.05);
  const double p = 1 - t_cdf_closed_form(0.05 / se, 3);
  CHECK(five.p_lower == Approx(p).margin(1e-12));
  CHECK(five.p_upper == Approx(p).margin(1e-12));
  CHECK(five.p_value == Approx(p).margin(1e-12));
  CHECK(five.equivalent == (p <= 0.05));
  CHECK(p > 0.025);  // 0.05 / SE = 2.449, between t(0.95, 3) = 2.353 and t(0.975, 3) = 3.182
  CHECK(p < 0.05);
  CHECK(five.low == Approx(1 - 2.353363434801 * se).epsilon(1e-9));
  // A margin of 4 points is too tight for these four references.
  CHECK_FALSE(equivalence_test(values, 0.04, 0.05).equivalent);
  // Off-centre: R = 0.9 exactly (s = 0.9 m): a 5-point margin is missed, a 15-point one met.
  ReferenceValues short_of{{2, 3, 4, 5}, {0, 1, 0, 1}, {1.8 + 0.001, 2.8 - 0.001, 3.6, 4.6}};
  const Equivalence tight = equivalence_test(short_of, 0.05, 0.05), wide = equivalence_test(short_of, 0.15, 0.05);
  CHECK(tight.recovered.value == Approx(0.9).margin(1e-12));
  CHECK_FALSE(tight.equivalent);
  CHECK(tight.p_lower > 0.5);
  CHECK(wide.equivalent);
}

TEST_CASE("the paired difference test by hand", "[scrub][statistics]") {
  // Model - baseline = 2 everywhere; a - b = 0.2, 0.4, 0.0, 0.2: D = 0.2 / 2 = 0.1, z = (a - b - 0.2) / 2 =
  // 0, 0.1, -0.1, 0; sd = sqrt(0.02 / 3); SE = sd / 2; t = D / SE with 3 degrees of freedom.
  const std::vector<double> model{3, 3, 3, 3}, baseline{1, 1, 1, 1}, a{2.2, 2.4, 2.0, 2.2}, b{2.0, 2.0, 2.0, 2.0};
  const PairedDifference test = paired_difference_test(model, baseline, a, b);
  const double se = std::sqrt(0.02 / 3) / 2;
  CHECK(test.difference == Approx(0.1).margin(1e-15));
  CHECK(test.standard_error == Approx(se).epsilon(1e-12));
  CHECK(test.t == Approx(0.1 / se).epsilon(1e-12));
  CHECK(test.p_value == Approx(2 * (1 - t_cdf_closed_form(0.1 / se, 3))).margin(1e-12));
  // Identical hypotheses: no difference, p = 1.
  CHECK(paired_difference_test(model, baseline, a, a).p_value == 1.0);
}

TEST_CASE("Holm's adjustment, the permutation p-value and type-7 quantiles", "[scrub][statistics]") {
  // Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> kept monotone at 0.06.
  const std::vector<double> p{0.01, 0.04, 0.03, 0.005};
  const std::vector<double> adjusted = holm_adjusted(p);
  CHECK(adjusted[0] == Approx(0.03));
  CHECK(adjusted[1] == Approx(0.06));
  CHECK(adjusted[2] == Approx(0.06));
  CHECK(adjusted[3] == Approx(0.02));
  CHECK(holm_adjusted(std::vector<double>{0.6, 0.7})[1] == 1.0);  // capped at 1

  // Distances to 100%: 0.1 for the claim; random ones 0.05 (closer), 0.1 (a tie counts against the claim), 0.3.
  CHECK(permutation_p_value(0.1, std::vector<double>{0.05, 0.1, 0.3}) == Approx(3.0 / 4));
  CHECK(permutation_p_value(0.01, std::vector<double>(39, 0.5)) == Approx(1.0 / 40));

  // numpy.quantile([4, 1, 3, 2], q): 0.25 -> 1.75, 0.5 -> 2.5, 0.9 -> 3.7; one value -> itself.
  CHECK(quantile({4, 1, 3, 2}, 0.25) == Approx(1.75));
  CHECK(quantile({4, 1, 3, 2}, 0.5) == Approx(2.5));
  CHECK(quantile({4, 1, 3, 2}, 0.9) == Approx(3.7));
  CHECK(quantile({4, 1, 3, 2}, 0) == 1);
  CHECK(quantile({4, 1, 3, 2}, 1) == 4);
  CHECK(quantile({7}, 0.3) == 7);

  // Per-reference recovery averages to R, and is below 1 where the hypothesis falls short of the model.
  ReferenceValues values{{2, 3, 4, 5}, {0, 1, 0, 1}, {1.5, 3.5, 3.0, 5.0}};
  const std::vector<double> r = per_reference_recovered(values);
  CHECK((r[0] + r[1] + r[2] + r[3]) / 4 == Approx(recovered_with_error(values).value).margin(1e-14));
  CHECK(r[0] < 1);
  CHECK(r[1] > 1);
  CHECK(r[3] == Approx(1.0));
  // Lower-is-better (a loss): a scrubbed value above the model's is a shortfall too.
  ReferenceValues loss{{1, 1, 1, 1}, {3, 3, 3, 3}, {1.5, 1, 1, 0.9}};
  CHECK(per_reference_recovered(loss)[0] < 1);
  CHECK(per_reference_recovered(loss)[3] > 1);
}
