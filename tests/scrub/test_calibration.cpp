// Calibration: the tests of `cscrub test` hold their level. Each case counts rejections at alpha = 0.05 over
// hundreds of replicates where the null hypothesis is true, and requires the rate to be consistent with
// alpha: its 99% Clopper-Pearson interval must reach down to alpha (not significantly above it) and up to
// alpha / 2.5 (not so conservative that the test is useless). The observed rates and their 95% intervals
// are printed (docs/hypothesis-tests.md quotes them):
//   build/tests/test_scrub "[calibration]" --success | grep rejected
#include <omp.h>

#include <catch2/catch.hpp>
#include <random>

#include "cscrub/scrub/distributions.hpp"
#include "cscrub/scrub/experiment.hpp"
#include "cscrub/scrub/hypothesis_tests.hpp"
#include "scrub_fixtures.hpp"

using namespace cscrub;
using test::HypothesisBuilder;

namespace {

constexpr double kAlpha = 0.05;

void check_level(const std::string& what, int rejections, int replicates) {
  const scrub::Interval wide = scrub::clopper_pearson(rejections, replicates, 0.99);
  const scrub::Interval reported = scrub::clopper_pearson(rejections, replicates, 0.95);
  const double rate = static_cast<double>(rejections) / replicates;
  // Printed with --success: the numbers the docs quote.
  INFO(what << ": rejected " << rejections << " of " << replicates << " (" << 100 * rate << "%, 95% interval "
            << 100 * reported.low << "% to " << 100 * reported.high << "%) at alpha " << kAlpha);
  CHECK(wide.low <= kAlpha);
  CHECK(wide.high >= kAlpha / 2.5);
}

// Per-reference values of a claim that recovers `truth` of the gap on average: m ~ N(3, 1), b ~ N(0, 1),
// s = b + truth (m - b) + N(0, noise).
scrub::ReferenceValues synthetic_references(std::mt19937_64& generator, int n, double truth, double noise) {
  std::normal_distribution<double> normal(0.0, 1.0);
  scrub::ReferenceValues values;
  for (int i = 0; i < n; ++i) {
    const double m = 3 + normal(generator), b = normal(generator);
    values.model.push_back(m);
    values.baseline.push_back(b);
    values.scrubbed.push_back(b + truth * (m - b) + noise * normal(generator));
  }
  return values;
}

}  // namespace

TEST_CASE("calibration: two identical hypotheses under different seeds differ at rate alpha", "[scrub][calibration]") {
  // A tiny random model, scored with KL to the model's own outputs (so that the baseline differs from the
  // model); one claim, scrubbed under two disjoint sets of seeds on the same prompts: the paired test of the
  // difference of their % recovered must reject about alpha of the time. A new dataset per replicate.
  engine::ModelConfig config = test::small_config();
  config.n_layer = 2;
  config.d_model = 32;
  config.d_mlp = 64;
  config.vocab_size = 40;
  const engine::Weights weights = test::random_weights(config, 71);
  HypothesisBuilder claim("movers", graph::InterpNode::Rest::random);
  const int movers = claim.node("movers", {test::head(1, 0), test::head(1, 2)}, {"a"}, {{"END"}, {}});
  const int early = claim.node("early", {test::head(0, 1), test::mlp(0)}, {"b"});
  claim.edge(movers, 0).edge(early, movers, {graph::Port::k, graph::Port::v});
  HypothesisBuilder none("none");

  scrub::ExperimentSettings settings;
  settings.metric = scrub::Metric::kl;
  settings.seeds = 2;
  settings.bootstrap_resamples = 1;  // intervals unused here
  constexpr int kReplicates = 600;
  // One thread: the same numbers (results do not depend on threads), without two threads waiting on each
  // other thousands of times on a busy machine.
  const int saved_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  int rejections = 0;
  for (int replicate = 0; replicate < kReplicates; ++replicate) {
    const data::Dataset dataset = test::synthetic_dataset(25, config.vocab_size, 1000 + replicate);
    settings.seed = 10 * static_cast<uint64_t>(replicate);
    const auto first = scrub::run_experiment(weights, dataset, {claim.hypothesis}, none.hypothesis, settings);
    settings.seed += 5;  // seeds 10r + 5 and 10r + 6: none shared with the first run
    const auto second = scrub::run_experiment(weights, dataset, {claim.hypothesis}, none.hypothesis, settings);
    const scrub::ReferenceValues& a = first.hypotheses.front().values;
    REQUIRE(first.recoverable.defined);
    const auto test = scrub::paired_difference_test(a.model, a.baseline, a.scrubbed, second.hypotheses.front().values.scrubbed);
    rejections += test.p_value <= kAlpha ? 1 : 0;
  }
  omp_set_num_threads(saved_threads);
  check_level("identical hypotheses, different seeds (paired t test)", rejections, kReplicates);
}

TEST_CASE("calibration: equivalence rejects at most alpha at the margin", "[scrub][calibration]") {
  // True % recovered exactly 95% (the lower margin): declaring equivalence is the error.
  std::mt19937_64 generator(2024);
  constexpr int kReplicates = 2000;
  int rejections = 0;
  for (int replicate = 0; replicate < kReplicates; ++replicate) {
    const auto values = synthetic_references(generator, 100, 0.95, 0.2);
    rejections += scrub::equivalence_test(values, 0.05, kAlpha).equivalent ? 1 : 0;
  }
  check_level("equivalence (TOST) at the margin, true recovery 95%", rejections, kReplicates);
  // Well inside the margin it does find equivalence.
  int found = 0;
  for (int replicate = 0; replicate < 200; ++replicate)
    found += scrub::equivalence_test(synthetic_references(generator, 100, 1.0, 0.2), 0.05, kAlpha).equivalent ? 1 : 0;
  CHECK(found > 150);
}

TEST_CASE("calibration: Holm's correction holds the family-wise error over nodes", "[scrub][calibration]") {
  // Five nodes none of which matters: dropping each gives scrubbed values of the same distribution.
  std::mt19937_64 generator(7);
  std::normal_distribution<double> normal(0.0, 1.0);
  constexpr int kReplicates = 2000, kNodes = 5, kReferences = 80;
  int any_rejected = 0, uncorrected = 0;
  for (int replicate = 0; replicate < kReplicates; ++replicate) {
    const auto claim = synthetic_references(generator, kReferences, 0.8, 0.3);
    std::vector<double> p_values;
    for (int node = 0; node < kNodes; ++node) {
      std::vector<double> without(kReferences);
      for (int i = 0; i < kReferences; ++i)
        without[i] = claim.baseline[i] + 0.8 * (claim.model[i] - claim.baseline[i]) + 0.3 * normal(generator);
      p_values.push_back(scrub::paired_difference_test(claim.model, claim.baseline, claim.scrubbed, without).p_value);
    }
    const auto adjusted = scrub::holm_adjusted(p_values);
    any_rejected += std::any_of(adjusted.begin(), adjusted.end(), [](double p) { return p <= kAlpha; }) ? 1 : 0;
    uncorrected += std::any_of(p_values.begin(), p_values.end(), [](double p) { return p <= kAlpha; }) ? 1 : 0;
  }
  check_level("Holm-corrected necessity, 5 unneeded nodes (any rejected)", any_rejected, kReplicates);
  // Without the correction the family-wise error is several times alpha.
  CHECK(uncorrected > 3 * any_rejected);
}

TEST_CASE("calibration: the permutation p-value of a claim that is a random circuit", "[scrub][calibration]") {
  // The claim's distance to 100% drawn like the 39 random circuits': P(p <= 0.05) = 2 / 40.
  std::mt19937_64 generator(99);
  std::gamma_distribution<double> distance(2.0, 0.1);
  constexpr int kReplicates = 2000;
  int rejections = 0;
  for (int replicate = 0; replicate < kReplicates; ++replicate) {
    std::vector<double> random(39);
    for (double& value : random) value = distance(generator);
    rejections += scrub::permutation_p_value(distance(generator), random) <= kAlpha ? 1 : 0;
  }
  check_level("random circuits' permutation p-value, claim exchangeable with them", rejections, kReplicates);
}
