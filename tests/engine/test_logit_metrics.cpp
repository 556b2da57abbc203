// The metrics of one row of logits against their textbook formulas (computed here in long double from the
// probabilities), and their gradients against central finite differences in double.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "cscrub/engine/logit_metrics.hpp"

using namespace cscrub::engine;

namespace {

std::vector<float> random_logits(int count, unsigned seed, float spread) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<float> logits(static_cast<size_t>(count));
  for (float& logit : logits) logit = normal(generator);
  return logits;
}

std::vector<long double> probabilities(const std::vector<float>& logits) {
  long double sum = 0;
  for (float logit : logits) sum += std::exp(static_cast<long double>(logit));
  std::vector<long double> p;
  for (float logit : logits) p.push_back(std::exp(static_cast<long double>(logit)) / sum);
  return p;
}

// Central differences of `metric` at `logits`, each logit moved by ±step (logits are floats: the step is
// large enough to move them exactly, small enough for the curvature not to matter at the tolerance used).
std::vector<double> finite_differences(const std::vector<float>& logits,
                                       const std::function<double(const std::vector<float>&)>& metric) {
  const float step = 1.0f / 256;
  std::vector<double> result;
  for (size_t i = 0; i < logits.size(); ++i) {
    std::vector<float> up = logits, down = logits;
    up[i] += step;
    down[i] -= step;
    result.push_back((metric(up) - metric(down)) / (static_cast<double>(up[i]) - down[i]));
  }
  return result;
}

void check_gradient(const std::vector<float>& gradient, const std::vector<double>& expected) {
  REQUIRE(gradient.size() == expected.size());
  for (size_t i = 0; i < gradient.size(); ++i) {
    INFO("logit " << i);
    CHECK(gradient[i] == Approx(expected[i]).margin(2e-5).epsilon(1e-3));
  }
}

}  // namespace

TEST_CASE("logit metrics match their formulas and their gradients match finite differences", "[engine][metrics]") {
  const float spread = GENERATE(0.5f, 4.0f, 30.0f);  // 30: a peaked distribution, where a naive exp overflows
  INFO("logits with standard deviation " << spread);
  const std::vector<float> logits = random_logits(57, 3, spread), reference = random_logits(57, 4, spread);
  const int answer = 5, distractor = 40;
  const std::vector<long double> p = probabilities(logits), p_reference = probabilities(reference);
  using logit_metrics::with_log_normaliser;
  const auto row = with_log_normaliser(logits), reference_row = with_log_normaliser(reference);

  CHECK(logit_metrics::logit_difference(logits, answer, distractor) ==
        static_cast<double>(logits[answer]) - logits[distractor]);
  CHECK(logit_metrics::probability_difference(row, answer, distractor) ==
        Approx(static_cast<double>(p[answer] - p[distractor])).margin(1e-12));
  CHECK(logit_metrics::cross_entropy(row, answer) == Approx(static_cast<double>(-std::log(p[answer]))).epsilon(1e-12));
  long double kl = 0;
  for (size_t i = 0; i < p.size(); ++i) kl += p_reference[i] * (std::log(p_reference[i]) - std::log(p[i]));
  CHECK(logit_metrics::kl_divergence(reference_row, row) == Approx(static_cast<double>(kl)).epsilon(1e-9).margin(1e-12));
  CHECK(logit_metrics::kl_divergence(row, row) == Approx(0.0).margin(1e-12));

  std::vector<float> gradient(logits.size());
  logit_metrics::logit_difference_gradient(answer, distractor, gradient);
  check_gradient(gradient, finite_differences(logits, [&](const std::vector<float>& l) {
                   return logit_metrics::logit_difference(l, answer, distractor);
                 }));
  logit_metrics::probability_difference_gradient(row, answer, distractor, gradient);
  check_gradient(gradient, finite_differences(logits, [&](const std::vector<float>& l) {
                   return logit_metrics::probability_difference(with_log_normaliser(l), answer, distractor);
                 }));
  logit_metrics::cross_entropy_gradient(row, answer, gradient);
  check_gradient(gradient, finite_differences(logits, [&](const std::vector<float>& l) {
                   return logit_metrics::cross_entropy(with_log_normaliser(l), answer);
                 }));
  logit_metrics::kl_divergence_gradient(reference_row, row, gradient);
  check_gradient(gradient, finite_differences(logits, [&](const std::vector<float>& l) {
                   return logit_metrics::kl_divergence(reference_row, with_log_normaliser(l));
                 }));
}

TEST_CASE("the logit difference of a token with itself is 0, and so is its gradient", "[engine][metrics]") {
  const std::vector<float> logits = random_logits(9, 1, 1.0f);
  CHECK(logit_metrics::logit_difference(logits, 3, 3) == 0.0);
  std::vector<float> gradient(logits.size(), 7.0f);
  logit_metrics::logit_difference_gradient(3, 3, gradient);
  for (float g : gradient) CHECK(g == 0.0f);
}
