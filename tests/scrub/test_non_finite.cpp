// Non-finite numbers are reported, not scored: finite weights can still overflow float32 in a forward pass,
// and a NaN must neither become a mean nor count silently as a wrong answer.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>

#include "cscrub/error.hpp"
#include "cscrub/scrub/experiment.hpp"
#include "cscrub/scrub/metrics.hpp"
#include "scrub_fixtures.hpp"

namespace scrub = cscrub::scrub;
using Catch::Matchers::Contains;
using cscrub::engine::RowMatrix;

namespace {

struct Setup {
  cscrub::engine::Weights weights = cscrub::test::random_weights(cscrub::test::small_config(), 5);
  cscrub::data::Dataset dataset = cscrub::test::synthetic_dataset(4, cscrub::test::small_config().vocab_size, 9);
  std::vector<int> references{0, 2, 5};
  RowMatrix rows = RowMatrix::Random(3, cscrub::test::small_config().d_model);
};

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const cscrub::Error& error) {
    return error.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("every metric refuses a NaN or infinite final residual, naming the run and the example", "[scrub][non_finite]") {
  Setup setup;
  for (scrub::Metric metric : {scrub::Metric::logit_diff, scrub::Metric::loss, scrub::Metric::kl, scrub::Metric::accuracy}) {
    INFO(scrub::to_string(metric));
    const scrub::MetricEvaluator evaluator(setup.weights, setup.dataset, metric, setup.references, setup.rows);
    const std::vector<double> finite = evaluator.values(setup.rows);
    REQUIRE(finite.size() == 3);
    for (double value : finite) CHECK(std::isfinite(value));

    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      RowMatrix rows = setup.rows;
      rows(1, 7) = bad;  // the second reference: dataset example 2
      const std::string message = message_of([&] { (void)evaluator.values(rows, "scrubbing with 'h' (seed 3)"); });
      CHECK_THAT(message, Contains("scrubbing with 'h' (seed 3) produced non-finite logits (NaN) for dataset example 2"));
    }
  }
}

TEST_CASE("accuracy does not count a NaN logit as a wrong answer", "[scrub][non_finite]") {
  Setup setup;
  // Without distractors accuracy compares the answer with the top logit; NaN compares false with everything.
  for (auto& example : setup.dataset.examples) example.distractor = -1;
  const scrub::MetricEvaluator evaluator(setup.weights, setup.dataset, scrub::Metric::accuracy, setup.references,
                                         setup.rows);
  RowMatrix rows = setup.rows;
  rows(2, 0) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THAT(message_of([&] { (void)evaluator.values(rows); }),
             Contains("the model produced non-finite logits (NaN) for dataset example 5"));
}

TEST_CASE("KL refuses non-finite clean rows when it computes the model's own distribution", "[scrub][non_finite]") {
  Setup setup;
  setup.rows(0, 0) = std::numeric_limits<float>::infinity();
  CHECK_THAT(message_of([&] {
               (void)scrub::MetricEvaluator(setup.weights, setup.dataset, scrub::Metric::kl, setup.references, setup.rows);
             }),
             Contains("the model produced non-finite logits (NaN) for dataset example 0"));
}

TEST_CASE("a model whose finite weights overflow in the forward pass is reported, not scored", "[scrub][non_finite]") {
  Setup setup;
  // MLP weights of 1e30: hidden units ~1e30, their projection ~1e60 = Inf, the layer norm after it NaN.
  for (auto& layer : setup.weights.layers) {
    layer.fc_weight.setConstant(1e30f);
    layer.proj_weight.setConstant(1e30f);
  }
  const auto full = cscrub::test::HypothesisBuilder("full", cscrub::graph::InterpNode::Rest::same).hypothesis;
  const auto none = cscrub::test::HypothesisBuilder("none").hypothesis;
  scrub::ExperimentSettings settings;
  settings.seeds = 2;
  for (scrub::Metric metric : {scrub::Metric::logit_diff, scrub::Metric::loss, scrub::Metric::kl, scrub::Metric::accuracy}) {
    INFO(scrub::to_string(metric));
    settings.metric = metric;
    // The model's own (clean) run already overflows, before any scrubbing.
    CHECK_THAT(message_of([&] { (void)scrub::run_experiment(setup.weights, setup.dataset, {full}, none, settings); }),
               Contains("the model produced non-finite logits (NaN) for dataset example "));
  }
}
