// The variants `cscrub test` scores: a claim without one node (and what reached the output only through it),
// and random circuits of the claim's shape, from its own layers or from any.
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "cscrub/graph/component_id.hpp"
#include "cscrub/graph/hypothesis_file.hpp"
#include "cscrub/graph/variants.hpp"
#include "cscrub/io/model_dir.hpp"
#include "test_paths.hpp"

namespace graph = cscrub::graph;

namespace {

// embed -> early (0.1) -> late (2.0, 2.3) -> output, and mlp 1 -> output.
const char* kChain = R"(
[nodes.late]
heads = ["2.0", "2.3"]
positions = ["END"]
feature = "io_name"
parents = ["early"]

[nodes.early]
heads = ["0.1"]
feature = "s_name"
parents = ["tokens"]

[nodes.tokens]
embed = true
feature = "prompt"

[nodes.helper]
mlps = [1]
feature = "io_name"

[output]
parents = ["late", "helper"]
)";

std::vector<std::string> node_names(const graph::Hypothesis& hypothesis) {
  std::vector<std::string> names;
  for (const auto& node : hypothesis.nodes) names.push_back(node.name);
  return names;
}

const graph::ModelGraph& bundled_model() {
  static const graph::ModelGraph model(cscrub::io::read_config(cscrub::io::default_model_dir() / "config.json"));
  return model;  // 3 layers of 4 heads
}

}  // namespace

TEST_CASE("a node dropped takes with it the nodes that reached the output only through it", "[graph][variants]") {
  const graph::Hypothesis claim = graph::read_hypothesis_text(kChain, "chain.toml");
  std::vector<std::string> dropped;
  const graph::Hypothesis without_late = graph::without_node(claim, 0, dropped);
  CHECK(dropped == std::vector<std::string>{"late", "early", "tokens"});
  CHECK(node_names(without_late) == std::vector<std::string>{"helper", "output"});
  REQUIRE(without_late.edges.size() == 1);
  CHECK(without_late.nodes[static_cast<size_t>(without_late.edges[0].parent)].name == "helper");
  CHECK(without_late.edges[0].child == without_late.output_node);
  CHECK(without_late.name == claim.name + " without late");

  const graph::Hypothesis without_early = graph::without_node(claim, 1, dropped);
  CHECK(dropped == std::vector<std::string>{"early", "tokens"});
  CHECK(node_names(without_early) == std::vector<std::string>{"late", "helper", "output"});
  CHECK(without_early.edges.size() == 2);  // late -> output, helper -> output

  graph::without_node(claim, 3, dropped);
  CHECK(dropped == std::vector<std::string>{"helper"});
}

TEST_CASE("random circuits keep the claim's shape, with heads from its layers or from any", "[graph][variants]") {
  const graph::Hypothesis claim = graph::read_hypothesis_text(kChain, "chain.toml");
  std::map<std::string, int> late_heads;
  std::set<std::string> circuits;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    const graph::Hypothesis circuit = graph::random_circuit(claim, bundled_model(), graph::RandomLayers::same, seed);
    REQUIRE(circuit.nodes.size() == claim.nodes.size());
    CHECK(circuit.edges.size() == claim.edges.size());
    const auto& late = circuit.nodes[0].components;
    REQUIRE(late.size() == 2);
    CHECK(late[0].layer == 2);
    CHECK(late[1].layer == 2);
    CHECK(late[0] != late[1]);
    CHECK(circuit.nodes[1].components.front().layer == 0);
    CHECK(circuit.nodes[3].components.front() == graph::mlp_component(1));  // a layer's one MLP stays
    CHECK(circuit.nodes[2].components.front() == graph::embed_component());
    CHECK(circuit.nodes[0].feature == claim.nodes[0].feature);
    CHECK(circuit.nodes[0].positions.labels == claim.nodes[0].positions.labels);
    for (const auto& head : late) late_heads[graph::to_string(head)] += 1;
    circuits.insert(graph::components_text(circuit));
  }
  // Each of layer 2's four heads is drawn about 800 / 4 times (binomial sd ~ 12).
  REQUIRE(late_heads.size() == 4);
  for (const auto& [head, count] : late_heads) {
    INFO(head << " drawn " << count << " times");
    CHECK(std::abs(count - 200) < 60);
  }
  CHECK(circuits.size() > 20);
  // The same seed, the same circuit.
  CHECK(graph::components_text(graph::random_circuit(claim, bundled_model(), graph::RandomLayers::same, 5)) ==
        graph::components_text(graph::random_circuit(claim, bundled_model(), graph::RandomLayers::same, 5)));

  // From any layer: edges still go forward (early before late), MLPs move too.
  std::set<int> mlp_layers;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const graph::Hypothesis circuit = graph::random_circuit(claim, bundled_model(), graph::RandomLayers::all, seed);
    const int early_layer = circuit.nodes[1].components.front().layer;
    for (const auto& head : circuit.nodes[0].components) CHECK(head.layer > early_layer);
    mlp_layers.insert(circuit.nodes[3].components.front().layer);
  }
  CHECK(mlp_layers.size() == 3);
}

TEST_CASE("a shape no random draw can fill is refused", "[graph][variants]") {
  // Three chained heads in three layers, none of them in the same layer: with heads from any layer, a
  // 2-layer model cannot hold the chain.
  const graph::Hypothesis claim = graph::read_hypothesis_text(R"(
[nodes.c]
heads = ["2.0"]
feature = "io_name"
parents = ["b"]
[nodes.b]
heads = ["1.0"]
feature = "io_name"
parents = ["a"]
[nodes.a]
heads = ["0.0"]
feature = "io_name"
[output]
parents = ["c"]
)", "three.toml");
  cscrub::engine::ModelConfig config;
  config.n_layer = 2;
  config.n_head = 4;
  config.d_model = 8;
  config.d_mlp = 32;
  config.n_ctx = 16;
  config.vocab_size = 10;
  CHECK_THROWS_WITH(graph::random_circuit(claim, graph::ModelGraph(config), graph::RandomLayers::all, 1),
                    Catch::Contains("no random circuit of the shape") && Catch::Contains("10,000 draws"));
}
