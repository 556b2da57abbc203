#include "cscrub/discover/circuit_selection.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <queue>

#include "cscrub/error.hpp"

namespace cscrub::discover {
namespace {

// Edge indices from best to worst: key descending, then EAP-IG's order.
std::vector<int> best_first(const std::vector<double>& keys) {
  std::vector<int> order(keys.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return keys[static_cast<size_t>(a)] > keys[static_cast<size_t>(b)]; });
  return order;
}

void check_count(const ScoredGraph& graph, int n) {
  if (n < 0 || n > graph.graph.edge_count())
    throw Error("a circuit of " + std::to_string(n) + " edges: the graph has " +
                std::to_string(graph.graph.edge_count()));
}

}  // namespace

std::string to_string(Ranking ranking) {
  switch (ranking) {
    case Ranking::absolute: return "absolute";
    case Ranking::descending: return "descending";
    case Ranking::ascending: return "ascending";
  }
  return {};
}

Ranking parse_ranking(const std::string& text) {
  if (text == "absolute") return Ranking::absolute;
  if (text == "descending") return Ranking::descending;
  if (text == "ascending") return Ranking::ascending;
  throw Error("unknown ranking '" + text + "'", "absolute (largest |score| first), descending or ascending");
}

std::vector<double> ranking_keys(const ScoredGraph& graph, Ranking ranking) {
  std::vector<double> keys(graph.scores.size());
  for (size_t e = 0; e < keys.size(); ++e) {
    const double score = graph.scores[e];
    keys[e] = ranking == Ranking::absolute ? std::abs(score) : ranking == Ranking::descending ? score : -score;
  }
  return keys;
}

void select_top(ScoredGraph& graph, int n, Ranking ranking) {
  check_count(graph, n);
  const std::vector<int> order = best_first(ranking_keys(graph, ranking));
  std::fill(graph.edge_in_graph.begin(), graph.edge_in_graph.end(), 0);
  for (int i = 0; i < n; ++i) graph.edge_in_graph[static_cast<size_t>(order[static_cast<size_t>(i)])] = 1;
  prune(graph);
}

void select_greedy(ScoredGraph& graph, int n, Ranking ranking) {
  check_count(graph, n);
  const EdgeGraph& edges = graph.graph;
  const std::vector<double> keys = ranking_keys(graph, ranking);
  // Best key first; among equal keys, the earlier edge.
  auto worse = [&](int a, int b) {
    const double ka = keys[static_cast<size_t>(a)], kb = keys[static_cast<size_t>(b)];
    return ka != kb ? ka < kb : a > b;
  };
  std::priority_queue<int, std::vector<int>, decltype(worse)> candidates(worse);
  // The edges into a destination, by destination: the candidates a node brings when it joins.
  std::vector<std::vector<int>> edges_into(static_cast<size_t>(edges.destination_count()));
  for (size_t e = 0; e < edges.edges().size(); ++e)
    edges_into[static_cast<size_t>(edges.edges()[e].destination)].push_back(static_cast<int>(e));
  for (int e : edges_into.back()) candidates.push(e);  // the logits are always in the circuit

  std::fill(graph.edge_in_graph.begin(), graph.edge_in_graph.end(), 0);
  std::fill(graph.node_in_graph.begin(), graph.node_in_graph.end(), 0);
  for (int added = 0; added < n && !candidates.empty(); ++added) {
    const int e = candidates.top();
    candidates.pop();
    graph.edge_in_graph[static_cast<size_t>(e)] = 1;
    const int parent = edges.edges()[static_cast<size_t>(e)].source;
    if (graph.node_in_graph[static_cast<size_t>(parent)]) continue;
    graph.node_in_graph[static_cast<size_t>(parent)] = 1;
    for (int d = 0; d < edges.destination_count() - 1; ++d)
      if (edges.owner(d) == parent)
        for (int incoming : edges_into[static_cast<size_t>(d)]) candidates.push(incoming);
  }
  prune(graph);
}

void select_threshold(ScoredGraph& graph, double threshold, Ranking ranking) {
  if (!std::isfinite(threshold)) throw Error("a circuit's threshold must be a finite number");
  const std::vector<double> keys = ranking_keys(graph, ranking);
  for (size_t e = 0; e < keys.size(); ++e) graph.edge_in_graph[e] = keys[e] >= threshold ? 1 : 0;
  prune(graph);
}

void prune(ScoredGraph& graph) {
  const EdgeGraph& edges = graph.graph;
  const int sources = edges.source_count();
  // The source node each destination belongs to (-1: the logits).
  std::vector<int> owner(static_cast<size_t>(edges.destination_count()), -1);
  for (int d = 0; d < edges.destination_count() - 1; ++d) owner[static_cast<size_t>(d)] = *edges.owner(d);
  std::vector<uint8_t> nodes(static_cast<size_t>(sources), 0);
  for (bool changed = true; changed;) {
    std::vector<uint8_t> outgoing(static_cast<size_t>(sources), 0), incoming(static_cast<size_t>(sources), 0);
    incoming[0] = 1;  // the input reads nothing
    for (size_t e = 0; e < edges.edges().size(); ++e) {
      if (!graph.edge_in_graph[e]) continue;
      const Edge& edge = edges.edges()[e];
      outgoing[static_cast<size_t>(edge.source)] = 1;
      const int child = owner[static_cast<size_t>(edge.destination)];
      if (child >= 0) incoming[static_cast<size_t>(child)] = 1;
    }
    changed = false;
    for (int s = 0; s < sources; ++s) {
      const uint8_t in = outgoing[static_cast<size_t>(s)] && incoming[static_cast<size_t>(s)];
      changed = changed || in != nodes[static_cast<size_t>(s)];
      nodes[static_cast<size_t>(s)] = in;
    }
    for (size_t e = 0; e < edges.edges().size(); ++e) {
      const Edge& edge = edges.edges()[e];
      const int child = owner[static_cast<size_t>(edge.destination)];
      if (!nodes[static_cast<size_t>(edge.source)] || (child >= 0 && !nodes[static_cast<size_t>(child)]))
        graph.edge_in_graph[e] = 0;
    }
  }
  graph.node_in_graph = std::move(nodes);
}

}  // namespace cscrub::discover
