// MIB's faithfulness curves: the two invariants (the full circuit exactly 1, the empty one exactly 0), the
// areas, and the curve's values against the circuits evaluated one by one.
#include <catch2/catch.hpp>
#include <random>

#include "cscrub/discover/exact_patching.hpp"
#include "cscrub/discover/faithfulness.hpp"
#include "cscrub/error.hpp"
#include "edge_fixtures.hpp"

using namespace cscrub;
using namespace cscrub::discover;

TEST_CASE("the full circuit is exactly 1 and the empty one exactly 0", "[faithfulness]") {
  const test::DiscoverFixture fixture;
  const EdgeGraph graph = test::graph_of(fixture.weights);
  const PairedDataset pairs = test::pairs_with_common_prefix(3);
  ScoredGraph scores{graph};
  scores.scores = exact_edge_scores(fixture.weights, graph, pairs, {});
  const CircuitAblation ablation = GENERATE(CircuitAblation::counterfactual, CircuitAblation::mean);
  INFO(to_string(ablation));
  CircuitEvaluator evaluator(fixture.weights, graph, pairs, ablation, Metric::logit_diff, 4, false);
  FaithfulnessReference reference;
  const auto curves = faithfulness_curves(evaluator, scores, mib_sizes(),
                                          {Ranking::absolute, Ranking::ascending}, false, reference);
  REQUIRE(curves.size() == 2);
  for (const FaithfulnessCurve& curve : curves) {
    REQUIRE(curve.points.size() == 10);
    CHECK(curve.points.front().requested == 0);  // 0.1% of 262 edges
    CHECK(curve.points.front().faithfulness == 0.0);
    CHECK(curve.points.back().edges == graph.edge_count());
    CHECK(curve.points.back().faithfulness == 1.0);
    CHECK(curve.points[5].requested == static_cast<int>(0.05 * graph.edge_count()));
  }
  CHECK(reference.model != reference.empty);
}

TEST_CASE("each point is the normalized metric of its circuit, and the areas are MIB's trapezoids", "[faithfulness]") {
  const test::DiscoverFixture fixture;
  const EdgeGraph graph = test::graph_of(fixture.weights);
  const PairedDataset pairs = test::pairs_with_common_prefix(2);
  ScoredGraph scores{graph};
  std::mt19937 generator(3);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (double& score : scores.scores) score = normal(generator);
  const std::vector<double> sizes = {0.01, 0.1, 0.3, 1.0};
  CircuitEvaluator evaluator(fixture.weights, graph, pairs, CircuitAblation::counterfactual, Metric::logit_diff,
                             8, true);
  FaithfulnessReference reference;
  const auto curve = faithfulness_curves(evaluator, scores, sizes, {Ranking::descending}, true, reference).front();
  const double empty = evaluator.mean(std::vector<uint8_t>(static_cast<size_t>(graph.edge_count()), 0));
  CHECK(reference.empty == empty);
  CHECK(reference.model == evaluator.clean_mean());
  std::vector<double> values;
  for (size_t i = 0; i < sizes.size(); ++i) {
    ScoredGraph circuit = scores;
    select_greedy(circuit, static_cast<int>(sizes[i] * graph.edge_count()), Ranking::descending);
    const double metric = evaluator.mean(circuit.edge_in_graph);
    CHECK(curve.points[i].metric == metric);
    CHECK(curve.points[i].edges == circuit.edges_in_graph());
    CHECK(curve.points[i].faithfulness == Approx((metric - empty) / (evaluator.clean_mean() - empty)));
    values.push_back(curve.points[i].faithfulness);
  }
  // Trapezoids by hand.
  double under = 0, from_one = 0;
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    under += (sizes[i + 1] - sizes[i]) * (values[i] + values[i + 1]) / 2;
    from_one += (sizes[i + 1] - sizes[i]) * (std::abs(1 - values[i]) + std::abs(1 - values[i + 1])) / 2;
  }
  CHECK(curve.area_under == Approx(under));
  CHECK(curve.area_from_one == Approx(from_one));
}

TEST_CASE("MIB's areas of fixed curves", "[faithfulness]") {
  const std::vector<double> sizes = mib_sizes();
  CHECK(area_under(sizes, std::vector<double>(sizes.size(), 1.0)) == Approx(0.999));
  CHECK(area_from_one(sizes, std::vector<double>(sizes.size(), 1.0)) == 0.0);
  CHECK(area_from_one(sizes, std::vector<double>(sizes.size(), 0.0)) == Approx(0.999));
  CHECK(area_under({0.5, 1.0}, {0.0, 2.0}) == Approx(0.5));
  CHECK(area_from_one({0.5, 1.0}, {0.0, 2.0}) == Approx(0.5));
  CHECK_THROWS_AS(check_sizes({0.1, 0.05}), cscrub::Error);
  CHECK_THROWS_AS(check_sizes({0.0, 0.5}), cscrub::Error);
  CHECK_THROWS_AS(check_sizes({0.5, 1.5}), cscrub::Error);
}

TEST_CASE("circuits cut from exact scores are more faithful than from shuffled scores", "[faithfulness]") {
  const test::DiscoverFixture fixture;
  const EdgeGraph graph = test::graph_of(fixture.weights);
  const PairedDataset pairs = test::pairs_with_common_prefix(3);
  ScoredGraph exact{graph};
  exact.scores = exact_edge_scores(fixture.weights, graph, pairs, {});
  ScoredGraph shuffled = exact;
  std::mt19937 generator(9);
  std::shuffle(shuffled.scores.begin(), shuffled.scores.end(), generator);
  CircuitEvaluator evaluator(fixture.weights, graph, pairs, CircuitAblation::counterfactual, Metric::logit_diff,
                             8, true);
  FaithfulnessReference reference;
  const auto ours = faithfulness_curves(evaluator, exact, mib_sizes(), {Ranking::absolute}, false, reference).front();
  const auto random = faithfulness_curves(evaluator, shuffled, mib_sizes(), {Ranking::absolute}, false, reference).front();
  CHECK(ours.area_from_one < random.area_from_one);
}
