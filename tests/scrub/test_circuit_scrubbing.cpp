// Where causal scrubbing and MIB's patching evaluation are defined to agree: a circuit written as a hypothesis
// (every node of feature "prompt"), scrubbed on a dataset whose alignment groups each hold exactly one clean
// prompt and its corrupted twin. Then every node is evaluated on the reference itself, and the one random
// prompt each node evaluation resamples its unclaimed inputs from is always the other prompt of the group,
// the reference's twin: the inputs a node does not claim carry the twin's activations, exactly as the edges
// outside the circuit carry the corrupted ones. So each reference's scrubbed metric is its circuit metric.
// (With larger groups the random prompt differs from one node evaluation to the next, and the two differ.)
#include <catch2/catch.hpp>
#include <fstream>
#include <random>

#include "cscrub/discover/circuit_evaluation.hpp"
#include "cscrub/discover/circuit_export.hpp"
#include "cscrub/discover/circuit_selection.hpp"
#include "cscrub/discover/exact_patching.hpp"
#include "cscrub/engine/components.hpp"
#include "cscrub/graph/check.hpp"
#include "cscrub/graph/hypothesis_file.hpp"
#include "cscrub/scrub/clean_cache.hpp"
#include "cscrub/scrub/scrubber.hpp"
#include "random_weights.hpp"
#include "synthetic_prompts.hpp"
#include "test_paths.hpp"

using namespace cscrub;

namespace {

// Alignment groups of two prompts of equal length that agree on their first tokens.
data::Dataset twin_prompts(int groups, int vocab, unsigned seed) {
  data::Dataset dataset;
  dataset.schema = test::synthetic_schema({"a"});
  std::mt19937 generator(seed);
  for (int g = 0; g < groups; ++g) {
    const int length = 6 + g % 3;
    data::Example first = test::random_prompt(generator, vocab, length);
    data::Example second = test::random_prompt(generator, vocab, length);
    for (int p = 0; p < 1 + g % 4; ++p) second.tokens[static_cast<size_t>(p)] = first.tokens[static_cast<size_t>(p)];
    for (data::Example* example : {&first, &second}) {
      example->group = std::to_string(g);
      example->features = {"0"};
      dataset.examples.push_back(*example);
    }
  }
  return dataset;
}

graph::Hypothesis hypothesis_of(const discover::ScoredGraph& circuit, const engine::ModelConfig& config,
                                const data::TaskSchema& schema, const std::string& label) {
  discover::CircuitText names;
  names.name = label;
  names.task = schema.task;
  const std::string text = discover::circuit_hypothesis_toml(circuit, names);
  const std::filesystem::path file = test::scratch_dir("circuit-scrubbing") / "circuit.toml";
  std::ofstream(file) << text;
  graph::Hypothesis hypothesis = graph::read_hypothesis_file(file);
  graph::validate(hypothesis, graph::ModelGraph(config), schema);
  return hypothesis;
}

}  // namespace

TEST_CASE("a circuit scrubbed with feature 'prompt' everywhere is its patching evaluation, where groups are twins",
          "[scrub][circuit]") {
  // Every family: GPT-2, GPT-Neo, Pythia (whose hypothesis has no head -> MLP of one parallel block).
  const engine::ModelConfig config = GENERATE(from_range(test::small_configs_of_every_family()));
  INFO(to_string(config.family));
  const engine::Weights weights = test::random_weights(config, 21);
  const data::Dataset dataset = twin_prompts(6, weights.config.vocab_size, 22);
  const discover::PairedDataset pairs = discover::pair_within_groups(dataset, 3);  // each prompt with its twin
  const discover::EdgeGraph graph(discover::graph_shape(weights.config));

  discover::ScoredGraph scores{graph};
  scores.scores = discover::exact_edge_scores(weights, graph, pairs, {});
  std::vector<discover::ScoredGraph> circuits;
  for (int edges : {0, 8, 40, graph.edge_count()}) {
    discover::ScoredGraph circuit = scores;
    discover::select_top(circuit, edges, discover::Ranking::absolute);
    circuits.push_back(std::move(circuit));
  }
  discover::ScoredGraph greedy = scores;
  discover::select_greedy(greedy, 25, discover::Ranking::absolute);
  circuits.push_back(std::move(greedy));

  std::vector<std::vector<uint8_t>> masks;
  for (const auto& circuit : circuits) masks.push_back(circuit.edge_in_graph);
  discover::CircuitEvaluator evaluator(weights, graph, pairs, discover::CircuitAblation::counterfactual,
                                       discover::Metric::logit_diff, 4, false);
  const auto patched = evaluator.per_pair(masks);

  std::vector<int> references(dataset.examples.size());
  for (size_t i = 0; i < references.size(); ++i) references[i] = static_cast<int>(i);
  for (size_t c = 0; c < circuits.size(); ++c) {
    INFO("circuit " << c << ": " << circuits[c].edges_in_graph() << " edges");
    const graph::Hypothesis hypothesis = hypothesis_of(circuits[c], weights.config, dataset.schema, "circuit");
    const scrub::CleanCache cache(weights, dataset, scrub::streams_needed(hypothesis, weights.config), 4);
    scrub::Scrubber scrubber(weights, cache, hypothesis, 3);
    const engine::RowMatrix final_rows = scrubber.final_rows(references, 5);
    for (size_t i = 0; i < references.size(); ++i) {
      const data::Example& example = dataset.examples[i];
      const std::vector<int32_t> ids{example.answer, example.distractor};
      const engine::RowMatrix logits = engine::unembed(weights, final_rows.row(static_cast<Eigen::Index>(i)), ids);
      INFO("reference " << i);
      CHECK(static_cast<double>(logits(0, 0)) - logits(0, 1) == Approx(patched[c][i]).margin(1e-4));
    }
  }
  // The circuits differ from each other, and from the model: the comparison is not empty.
  CHECK(patched[1] != patched[3]);
  CHECK(patched[0] != patched[3]);
}
