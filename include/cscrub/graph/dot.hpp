// A hypothesis drawn with Graphviz: each interpretation node a coloured box (by class) holding its
// components at their places in the model, laid out in layer order (one column per layer), edges
// labelled by the ports they feed.
#pragma once
#include <string>

#include "cscrub/graph/hypothesis.hpp"
#include "cscrub/graph/model_graph.hpp"

namespace cscrub::graph {

// The DOT source. The hypothesis must be valid for `model` (find_problems empty).
std::string to_dot(const Hypothesis& hypothesis, const ModelGraph& model);

}  // namespace cscrub::graph
