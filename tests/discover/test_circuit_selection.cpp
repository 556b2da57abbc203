// Cutting circuits from scores: EAP-IG's apply_topn, apply_greedy, apply_threshold and prune.
#include <catch2/catch.hpp>
#include <random>

#include "cscrub/discover/circuit_selection.hpp"
#include "cscrub/error.hpp"

using namespace cscrub::discover;

namespace {

ScoredGraph random_scores(const GraphShape& shape, unsigned seed) {
  ScoredGraph graph{EdgeGraph(shape)};
  std::mt19937 generator(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (double& score : graph.scores) score = normal(generator);
  return graph;
}

size_t index_of(const ScoredGraph& graph, const char* name) {
  const Edge edge = *graph.graph.find_edge(name);
  return static_cast<size_t>(*graph.graph.edge_index(edge.source, edge.destination));
}

// Whether every edge in the circuit joins nodes in it, and every node in it has an edge in and an edge out.
bool connected_both_ways(const ScoredGraph& graph) {
  const EdgeGraph& edges = graph.graph;
  std::vector<int> in(static_cast<size_t>(edges.source_count()), 0), out(in.size(), 0);
  in[0] = 1;
  for (size_t e = 0; e < edges.edges().size(); ++e) {
    if (!graph.edge_in_graph[e]) continue;
    const Edge edge = edges.edges()[e];
    const auto child = edges.owner(edge.destination);
    if (!graph.node_in_graph[static_cast<size_t>(edge.source)] || (child && !graph.node_in_graph[static_cast<size_t>(*child)]))
      return false;
    out[static_cast<size_t>(edge.source)] = 1;
    if (child) in[static_cast<size_t>(*child)] = 1;
  }
  for (size_t s = 0; s < in.size(); ++s)
    if (graph.node_in_graph[s] != (in[s] && out[s])) return false;
  return true;
}

// EAP-IG's greedy, the slow way: each step scans every edge whose child is in the circuit for the best not taken.
std::vector<uint8_t> greedy_by_scanning(const ScoredGraph& scores, int n) {
  const EdgeGraph& edges = scores.graph;
  const std::vector<double> keys = ranking_keys(scores, Ranking::absolute);
  std::vector<uint8_t> taken(edges.edges().size(), 0), node(static_cast<size_t>(edges.source_count()), 0);
  for (int step = 0; step < n; ++step) {
    int best = -1;
    for (size_t e = 0; e < edges.edges().size(); ++e) {
      const auto child = edges.owner(edges.edges()[e].destination);
      if (taken[e] || (child && !node[static_cast<size_t>(*child)])) continue;
      if (best < 0 || keys[e] > keys[static_cast<size_t>(best)]) best = static_cast<int>(e);
    }
    if (best < 0) break;
    taken[static_cast<size_t>(best)] = 1;
    node[static_cast<size_t>(edges.edges()[static_cast<size_t>(best)].source)] = 1;
  }
  return taken;
}

}  // namespace

TEST_CASE("prune keeps what connects the input to the logits", "[circuit-selection]") {
  ScoredGraph graph{EdgeGraph({.n_layers = 2, .n_heads = 2, .d_model = 8})};
  for (const char* name : {"input->a0.h1<q>", "a0.h1->a1.h0<k>", "a1.h0->logits",  // a chain
                           "a1.h1->logits",                                          // a1.h1 reads nothing
                           "input->a0.h0<v>", "a0.h0->m0"})                          // m0 writes nowhere
    graph.edge_in_graph[index_of(graph, name)] = 1;
  prune(graph);
  CHECK(graph.edges_in_graph() == 3);
  for (const char* name : {"input->a0.h1<q>", "a0.h1->a1.h0<k>", "a1.h0->logits"}) CHECK(graph.edge_in_graph[index_of(graph, name)] == 1);
  CHECK(graph.nodes_in_graph() == 3);
  CHECK(graph.node_in_graph[0] == 1);
  CHECK(connected_both_ways(graph));
}

TEST_CASE("top-n takes the best-ranked edges, ties in EAP-IG's order", "[circuit-selection]") {
  ScoredGraph graph = random_scores({.n_layers = 3, .n_heads = 4, .d_model = 8}, 1);
  select_top(graph, graph.graph.edge_count(), Ranking::absolute);
  CHECK(graph.edges_in_graph() == graph.graph.edge_count());  // every node of the full graph is connected
  CHECK(graph.nodes_in_graph() == graph.graph.source_count());
  select_top(graph, 0, Ranking::absolute);
  CHECK(graph.edges_in_graph() == 0);
  CHECK(graph.nodes_in_graph() == 0);

  ScoredGraph ties{EdgeGraph({.n_layers = 1, .n_heads = 1, .d_model = 8})};
  // input->a0.h0<q>, <k>, <v>, input->m0, a0.h0->m0, input->logits, a0.h0->logits, m0->logits
  ties.scores = {-3, 3, 1, 0, 2, 3, -3, 0};
  select_top(ties, 4, Ranking::absolute);  // four scores of |3|: in order
  CHECK(ties.edge_in_graph == std::vector<uint8_t>{1, 1, 0, 0, 0, 1, 1, 0});
  select_top(ties, 3, Ranking::descending);  // 3, 3, 2: m0 then reads nothing, and a0.h0 writes nowhere
  CHECK(ties.edge_in_graph == std::vector<uint8_t>{0, 0, 0, 0, 0, 1, 0, 0});
  select_top(ties, 2, Ranking::ascending);  // -3, -3
  CHECK(ties.edge_in_graph == std::vector<uint8_t>{1, 0, 0, 0, 0, 0, 1, 0});
  CHECK_THROWS_AS(select_top(ties, 9, Ranking::absolute), cscrub::Error);
  CHECK_THROWS_AS(select_top(ties, -1, Ranking::absolute), cscrub::Error);
}

TEST_CASE("greedy grows the circuit from the logits as EAP-IG's apply_greedy", "[circuit-selection]") {
  for (unsigned seed : {2u, 3u, 4u}) {
    const ScoredGraph scores = random_scores({.n_layers = 3, .n_heads = 4, .d_model = 8}, seed);
    for (int n : {1, 5, 20, 100, scores.graph.edge_count()}) {
      ScoredGraph greedy = scores;
      select_greedy(greedy, n, Ranking::absolute);
      ScoredGraph expected = scores;
      expected.edge_in_graph = greedy_by_scanning(scores, n);
      prune(expected);
      INFO("seed " << seed << ", n " << n);
      CHECK(greedy.edge_in_graph == expected.edge_in_graph);
      CHECK(greedy.node_in_graph == expected.node_in_graph);
      CHECK(connected_both_ways(greedy));
    }
  }
}

TEST_CASE("a threshold keeps the edges whose key reaches it", "[circuit-selection]") {
  ScoredGraph graph = random_scores({.n_layers = 2, .n_heads = 3, .d_model = 8}, 5);
  select_threshold(graph, 0.0, Ranking::absolute);
  CHECK(graph.edges_in_graph() == graph.graph.edge_count());
  select_threshold(graph, 1.0, Ranking::absolute);
  for (size_t e = 0; e < graph.scores.size(); ++e)
    if (graph.edge_in_graph[e]) CHECK(std::abs(graph.scores[e]) >= 1.0);
  CHECK(connected_both_ways(graph));
  CHECK_THROWS_AS(select_threshold(graph, std::nan(""), Ranking::absolute), cscrub::Error);
  CHECK(parse_ranking("descending") == Ranking::descending);
  CHECK_THROWS_AS(parse_ranking("abs"), cscrub::Error);
}
