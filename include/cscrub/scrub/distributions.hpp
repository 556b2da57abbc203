// The few distribution functions the hypothesis tests need, in double precision: Student's t, the
// regularized incomplete beta function it is built on, and the Clopper-Pearson interval of a binomial
// proportion (for calibration).
#pragma once

namespace cscrub::scrub {

// I_x(a, b) for a, b > 0 and 0 <= x <= 1 (Lentz's continued fraction, to ~1e-14).
double regularized_incomplete_beta(double x, double a, double b);

// P(T <= t) for Student's t with `degrees_of_freedom` > 0.
double student_t_cdf(double t, double degrees_of_freedom);
// P(T >= t), computed directly so that small tails keep their precision (1 - cdf would round them to 0).
double student_t_upper_tail(double t, double degrees_of_freedom);

// The t with P(T <= t) = p (0 < p < 1), by bisection on student_t_cdf.
double student_t_quantile(double p, double degrees_of_freedom);

struct Interval {
  double low = 0;
  double high = 0;
};

// The exact (Clopper-Pearson) interval of a proportion from `successes` of `trials`, at `confidence`
// (e.g. 0.95): the Beta(k, n - k + 1) and Beta(k + 1, n - k) quantiles.
Interval clopper_pearson(int successes, int trials, double confidence);

}  // namespace cscrub::scrub
