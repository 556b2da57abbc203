// The discovery graph: edge count, order and names as EAP-IG and MIB have them, and its JSON.
#include <catch2/catch.hpp>
#include <random>
#include <set>

#include "cscrub/discover/edge_graph.hpp"
#include "cscrub/discover/scored_graph.hpp"
#include "cscrub/error.hpp"

using namespace cscrub;
using namespace cscrub::discover;

namespace {

// When a node writes to and reads from the residual stream, in steps: layer L's heads read and write at
// 2L + 1; its MLP reads and writes at 2L + 2, or with the heads at 2L + 1 when they run in parallel. An edge
// exists iff its source writes strictly before its destination reads.
int write_step(const Source& s, bool parallel) {
  switch (s.kind) {
    case Source::Kind::input: return 0;
    case Source::Kind::head: return 2 * s.layer + 1;
    case Source::Kind::mlp: return 2 * s.layer + (parallel ? 1 : 2);
  }
  return 0;
}
int read_step(const Destination& d, bool parallel, int n_layers) {
  if (d.port == Port::logits) return 2 * n_layers + 1;
  if (d.port == Port::mlp) return 2 * d.layer + (parallel ? 1 : 2);
  return 2 * d.layer + 1;
}

}  // namespace

TEST_CASE("discovery graph: GPT-2 small has 32,491 edges, and every shape the closed-form count") {
  CHECK(EdgeGraph({12, 12, 768, false}).edge_count() == 32491);
  for (const bool parallel : {false, true}) {
    for (int layers = 1; layers <= 4; ++layers) {
      for (int heads = 1; heads <= 5; ++heads) {
        const EdgeGraph graph({layers, heads, 8 * heads, parallel});
        // Layer L's 3H head inputs read 1 + L(H+1) sources; its MLP as many plus its own H heads unless
        // parallel; the logits read all 1 + layers(H+1).
        long expected = 1 + static_cast<long>(layers) * (heads + 1);
        for (int l = 0; l < layers; ++l) expected += 3L * heads * (1 + l * (heads + 1)) + 1 + l * (heads + 1) + (parallel ? 0 : heads);
        CHECK(graph.edge_count() == expected);
      }
    }
  }
}

TEST_CASE("discovery graph: edges are exactly the pairs whose source writes before the destination reads") {
  for (const bool parallel : {false, true}) {
    const EdgeGraph graph({3, 2, 16, parallel});
    std::set<std::pair<int, int>> listed;
    for (const Edge& edge : graph.edges()) CHECK(listed.insert({edge.source, edge.destination}).second);
    for (int s = 0; s < graph.source_count(); ++s) {
      for (int d = 0; d < graph.destination_count(); ++d) {
        const bool edge = write_step(graph.source(s), parallel) <
                          read_step(graph.destination(d), parallel, graph.shape().n_layers);
        CHECK(graph.is_edge(s, d) == edge);
        CHECK(listed.count({s, d}) == (edge ? 1u : 0u));
        CHECK(graph.edge_index(s, d).has_value() == edge);
      }
    }
  }
}

TEST_CASE("discovery graph: indices and names follow EAP-IG") {
  const EdgeGraph graph({2, 2, 8, false});
  CHECK(graph.source_count() == 7);
  CHECK(graph.destination_count() == 15);
  const std::vector<std::string> sources{"input", "a0.h0", "a0.h1", "m0", "a1.h0", "a1.h1", "m1"};
  for (int s = 0; s < graph.source_count(); ++s) CHECK(graph.source_name(s) == sources[static_cast<size_t>(s)]);
  const std::vector<std::string> destinations{"a0.h0<q>", "a0.h1<q>", "a0.h0<k>", "a0.h1<k>", "a0.h0<v>",
                                              "a0.h1<v>", "m0",       "a1.h0<q>", "a1.h1<q>", "a1.h0<k>",
                                              "a1.h1<k>", "a1.h0<v>", "a1.h1<v>", "m1",       "logits"};
  for (int d = 0; d < graph.destination_count(); ++d)
    CHECK(graph.destination_name(d) == destinations[static_cast<size_t>(d)]);
  CHECK(graph.node_names() == std::vector<std::string>{"input", "a0.h0", "a0.h1", "m0", "a1.h0", "a1.h1", "m1", "logits"});
  // The order Graph.from_model adds edges in: per source, every head's q, k, v; then the MLP's; the logits last.
  const std::vector<std::string> first{"input->a0.h0<q>", "input->a0.h0<k>", "input->a0.h0<v>", "input->a0.h1<q>",
                                       "input->a0.h1<k>", "input->a0.h1<v>", "input->m0",       "a0.h0->m0",
                                       "a0.h1->m0",       "input->a1.h0<q>"};
  for (size_t e = 0; e < first.size(); ++e) CHECK(graph.edge_name(graph.edges()[e]) == first[e]);
  CHECK(graph.edge_name(graph.edges().back()) == "m1->logits");
  CHECK(*graph.owner(graph.index_of(Destination{Port::k, 1, 1})) == graph.index_of(Source{Source::Kind::head, 1, 1}));
  CHECK(*graph.owner(graph.index_of(Destination{Port::mlp, 0, -1})) == 3);
  CHECK_FALSE(graph.owner(graph.destination_count() - 1).has_value());

  const EdgeGraph parallel({2, 2, 8, true});
  // Parallel: each source's edges into the layer's heads are followed by its edge into the MLP.
  CHECK(parallel.edge_name(parallel.edges()[6]) == "input->m0");
  CHECK(parallel.edge_name(parallel.edges()[7]) == "input->a1.h0<q>");
}

TEST_CASE("discovery graph: every name parses back, and names outside the graph do not") {
  const EdgeGraph graph({3, 4, 16, false});
  for (size_t e = 0; e < graph.edges().size(); ++e) {
    const auto parsed = graph.find_edge(graph.edge_name(graph.edges()[e]));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == graph.edges()[e]);
    CHECK(*graph.edge_index(parsed->source, parsed->destination) == static_cast<int>(e));
  }
  for (int s = 0; s < graph.source_count(); ++s) CHECK(*graph.find_source(graph.source_name(s)) == s);
  for (int d = 0; d < graph.destination_count(); ++d) CHECK(*graph.find_destination(graph.destination_name(d)) == d);
  for (const char* bad : {"a0.h4", "a3.h0", "m3", "m-1", "a01.h1", "a0.h01", "a0h1", "m", "a.h1", "logits", "input ", ""})
    CHECK_FALSE(graph.find_source(bad).has_value());
  for (const char* bad : {"a0.h0", "a0.h0<x>", "a0.h0<q", "input", "m3", "a0.h4<k>"})
    CHECK_FALSE(graph.find_destination(bad).has_value());
  for (const char* bad : {"m0->a0.h0<q>", "a1.h0->a1.h1<q>", "a0.h0->a0.h0<q>", "input->input", "logits->m0",
                          "input-a0.h0<q>", "input->a0.h0", "a2.h3->m1"})
    CHECK_FALSE(graph.find_edge(bad).has_value());
  CHECK(graph.find_edge("a1.h2->m1").has_value());
  CHECK_FALSE(EdgeGraph({3, 4, 16, true}).find_edge("a1.h2->m1").has_value());
}

TEST_CASE("graph JSON: scores, circuit marks and node scores survive a round trip exactly") {
  ScoredGraph scored{EdgeGraph({2, 3, 12, false})};
  std::mt19937_64 random(7);
  std::normal_distribution<double> normal(0.0, 1e-3);
  for (double& score : scored.scores) score = normal(random);
  for (size_t e = 0; e < scored.edge_in_graph.size(); e += 3) scored.edge_in_graph[e] = 1;
  scored.node_in_graph[0] = scored.node_in_graph[4] = 1;
  scored.node_scores = std::vector<double>(static_cast<size_t>(scored.graph.source_count()));
  for (double& score : *scored.node_scores) score = normal(random);

  const ScoredGraph back = parse_graph_json(to_graph_json(scored), "round.json");
  CHECK(back.graph.shape() == scored.graph.shape());
  CHECK(back.scores == scored.scores);
  CHECK(back.edge_in_graph == scored.edge_in_graph);
  CHECK(back.node_in_graph == scored.node_in_graph);
  REQUIRE(back.node_scores.has_value());
  CHECK(*back.node_scores == *scored.node_scores);
  CHECK(back.edges_in_graph() == scored.edges_in_graph());
  CHECK(back.nodes_in_graph() == 2);

  const std::string json = to_graph_json(ScoredGraph{EdgeGraph({1, 1, 4, false})});
  CHECK(json ==
        "{\"cfg\":{\"n_layers\":1,\"n_heads\":1,\"parallel_attn_mlp\":false,\"d_model\":4},"
        "\"nodes\":{\"input\":{\"in_graph\":false},\"a0.h0\":{\"in_graph\":false},\"m0\":{\"in_graph\":false},"
        "\"logits\":{\"in_graph\":true}},"
        "\"edges\":{\"input->a0.h0<q>\":{\"score\":0.0,\"in_graph\":false},"
        "\"input->a0.h0<k>\":{\"score\":0.0,\"in_graph\":false},\"input->a0.h0<v>\":{\"score\":0.0,\"in_graph\":false},"
        "\"input->m0\":{\"score\":0.0,\"in_graph\":false},\"a0.h0->m0\":{\"score\":0.0,\"in_graph\":false},"
        "\"input->logits\":{\"score\":0.0,\"in_graph\":false},\"a0.h0->logits\":{\"score\":0.0,\"in_graph\":false},"
        "\"m0->logits\":{\"score\":0.0,\"in_graph\":false}}}\n");
}

TEST_CASE("graph JSON: malformed files are refused, naming the problem") {
  const std::string good = to_graph_json(ScoredGraph{EdgeGraph({1, 1, 4, false})});
  auto error_of = [](const std::string& text) {
    try {
      parse_graph_json(text, "g.json");
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };
  CHECK_THAT(error_of("{"), Catch::Contains("g.json: not valid JSON"));
  CHECK_THAT(error_of("[]"), Catch::Contains("not a JSON object"));
  CHECK_THAT(error_of("{\"nodes\":{}, \"edges\":{}}"), Catch::Contains("has no \"cfg\""));
  CHECK_THAT(error_of(replaced("\"n_layers\":1", "\"n_layers\":0")), Catch::Contains("n_layers"));
  CHECK_THAT(error_of(replaced("\"parallel_attn_mlp\":false", "\"parallel_attn_mlp\":0")), Catch::Contains("parallel_attn_mlp"));
  CHECK_THAT(error_of(replaced("\"input->m0\"", "\"input->m1\"")), Catch::Contains("\"input->m1\" is not an edge"));
  CHECK_THAT(error_of(replaced(",\"input->m0\":{\"score\":0.0,\"in_graph\":false}", "")),
             Catch::Contains("edge \"input->m0\" is missing"));
  CHECK_THAT(error_of(replaced("\"m0\":{\"in_graph\":false},", "")), Catch::Contains("node \"m0\" is missing"));
  CHECK_THAT(error_of(replaced("\"input->m0\":{\"score\":0.0", "\"input->m0\":{\"score\":\"high\"")),
             Catch::Contains("\"score\" must be a number"));
  CHECK_THAT(error_of(replaced("\"input->m0\":{\"score\":0.0,\"in_graph\":false}", "\"input->m0\":{\"score\":0.0}")),
             Catch::Contains("edge \"input->m0\" has no \"in_graph\""));
  CHECK_THAT(error_of(replaced("\"input->m0\":{\"score\":0.0", "\"input->m0\":{\"score\":1e999")),
             Catch::Contains("not valid JSON"));
  CHECK_THAT(error_of(replaced("\"a0.h0\":{\"in_graph\":false}", "\"a0.h0\":{\"in_graph\":false,\"score\":1}")),
             Catch::Contains("either all or none"));
  CHECK_THAT(error_of(replaced("\"m0->logits\"", "\"input->m0\"")), Catch::Contains("appears twice"));
  CHECK(error_of(good) == "no error");

  ScoredGraph nan{EdgeGraph({1, 1, 4, false})};
  nan.scores[2] = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH(to_graph_json(nan), Catch::Contains("input->a0.h0<v> has a score that is not finite"));

  const ScoredGraph small{EdgeGraph({1, 1, 4, false})};
  CHECK_NOTHROW(check_graph_matches(small, {1, 1, 4, false}, "g.json"));
  CHECK_THROWS_WITH(check_graph_matches(small, {2, 1, 4, false}, "g.json"),
                    Catch::Contains("g.json: the graph is for a model of 1 layers"));
}
