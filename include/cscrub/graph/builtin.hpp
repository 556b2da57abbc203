// Hypotheses every model has, by name, for the two invariants of causal scrubbing:
//   builtin:full  the output, rest = "same", feature "prompt", no parents: everything matters, so
//                 scrubbing reproduces the model's own behaviour exactly;
//   builtin:none  the output, rest = "random", no parents: nothing matters, so the output reads the
//                 residual stream of a random input: the baseline of "% loss recovered".
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "cscrub/engine/config.hpp"
#include "cscrub/graph/hypothesis.hpp"

namespace cscrub::graph {

std::vector<std::string> builtin_hypothesis_names();  // {"builtin:full", "builtin:none"}
bool is_builtin_hypothesis(std::string_view name);     // starts with "builtin:"

// Throws cscrub::Error naming the closest builtin for an unknown name.
Hypothesis builtin_hypothesis(std::string_view name, const engine::ModelConfig& config, const std::string& task);

}  // namespace cscrub::graph
