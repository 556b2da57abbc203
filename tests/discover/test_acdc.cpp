// ACDC: its two ends (tau = 0 keeps everything that matters, tau = infinity nothing), the bookkeeping of the
// changes it records, and determinism.
#include <catch2/catch.hpp>
#include <limits>

#include "cscrub/discover/acdc.hpp"
#include "cscrub/discover/circuit_evaluation.hpp"
#include "cscrub/discover/exact_patching.hpp"
#include "edge_fixtures.hpp"

using namespace cscrub;
using discover::Metric;

TEST_CASE("ACDC with tau = infinity keeps nothing: the corrupted run", "[acdc]") {
  const test::DiscoverFixture fixture;
  const discover::EdgeGraph graph = test::graph_of(fixture.weights);
  const discover::PairedDataset pairs = test::pairs_with_common_prefix(2);
  const auto result = discover::acdc(fixture.weights, graph, pairs,
                                     {.metric = Metric::kl, .threshold = std::numeric_limits<double>::infinity()});
  CHECK(result.kept == 0);
  CHECK(result.graph.edges_in_graph() == 0);
  CHECK(result.graph.nodes_in_graph() == 0);
  discover::CircuitEvaluator evaluator(fixture.weights, graph, pairs, discover::CircuitAblation::counterfactual,
                                       Metric::kl, 8, false);
  const double corrupted = evaluator.mean(std::vector<uint8_t>(static_cast<size_t>(graph.edge_count()), 0));
  CHECK(corrupted > 0.01);
  CHECK(result.pruned_metric == corrupted);
  CHECK(result.model_metric == 0.0);
  // Once a node has lost its outgoing edges, its inputs are not tried.
  CHECK(result.tried < graph.edge_count());
}

TEST_CASE("ACDC with tau = 0 keeps every edge that matters and reproduces the model", "[acdc]") {
  // Every family: GPT-2, GPT-Neo, Pythia (whose MLPs do not read their own layer's heads).
  const test::DiscoverFixture fixture =
      test::DiscoverFixture::of(GENERATE(from_range(test::small_configs_of_every_family())));
  const discover::EdgeGraph graph = test::graph_of(fixture.weights);
  const discover::PairedDataset pairs = test::pairs_with_common_prefix(2);
  const auto result = discover::acdc(fixture.weights, graph, pairs, {.metric = Metric::kl, .threshold = 0.0});
  CHECK(result.final_metric == result.model_metric);  // only changes of exactly 0 were accepted
  CHECK(result.pruned_metric == Approx(result.model_metric).margin(1e-6));
  const std::vector<double> exact = discover::exact_edge_scores(fixture.weights, graph, pairs, {.metric = Metric::kl});
  int mattering = 0;
  for (size_t e = 0; e < exact.size(); ++e) {
    if (exact[e] <= 1e-6) continue;
    ++mattering;
    INFO(graph.edge_name(graph.edges()[e]) << ": exact score " << exact[e]);
    CHECK(result.graph.edge_in_graph[e] == 1);
  }
  CHECK(mattering > graph.edge_count() / 2);
}

TEST_CASE("ACDC records each change it measured and keeps exactly the edges that moved the metric by more than tau",
          "[acdc]") {
  const test::DiscoverFixture fixture;
  const discover::EdgeGraph graph = test::graph_of(fixture.weights);
  const discover::PairedDataset pairs = test::pairs_with_common_prefix(2);
  const Metric metric = GENERATE(Metric::kl, Metric::logit_diff);
  const double threshold = metric == Metric::kl ? 0.002 : 0.1;
  INFO(discover::to_string(metric));
  discover::AcdcResult result = discover::acdc(fixture.weights, graph, pairs, {.metric = metric, .threshold = threshold});
  CHECK(result.kept > 0);
  CHECK(result.kept < graph.edge_count() / 2);

  // Replay the decisions: the recorded changes of the removed edges add up to the final metric's distance from
  // the model's; each removed edge moved it by at most tau, each kept one by more.
  const auto kept = discover::acdc(fixture.weights, graph, pairs, {.metric = metric, .threshold = threshold, .batch_size = 1});
  CHECK(kept.graph.scores == result.graph.scores);  // any batch size, the same run
  CHECK(kept.graph.edge_in_graph == result.graph.edge_in_graph);
  double removed_sum = 0;
  for (size_t e = 0; e < result.graph.scores.size(); ++e) {
    const double change = result.graph.scores[e];
    CHECK(std::isfinite(change));
    if (std::abs(change) <= threshold) removed_sum += change;
  }
  CHECK(result.final_metric - result.model_metric == Approx(removed_sum).margin(1e-9));
  int kept_edges_over_threshold = 0;
  for (size_t e = 0; e < result.graph.scores.size(); ++e)
    if (std::abs(result.graph.scores[e]) > threshold) ++kept_edges_over_threshold;
  CHECK(kept_edges_over_threshold == result.kept);
  CHECK(result.graph.edges_in_graph() <= result.kept);  // pruning only removes
}
