// A circuit written as a hypothesis file and as a picture, and the provenance graph files carry. (That the
// hypothesis file is read, checked and scrubbed as the patching evaluation says: tests/scrub/test_circuit_scrubbing.)
#include <catch2/catch.hpp>

#include "cscrub/discover/circuit_export.hpp"
#include "cscrub/discover/graph_provenance.hpp"
#include "cscrub/error.hpp"

using namespace cscrub::discover;

namespace {

ScoredGraph small_circuit() {
  ScoredGraph circuit{EdgeGraph({.n_layers = 2, .n_heads = 2, .d_model = 8})};
  auto mark = [&](const char* name, double score) {
    const Edge edge = *circuit.graph.find_edge(name);
    const auto e = static_cast<size_t>(*circuit.graph.edge_index(edge.source, edge.destination));
    circuit.edge_in_graph[e] = 1;
    circuit.scores[e] = score;
  };
  mark("input->a0.h1<q>", 0.5);
  mark("input->a0.h1<v>", -2.0);
  mark("input->a1.h0<q>", 0.1);
  mark("input->a1.h0<k>", 0.1);
  mark("input->a1.h0<v>", 0.1);
  mark("a0.h1->a1.h0<k>", -1.0);
  mark("a1.h0->m1", 4.0);
  mark("m1->logits", -4.0);
  mark("a0.h1->logits", 1.0);
  mark("a0.h0->logits", 3.0);  // a0.h0 reads nothing in the circuit: pruned
  return circuit;
}

}  // namespace

TEST_CASE("a circuit as a hypothesis file: a node per component, parents with ports, the output", "[circuit-export]") {
  CircuitText text;
  text.name = "small \"test\" circuit";
  text.origin = "scores.json";
  text.task = "ioi";
  text.metric = "logit_diff";
  const std::string toml = circuit_hypothesis_toml(small_circuit(), text);
  CHECK(toml.find("name = \"small \\\"test\\\" circuit\"\n") != std::string::npos);
  CHECK(toml.find("[model]\nlayers = 2\nheads = 2\n") != std::string::npos);
  CHECK(toml.find("[defaults]\ntask = \"ioi\"\nmetric = \"logit_diff\"\n") != std::string::npos);
  CHECK(toml.find("[nodes.\"input\"]\nclass = \"embeddings\"\nembed = true\nfeature = \"prompt\"\n") != std::string::npos);
  CHECK(toml.find("[nodes.\"a0.h1\"]\nclass = \"attention head\"\nheads = [\"0.1\"]\nfeature = \"prompt\"\nparents = [\n"
                  "  { node = \"input\", ports = [\"q\", \"v\"] },\n]\n") != std::string::npos);
  // Every port: the parent plain; two parents into one head.
  CHECK(toml.find("heads = [\"1.0\"]\nfeature = \"prompt\"\nparents = [\n  \"input\",\n  { node = \"a0.h1\", ports = [\"k\"] },\n]\n") !=
        std::string::npos);
  CHECK(toml.find("[nodes.\"m1\"]\nclass = \"MLP\"\nmlps = [1]\nfeature = \"prompt\"\nparents = [\n  \"a1.h0\",\n]\n") !=
        std::string::npos);
  CHECK(toml.find("[output]\nparents = [\n  \"a0.h1\",\n  \"m1\",\n]\n") != std::string::npos);
  CHECK(toml.find("a0.h0") == std::string::npos);  // pruned

  ScoredGraph empty{EdgeGraph({.n_layers = 1, .n_heads = 1, .d_model = 8})};
  const std::string nothing = circuit_hypothesis_toml(empty, text);
  CHECK(nothing.find("[output]\nparents = []\n") != std::string::npos);
  CHECK(nothing.find("[nodes.") == std::string::npos);
}

TEST_CASE("a circuit's picture: edges by score and port, nodes by layer", "[circuit-export]") {
  CircuitText text;
  text.name = "small circuit";
  const std::string dot = circuit_dot(small_circuit(), text);
  CHECK(dot.find("digraph circuit {") != std::string::npos);
  CHECK(dot.find("rankdir=BT") != std::string::npos);
  // The largest |score| (4) is the thickest; positive red, negative blue.
  CHECK(dot.find("\"a1.h0\" -> \"m1\" [penwidth=5.00, color=\"#c80000\"") != std::string::npos);
  CHECK(dot.find("\"m1\" -> logits [penwidth=5.00, color=\"#0000c8\"") != std::string::npos);
  // Into heads: labelled and styled by port.
  CHECK(dot.find("\"a0.h1\" -> \"a1.h0\" [penwidth=1.70, color=\"#646464\"") == std::string::npos);
  CHECK(dot.find("\"a0.h1\" -> \"a1.h0\" [penwidth=1.70, color=\"#9696ed\", style=dashed, headlabel=\"k\"") != std::string::npos);
  CHECK(dot.find("\"input\" -> \"a0.h1\" [penwidth=2.80, color=\"#6464e1\", style=dotted, headlabel=\"v\"") != std::string::npos);
  CHECK(dot.find("style=solid, headlabel=\"q\"") != std::string::npos);
  // Heads of a layer share a row.
  CHECK(dot.find("{ rank=same; \"a0.h1\"; }") != std::string::npos);
  CHECK(dot.find("a0.h0") == std::string::npos);  // pruned
}

TEST_CASE("graph files carry what made their scores, and EAP-IG's keys are unchanged", "[circuit-export]") {
  ScoredGraph graph = small_circuit();
  const GraphProvenance provenance{.method = "exact", .metric = "logit_diff", .higher_is_better = true, .task = "ioi",
                                   .corruption = "p_ABC", .pairs = 200, .command = "cscrub discover --method exact"};
  const std::string json = to_graph_json(graph, provenance);
  const ScoredGraph read = parse_graph_json(json, "graph.json");
  CHECK(read.scores == graph.scores);
  CHECK(read.edge_in_graph == graph.edge_in_graph);
  const auto back = parse_graph_provenance(json, "graph.json");
  REQUIRE(back);
  CHECK(back->method == "exact");
  CHECK(back->metric == "logit_diff");
  CHECK(back->higher_is_better);
  CHECK(back->pairs == 200);
  CHECK(back->command == provenance.command);
  CHECK_FALSE(parse_graph_provenance(to_graph_json(graph), "plain.json"));  // EAP-IG's own files have none
  CHECK_THROWS_WITH(parse_graph_provenance(R"({"cfg": {}, "cscrub": {"pairs": "many"}})", "bad.json"),
                    Catch::Contains("bad.json") && Catch::Contains("\"pairs\""));
  CHECK_THROWS_AS(parse_graph_provenance(R"({"cscrub": [1]})", "bad.json"), cscrub::Error);
  CHECK_THROWS_AS(parse_graph_provenance(R"({"cscrub": {"higher_is_better": "yes"}})", "bad.json"), cscrub::Error);
}
