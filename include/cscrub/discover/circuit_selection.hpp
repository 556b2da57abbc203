// Cutting a circuit out of scored edges, as EAP-IG's Graph does (apply_topn, apply_greedy, apply_threshold,
// prune), so that a circuit chosen here is the one MIB evaluates: the edges chosen get in_graph, then the
// graph is pruned to what is connected to both the input and the logits. Ties are broken by EAP-IG's edge
// order (earlier first), so the choice is deterministic.
#pragma once
#include <string>
#include <vector>

#include "cscrub/discover/scored_graph.hpp"

namespace cscrub::discover {

// What "best" means when edges are ranked by score.
enum class Ranking {
  absolute,    // largest |score| first (MIB's CMD, EAP-IG's default)
  descending,  // largest score first (MIB's CPR on scores where positive means important)
  ascending,   // smallest score first (the same for scores where negative means important)
};
std::string to_string(Ranking ranking);
// "absolute", "descending" or "ascending"; throws cscrub::Error otherwise.
Ranking parse_ranking(const std::string& text);

// The key each edge is ranked by (larger is better), per edge in graph order.
std::vector<double> ranking_keys(const ScoredGraph& graph, Ranking ranking);

// MIB's apply_topn: the n best-ranked edges, then prune(). Throws cscrub::Error if n is negative or larger
// than the number of edges.
void select_top(ScoredGraph& graph, int n, Ranking ranking);
// EAP-IG's apply_greedy: starting from the logits, n times add the best-ranked edge into a node already in the
// circuit (its parent joins the circuit, and the edges into the parent become candidates); then prune().
void select_greedy(ScoredGraph& graph, int n, Ranking ranking);
// EAP-IG's apply_threshold: every edge whose key is at least `threshold` (|score| >= threshold for absolute),
// then prune().
void select_threshold(ScoredGraph& graph, double threshold, Ranking ranking);

// EAP-IG's prune: until nothing changes, a source node stays in the circuit only if it has an outgoing edge in
// it and an incoming one (the input needs none), and an edge stays only if both its ends are in the circuit.
// Node marks are recomputed from the edges; the logits are always in.
void prune(ScoredGraph& graph);

}  // namespace cscrub::discover
