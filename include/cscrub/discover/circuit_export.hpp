// A circuit (the in_graph edges of a graph file) written as the other things cscrub reads: a hypothesis file
// (docs/hypothesis-format.md) that `cscrub check`, `graph`, `run` and `compare` accept, and a Graphviz picture.
#pragma once
#include <string>

#include "cscrub/discover/scored_graph.hpp"

namespace cscrub::discover {

struct CircuitText {
  std::string name;         // the hypothesis's name and the picture's title
  std::string description;
  std::string origin;       // where the circuit came from (the graph file), for the file's header comment
  std::string task = "ioi"; // [defaults] task
  std::string metric;       // [defaults] metric; empty: the task's own
};

// The circuit as a hypothesis: one node per source node of the circuit (`input`: the embeddings, `a{L}.h{H}`:
// a head, `m{L}`: an MLP), each of feature "prompt" (it depends on the whole prompt: it is evaluated on the
// same input as its child) with the circuit's edges into it as parents, ports q / k / v for heads; the output
// reads the circuit's edges into the logits. Every position (the graph does not split edges by position).
// Under causal scrubbing, every input a node is not claimed to read comes from one random prompt of the
// reference's alignment group. The circuit is pruned first (as MIB evaluates it); an empty circuit gives the
// output alone (nothing matters).
std::string circuit_hypothesis_toml(const ScoredGraph& circuit, const CircuitText& text);

// The circuit as Graphviz DOT: nodes in rows by layer (the input at the bottom, the logits at the top), heads as
// ellipses and MLPs as boxes coloured by layer; edges as thick as |score| (relative to the circuit's largest),
// red for positive scores and blue for negative ones, solid into MLPs and the logits, and labelled and styled by
// port into heads (q solid, k dashed, v dotted).
std::string circuit_dot(const ScoredGraph& circuit, const CircuitText& text);

}  // namespace cscrub::discover
