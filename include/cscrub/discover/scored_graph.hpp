// Edge scores and a circuit over the discovery graph: what `cscrub discover` writes and circuits are cut from,
// read and written as EAP-IG's and MIB's graph JSON:
//   {"cfg": {"n_layers", "n_heads", "parallel_attn_mlp", "d_model"},
//    "nodes": {"input": {"in_graph": bool, "score"?: float}, ..., "logits": {"in_graph": true}},
//    "edges": {"input->a0.h0<q>": {"score": float, "in_graph": bool}, ...}}
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cscrub/discover/edge_graph.hpp"

namespace cscrub::discover {

struct ScoredGraph {
  explicit ScoredGraph(EdgeGraph edge_graph);  // every score 0, nothing in the circuit

  EdgeGraph graph;
  std::vector<double> scores;           // per edge, in graph.edges() order
  std::vector<uint8_t> edge_in_graph;   // per edge: 1 if the edge is in the circuit
  std::vector<uint8_t> node_in_graph;   // per source node (the logits are always in the circuit)
  std::optional<std::vector<double>> node_scores;  // per source node, when the scores came with them

  int edges_in_graph() const;
  int nodes_in_graph() const;  // source nodes, the logits not counted
};

// The graph JSON, nodes and edges in EAP-IG's order. Throws cscrub::Error for a score that is not finite
// (JSON has no NaN or infinity).
std::string to_graph_json(const ScoredGraph& graph);

// Parses graph JSON; `origin` names the file in errors. Every edge of the graph its "cfg" describes must be
// present, and nothing else: a missing edge would otherwise read as a score of 0. Extra "cfg" keys are ignored.
// Throws cscrub::Error naming `origin` and the problem.
ScoredGraph parse_graph_json(std::string_view text, const std::string& origin);
ScoredGraph read_graph_json(const std::filesystem::path& path);

// Throws cscrub::Error, naming `origin`, if `graph` was not made for a model of `shape`.
void check_graph_matches(const ScoredGraph& graph, const GraphShape& shape, const std::string& origin);

}  // namespace cscrub::discover
