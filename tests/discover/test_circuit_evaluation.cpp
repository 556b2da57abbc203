// Circuit evaluation (MIB's definition) against the literal sum of each destination's sources, one prompt at a
// time; and its two ends against the plain forward passes, bit for bit. In every family (GPT-Neo's local windows,
// Pythia's rotary parallel blocks).
#include <catch2/catch.hpp>
#include <iostream>
#include <random>

#include "cscrub/discover/circuit_evaluation.hpp"
#include "cscrub/engine/forward.hpp"
#include "edge_fixtures.hpp"
#include "edge_reference.hpp"

using namespace cscrub;
using discover::CircuitAblation;
using discover::CircuitEvaluator;
using discover::Metric;

namespace {

std::vector<uint8_t> random_circuit(int edges, double share, unsigned seed) {
  std::mt19937 generator(seed);
  std::bernoulli_distribution keep(share);
  std::vector<uint8_t> circuit(static_cast<size_t>(edges));
  for (auto& in : circuit) in = keep(generator) ? 1 : 0;
  return circuit;
}

// Every source's mean output over every position of every prompt of `dataset`, by hand.
std::vector<engine::RowMatrix> means_by_hand(const engine::Weights& weights, const discover::EdgeGraph& graph,
                                             const data::Dataset& dataset) {
  std::vector<Eigen::RowVectorXd> sums(static_cast<size_t>(graph.source_count()),
                                       Eigen::RowVectorXd::Zero(weights.config.d_model));
  double rows = 0;
  for (const data::Example& example : dataset.examples) {
    const auto outputs = test::source_outputs_by_hand(weights, graph, example.tokens);
    for (size_t s = 0; s < outputs.size(); ++s) sums[s] += outputs[s].cast<double>().colwise().sum();
    rows += static_cast<double>(example.tokens.size());
  }
  std::vector<engine::RowMatrix> means;
  for (const auto& sum : sums) means.push_back((sum / rows).cast<float>());
  return means;
}

// logit(answer) - logit(distractor) of the plain forward pass of `tokens`, with the labels of `labels`.
double forward_logit_diff(const engine::Weights& weights, const std::vector<int32_t>& tokens, const data::Example& labels) {
  engine::LogitRequest request;
  request.positions = engine::LogitRequest::Positions::last;
  request.token_ids = {labels.answer, labels.distractor};
  const engine::RowMatrix logits =
      engine::forward(weights, {tokens, 1, static_cast<int>(tokens.size())}, request);
  return static_cast<double>(logits(0, 0)) - static_cast<double>(logits(0, 1));
}

}  // namespace

TEST_CASE("a circuit's metric is the sum of what each destination's sources contribute", "[circuit-evaluation]") {
  const engine::ModelConfig config = GENERATE(from_range(test::small_configs_of_every_family()));
  const test::DiscoverFixture fixture = test::DiscoverFixture::of(config);
  const engine::Weights& weights = fixture.weights;
  const discover::EdgeGraph graph = test::graph_of(weights);
  const discover::PairedDataset pairs = test::pairs_with_common_prefix();
  const CircuitAblation ablation = GENERATE(CircuitAblation::counterfactual, CircuitAblation::mean);
  INFO(to_string(config.family) << ", " << discover::to_string(ablation));
  CircuitEvaluator evaluator(weights, graph, pairs, ablation, Metric::logit_diff, 3, false);
  const std::vector<engine::RowMatrix> means =
      ablation == CircuitAblation::mean ? means_by_hand(weights, graph, pairs.corrupted) : std::vector<engine::RowMatrix>{};

  std::vector<std::vector<uint8_t>> circuits;
  for (double share : {0.05, 0.5, 0.95}) circuits.push_back(random_circuit(graph.edge_count(), share, 17));
  const auto values = evaluator.per_pair(circuits);
  double worst = 0;
  for (size_t c = 0; c < circuits.size(); ++c) {
    for (size_t i = 0; i < pairs.clean.examples.size(); ++i) {
      const auto& clean = pairs.clean.examples[i];
      const auto ablated = test::source_outputs_by_hand(weights, graph, pairs.corrupted.examples[i].tokens);
      const double expected = test::logit_diff_by_hand(
          weights, graph, clean.tokens, clean, [&](int source, int destination, const engine::RowMatrix& run) {
            if (circuits[c][static_cast<size_t>(*graph.edge_index(source, destination))]) return run;
            if (ablation == CircuitAblation::counterfactual) return ablated[static_cast<size_t>(source)];
            return engine::RowMatrix(means[static_cast<size_t>(source)].replicate(run.rows(), 1));
          });
      INFO("circuit " << c << ", pair " << i);
      CHECK(values[c][i] == Approx(expected).margin(2e-4));
      worst = std::max(worst, std::abs(values[c][i] - expected));
    }
  }
  // A circuit that matters: the three differ from each other.
  CHECK(values[0] != values[2]);
  std::cout << to_string(config.family) << ": circuit evaluation (" << discover::to_string(ablation)
            << ") vs by hand: max |diff| " << worst << "\n";
}

TEST_CASE("the full circuit is the clean forward pass and the empty one the corrupted pass, bit for bit", "[circuit-evaluation]") {
  const engine::ModelConfig config = GENERATE(from_range(test::small_configs_of_every_family()));
  INFO(to_string(config.family));
  const test::DiscoverFixture fixture = test::DiscoverFixture::of(config);
  const discover::EdgeGraph graph = test::graph_of(fixture.weights);
  const discover::PairedDataset pairs = test::pairs_with_common_prefix();
  CircuitEvaluator evaluator(fixture.weights, graph, pairs, CircuitAblation::counterfactual, Metric::logit_diff, 4,
                             true);
  const auto values = evaluator.per_pair({std::vector<uint8_t>(static_cast<size_t>(graph.edge_count()), 1),
                                          std::vector<uint8_t>(static_cast<size_t>(graph.edge_count()), 0)});
  for (size_t i = 0; i < pairs.clean.examples.size(); ++i) {
    const auto& clean = pairs.clean.examples[i];
    INFO("pair " << i);
    CHECK(values[0][i] == forward_logit_diff(fixture.weights, clean.tokens, clean));
    CHECK(evaluator.clean()[i] == values[0][i]);
    CHECK(values[1][i] == forward_logit_diff(fixture.weights, pairs.corrupted.examples[i].tokens, clean));
  }
}

TEST_CASE("circuit values do not depend on the batch size or on keeping batches", "[circuit-evaluation][determinism]") {
  const engine::ModelConfig config = GENERATE(from_range(test::small_configs_of_every_family()));
  INFO(to_string(config.family));
  const test::DiscoverFixture fixture = test::DiscoverFixture::of(config);
  const discover::EdgeGraph graph = test::graph_of(fixture.weights);
  const discover::PairedDataset pairs = test::pairs_with_common_prefix(5);
  const std::vector<std::vector<uint8_t>> circuits = {random_circuit(graph.edge_count(), 0.3, 5)};
  const CircuitAblation ablation = GENERATE(CircuitAblation::counterfactual, CircuitAblation::mean);
  CircuitEvaluator one(fixture.weights, graph, pairs, ablation, Metric::kl, 1, false);
  CircuitEvaluator all(fixture.weights, graph, pairs, ablation, Metric::kl, 64, true);
  const auto by_one = one.per_pair(circuits), by_all = all.per_pair(circuits);
  CHECK(by_one == by_all);
  CHECK(all.per_pair(circuits) == by_all);  // the resident batches give the same again
  CHECK(one.mean(circuits[0]) == all.mean(circuits[0]));
  CHECK(all.mean(circuits[0]) > 0.0);  // KL of an ablated circuit from the clean model
  CHECK(all.clean_mean() == 0.0);      // and of the model from itself
}
