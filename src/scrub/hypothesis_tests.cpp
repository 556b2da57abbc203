#include "cscrub/scrub/hypothesis_tests.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cscrub/scrub/distributions.hpp"

namespace cscrub::scrub {
namespace {

double mean_of(std::span<const double> values) {
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

// The delta-method standard error of numerator mean / denominator mean, from per-reference numerators and
// denominators and the ratio itself: sd(z) / sqrt(n), z_i = (u_i - ratio v_i) / mean v.
double ratio_standard_error(std::span<const double> numerators, std::span<const double> denominators, double ratio) {
  const size_t n = numerators.size();
  if (n < 2) return std::nan("");
  const double scale = mean_of(denominators);
  std::vector<double> z(n);
  for (size_t i = 0; i < n; ++i) z[i] = (numerators[i] - ratio * denominators[i]) / scale;
  const double z_mean = mean_of(z);
  double squares = 0;
  for (double value : z) squares += (value - z_mean) * (value - z_mean);
  return std::sqrt(squares / static_cast<double>(n - 1)) / std::sqrt(static_cast<double>(n));
}

}  // namespace

RatioEstimate recovered_with_error(const ReferenceValues& values) {
  const size_t n = values.model.size();
  std::vector<double> recovered(n), gap(n);
  for (size_t i = 0; i < n; ++i) {
    recovered[i] = values.scrubbed[i] - values.baseline[i];
    gap[i] = values.model[i] - values.baseline[i];
  }
  RatioEstimate estimate;
  estimate.value = mean_of(recovered) / mean_of(gap);
  estimate.standard_error = ratio_standard_error(recovered, gap, estimate.value);
  estimate.degrees_of_freedom = static_cast<int>(n) - 1;
  return estimate;
}

Equivalence equivalence_test(const ReferenceValues& values, double margin, double alpha) {
  Equivalence test;
  test.margin = margin;
  test.alpha = alpha;
  test.recovered = recovered_with_error(values);
  const double r = test.recovered.value, se = test.recovered.standard_error;
  const double df = test.recovered.degrees_of_freedom;
  const auto upper_tail = [&](double distance) {  // P(T >= distance / SE)
    if (se > 0) return student_t_upper_tail(distance / se, df);
    return distance > 0 ? 0.0 : 1.0;
  };
  test.p_lower = upper_tail(r - (1.0 - margin));
  test.p_upper = upper_tail((1.0 + margin) - r);
  test.p_value = std::max(test.p_lower, test.p_upper);
  const double t = student_t_quantile(1.0 - alpha, df);
  test.low = r - t * se;
  test.high = r + t * se;
  test.equivalent = test.p_value <= alpha;
  return test;
}

PairedDifference paired_difference_test(std::span<const double> model, std::span<const double> baseline,
                                        std::span<const double> a, std::span<const double> b) {
  const size_t n = model.size();
  std::vector<double> difference(n), gap(n);
  for (size_t i = 0; i < n; ++i) {
    difference[i] = a[i] - b[i];
    gap[i] = model[i] - baseline[i];
  }
  PairedDifference test;
  test.difference = mean_of(difference) / mean_of(gap);
  test.standard_error = ratio_standard_error(difference, gap, test.difference);
  test.degrees_of_freedom = static_cast<int>(n) - 1;
  if (test.standard_error > 0) {
    test.t = test.difference / test.standard_error;
    test.p_value = 2.0 * student_t_upper_tail(std::abs(test.t), test.degrees_of_freedom);
  } else {
    test.t = test.difference == 0 ? 0.0 : std::copysign(INFINITY, test.difference);
    test.p_value = test.difference == 0 ? 1.0 : 0.0;
  }
  return test;
}

std::vector<double> holm_adjusted(std::span<const double> p_values) {
  const size_t m = p_values.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return p_values[x] < p_values[y]; });
  std::vector<double> adjusted(m);
  double running = 0;
  for (size_t rank = 0; rank < m; ++rank) {
    running = std::max(running, std::min(1.0, static_cast<double>(m - rank) * p_values[order[rank]]));
    adjusted[order[rank]] = running;
  }
  return adjusted;
}

double permutation_p_value(double claim, std::span<const double> random) {
  const auto as_good = std::count_if(random.begin(), random.end(), [&](double value) { return value <= claim; });
  return (1.0 + static_cast<double>(as_good)) / (1.0 + static_cast<double>(random.size()));
}

double quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (position - static_cast<double>(below)) * (values[above] - values[below]);
}

std::vector<double> per_reference_recovered(const ReferenceValues& values) {
  const double gap = mean_of(values.model) - mean_of(values.baseline);
  std::vector<double> recovered(values.model.size());
  for (size_t i = 0; i < recovered.size(); ++i) recovered[i] = 1.0 - (values.model[i] - values.scrubbed[i]) / gap;
  return recovered;
}

}  // namespace cscrub::scrub
