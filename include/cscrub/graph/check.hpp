// Checking a hypothesis against a model and a task: is it a well-formed causal-scrubbing hypothesis
// (an injective homomorphism from the interpretation graph into the model graph G, acyclic, with
// features and positions the task defines)?
#pragma once
#include <map>
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/engine/config.hpp"
#include "cscrub/graph/hypothesis.hpp"
#include "cscrub/graph/model_graph.hpp"

namespace cscrub::graph {

struct Problem {
  SourceLocation where;
  std::string message;
  std::string hint;
  std::string to_string() const;  // "file:line: message"
};

// Every problem found, in file order of the nodes concerned; empty when the hypothesis is valid:
// - the model shape the file was written for ([model] layers / heads) differs from the model's;
// - a node has no components; a head or MLP does not exist in the model (closest valid name given);
// - a feature or position label the task does not define (closest given), "prompt"/"none" combined with
//   other features, a position index beyond the model's context;
// - the correspondence is not injective: one component claimed by two nodes at overlapping positions;
// - an edge is not mapped to edges of G: a parent component that does not come before a child component,
//   or a port the child's components do not have (q into an MLP); a q / in edge whose parent and child
//   positions are disjoint (those ports read the residual stream at the child's own positions only);
// - the interpretation graph has a cycle (named).
std::vector<Problem> find_problems(const Hypothesis& hypothesis, const ModelGraph& model,
                                   const data::TaskSchema& task);

// Throws cscrub::Error with the first problem (and how many more there are) if there is any.
void validate(const Hypothesis& hypothesis, const ModelGraph& model, const data::TaskSchema& task);

// Whether two position sets can name a common token. Labels and indices are only comparable among
// themselves: a label against an index depends on the prompt, and counts as disjoint here (the
// scrubber checks such pairs on the actual dataset).
bool positions_overlap(const PositionSpec& a, const PositionSpec& b);
// "S2, 10", or "all positions".
std::string describe_positions(const PositionSpec& positions);

// The task a hypothesis runs on: `task_override` if not empty, else its [defaults] task. Throws
// cscrub::Error naming the file and the closest task for an unknown name.
data::TaskSchema task_schema_for(const Hypothesis& hypothesis, const std::string& task_override = {});

// A file path or a builtin name ("builtin:full", "builtin:none") -> the hypothesis, unchecked against the
// model and task (a builtin gets task_override, else the default task).
Hypothesis read_hypothesis_or_builtin(const std::string& file_or_builtin, const engine::ModelConfig& config,
                                      const std::string& task_override = {});

// A file path or a builtin name ("builtin:full", "builtin:none") -> a hypothesis checked against the
// model and task (task_override, else the hypothesis's own). What `cscrub check` and the scrubber use.
Hypothesis load_hypothesis(const std::string& file_or_builtin, const engine::ModelConfig& config,
                           const std::string& task_override = {});

struct Summary {
  int nodes = 0;   // including the output
  int edges = 0;
  int heads = 0;
  int mlps = 0;
  bool embed = false;
  // class -> number of components claimed by nodes of that class, in order of first appearance
  std::vector<std::pair<std::string, int>> classes;
};
Summary summarize(const Hypothesis& hypothesis);

}  // namespace cscrub::graph
