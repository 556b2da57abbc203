// A causal-scrubbing hypothesis as plain data, parsed once from TOML (see docs/hypothesis-format.md):
// interpretation nodes, each mapped to model components at token positions and computing a feature of the
// input, and the edges between them (which node feeds which, through which input port).
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace cscrub::graph {

// Where something was written: file and 1-based line (0: not from a file, e.g. a builtin hypothesis).
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
  std::string to_string() const;  // "file:line:column", "file:line" or "file"
};

// A node of the model graph G (residual decomposition): the embeddings, one attention head, one MLP, or
// the output (logits / metric).
struct Component {
  enum class Kind { embed, head, mlp, output };
  Kind kind = Kind::embed;
  int layer = -1;  // heads and MLPs
  int head = -1;   // heads
  friend bool operator==(const Component&, const Component&) = default;
  friend auto operator<=>(const Component&, const Component&) = default;
};

// How a component reads the residual stream: attention heads through q, k and v; MLPs and the output
// through their single input.
enum class Port { q, k, v, in };

// Where a node is claimed to matter: dataset position labels ("S2", "END") and/or indices; all when empty.
struct PositionSpec {
  std::vector<std::string> labels;
  std::vector<int> indices;
  bool all() const { return labels.empty() && indices.empty(); }
};

struct InterpNode {
  std::string name;
  std::string node_class;     // e.g. "name mover" (for pictures and tables)
  std::string description;
  std::vector<Component> components;
  PositionSpec positions;
  // Inputs are claimed equivalent at this node when they agree on all of these features. Special
  // names: "prompt" (the whole prompt), "none" (any input of the same alignment group).
  std::vector<std::string> feature;
  // Inputs of this node's components not coming from its listed parents: "random" (resampled: the
  // method's default) or "same" (computed on this node's own input: the whole sub-model below matters).
  enum class Rest { random, same };
  Rest rest = Rest::random;
  // Where the node and its parts were written (a variant's [edit.X] may change a key of a node that its
  // base file defined, so each part keeps its own file).
  SourceLocation location;
  SourceLocation components_location;
  SourceLocation positions_location;
  SourceLocation feature_location;
};

struct InterpEdge {
  int parent = -1;          // index into Hypothesis::nodes
  int child = -1;
  std::vector<Port> ports;  // ports of the child's components the parent feeds; empty: all of them
  SourceLocation location;  // the parent's entry in the child's `parents`
};

struct Defaults {
  std::string task = "ioi";
  std::string metric;  // empty: the task's default
  int n = 200;
  int seeds = 5;
};

struct Hypothesis {
  std::string name;
  std::string description;
  std::string source_file;           // or "builtin:full" / "builtin:none"
  std::vector<std::string> files;    // source_file, then every file it extends, in order (none for a builtin)
  std::vector<InterpNode> nodes;
  std::vector<InterpEdge> edges;
  int output_node = -1;              // the node whose component is the output
  Defaults defaults;
  std::optional<int> model_layers;   // the model shape the file was written for, if it says
  std::optional<int> model_heads;
  SourceLocation model_location;     // the [model] table, if any
  SourceLocation task_location;      // where defaults.task was set, if anywhere
};

}  // namespace cscrub::graph
