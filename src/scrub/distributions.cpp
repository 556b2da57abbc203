#include "cscrub/scrub/distributions.hpp"

#include <cmath>
#include <limits>

namespace cscrub::scrub {
namespace {

// The continued fraction of I_x(a, b) (its even and odd terms), by the modified Lentz method; converges fast
// for x < (a + 1) / (a + b + 2).
double beta_continued_fraction(double x, double a, double b) {
  constexpr double kTiny = 1e-300;
  const auto guard = [](double value) { return std::abs(value) < kTiny ? kTiny : value; };
  double c = 1.0;
  double d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
  double fraction = d;
  for (int m = 1; m <= 1000; ++m) {
    const double even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
    d = 1.0 / guard(1.0 + even * d);
    c = guard(1.0 + even / c);
    fraction *= d * c;
    const double odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
    d = 1.0 / guard(1.0 + odd * d);
    c = guard(1.0 + odd / c);
    const double step = d * c;
    fraction *= step;
    if (std::abs(step - 1.0) < 1e-15) break;
  }
  return fraction;
}

// The x in [0, 1] with I_x(a, b) = p, by bisection (I_x is increasing in x).
double beta_quantile(double p, double a, double b) {
  double low = 0.0, high = 1.0;
  for (int step = 0; step < 200 && high - low > 1e-15; ++step) {
    const double middle = 0.5 * (low + high);
    (regularized_incomplete_beta(middle, a, b) < p ? low : high) = middle;
  }
  return 0.5 * (low + high);
}

}  // namespace

double regularized_incomplete_beta(double x, double a, double b) {
  if (x <= 0) return 0.0;
  if (x >= 1) return 1.0;
  const double log_front = a * std::log(x) + b * std::log1p(-x) - (std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b));
  if (x < (a + 1.0) / (a + b + 2.0)) return std::exp(log_front) * beta_continued_fraction(x, a, b) / a;
  return 1.0 - std::exp(log_front) * beta_continued_fraction(1.0 - x, b, a) / b;
}

double student_t_cdf(double t, double degrees_of_freedom) {
  if (std::isnan(t)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  const double nu = degrees_of_freedom;
  const double tail = 0.5 * regularized_incomplete_beta(nu / (nu + t * t), 0.5 * nu, 0.5);  // P(T > |t|)
  return t >= 0 ? 1.0 - tail : tail;
}

double student_t_upper_tail(double t, double degrees_of_freedom) { return student_t_cdf(-t, degrees_of_freedom); }

double student_t_quantile(double p, double degrees_of_freedom) {
  double low = -1.0, high = 1.0;
  while (student_t_cdf(low, degrees_of_freedom) > p) low *= 2;
  while (student_t_cdf(high, degrees_of_freedom) < p) high *= 2;
  for (int step = 0; step < 200 && high - low > 1e-13 * std::max(1.0, std::abs(high)); ++step) {
    const double middle = 0.5 * (low + high);
    (student_t_cdf(middle, degrees_of_freedom) < p ? low : high) = middle;
  }
  return 0.5 * (low + high);
}

Interval clopper_pearson(int successes, int trials, double confidence) {
  const double tail = 0.5 * (1.0 - confidence);
  const double k = successes, n = trials;
  Interval interval;
  interval.low = successes == 0 ? 0.0 : beta_quantile(tail, k, n - k + 1.0);
  interval.high = successes == trials ? 1.0 : beta_quantile(1.0 - tail, k + 1.0, n - k);
  return interval;
}

}  // namespace cscrub::scrub
