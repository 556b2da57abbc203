// The model graph G of causal scrubbing for a GPT-2-shaped model, in its residual decomposition: every
// component (the embeddings, each attention head, each MLP, the output) writes to the residual stream,
// and every later component reads the sum of those writes through its input ports (q, k, v for a head;
// one port for an MLP and the output). So G has an edge from a writer to every port of every component
// that comes after it: heads of layer l come after everything of layers < l (and the embeddings); the
// MLP of layer l comes after the heads of layer l (it reads resid_mid), except in a parallel block
// (GPT-NeoX's use_parallel_residual: config.parallel_attn_mlp), where it reads the block's input as the
// heads do and sees none of them; the output comes after all. Heads of one layer do not see each other.
//
// Vertices are typed NodeIds: a component's output, or one input port of a component; edges go
// writer output -> reader port, and reader port -> reader output (inside the component).
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cscrub/engine/config.hpp"
#include "cscrub/graph/hypothesis.hpp"

namespace cscrub::graph {

struct NodeId {
  Component component;
  std::optional<Port> port;  // one of the component's input ports; nullopt: what it writes

  static NodeId output_of(const Component& component) { return NodeId{component, std::nullopt}; }
  static NodeId input_of(const Component& component, Port port) { return NodeId{component, port}; }
  friend bool operator==(const NodeId&, const NodeId&) = default;
  friend auto operator<=>(const NodeId&, const NodeId&) = default;
};

// "9.9" for an output, "9.9:q" for a port, "mlp 3:in".
std::string to_string(const NodeId& node);

class ModelGraph {
 public:
  explicit ModelGraph(const engine::ModelConfig& config);
  ModelGraph(ModelGraph&&) noexcept;
  ModelGraph& operator=(ModelGraph&&) noexcept;
  ~ModelGraph();

  const engine::ModelConfig& config() const;
  int n_layer() const;
  int n_head() const;

  bool contains(const Component& component) const;
  bool contains(const NodeId& node) const;

  // Components in the order they run: embed, the heads of layer 0, MLP 0, the heads of layer 1, ...,
  // output. A component can only read what comes before it in this order.
  const std::vector<Component>& components_in_order() const;
  // The position of `component` in layer order: embed 0, heads of layer l 2l+1, MLP l 2l+2 (2l+1 in a
  // parallel block: beside its heads), output 2 n_layer + 1. Components of one stage do not read each other.
  // Asserts that the component exists.
  int stage(const Component& component) const;

  // Whether `writer`'s output reaches `reader` directly through the residual stream (an edge of G into
  // each of reader's ports).
  bool precedes(const Component& writer, const Component& reader) const;
  bool has_edge(const NodeId& from, const NodeId& to) const;
  bool has_path(const NodeId& from, const NodeId& to) const;
  std::vector<NodeId> parents(const NodeId& node) const;
  std::vector<NodeId> children(const NodeId& node) const;

  size_t node_count() const;
  size_t edge_count() const;

  // Every valid head name ("0.0" ... ) and MLP layer, for "did you mean" suggestions.
  std::vector<std::string> head_names() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cscrub::graph
