// Hypotheses made from another one, for the tests of `cscrub test`: the claim without one of its nodes
// (is every part needed?) and random circuits of the claim's shape (does it beat circuits of its size?).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cscrub/graph/hypothesis.hpp"
#include "cscrub/graph/model_graph.hpp"

namespace cscrub::graph {

// `hypothesis` without node `node` (not the output): the node and its edges go, so its components become
// unimportant, and so does every node that then no longer reaches the output. `dropped` receives the names
// of the nodes removed, `node`'s first. Named "<name> without <node>".
Hypothesis without_node(const Hypothesis& hypothesis, int node, std::vector<std::string>& dropped);

// Where a random circuit's components come from: each head from the layer of the head it replaces (MLPs
// stay: a layer has one), or heads and MLPs from any layer.
enum class RandomLayers { same, all };
std::string to_string(RandomLayers layers);

// A random circuit of the claim's shape: the claim's nodes, features, positions, ports and edges, with its
// distinct heads replaced by distinct heads drawn uniformly (from the same layers, or from all of them) and,
// for RandomLayers::all, its distinct MLPs by distinct MLPs of random layers; the embeddings and the output
// stay. For RandomLayers::all, draws whose edges would no longer go forward through the model are drawn
// again. Deterministic in `seed`. Throws cscrub::Error when no draw in 10,000 gives a valid circuit.
Hypothesis random_circuit(const Hypothesis& claim, const ModelGraph& model, RandomLayers layers, uint64_t seed);

// "0.1 1.3 2.1 2.3 mlp 0": the heads and MLPs of a hypothesis, in node order, each once.
std::string components_text(const Hypothesis& hypothesis);

}  // namespace cscrub::graph
