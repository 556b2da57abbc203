// The computational graph that circuit discovery scores, as EAP-IG and MIB define it (Hanna et al. 2024;
// Mueller et al. 2025), so that scores and circuits move between cscrub and those tools.
//
// Sources write into the residual stream: `input` (the token embedding; position embeddings are the same in a
// clean run and its corrupted twin, so they are a constant, not a node), each head's output `a{L}.h{H}` (its
// rows of the attention output projection applied to its z, without the output bias) and each MLP's output
// `m{L}` (biases included). Destinations read from it: each head's own query, key and value input
// `a{L}.h{H}<q|k|v>` (its copy of the residual stream before ln_1), each MLP's input `m{L}` (before ln_2) and
// `logits` (the final residual, before ln_f). An edge joins every source to every destination that reads after
// the source writes: a head of layer L reads `input` and every head and MLP of the layers before L; the MLP of
// layer L also reads the heads of layer L unless attention and MLP run in parallel (GPT-NeoX); `logits` reads
// everything. Edges are named `PARENT->CHILD` or `PARENT->CHILD<q|k|v>`. GPT-2 small has 32,491.
//
// Indices follow EAP-IG's score matrix [source, destination]: sources in forward order (input, then per layer
// its heads and its MLP), destinations per layer as the q inputs of every head, then k, then v, then the MLP,
// and finally the logits.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cscrub/engine/config.hpp"

namespace cscrub::discover {

// What the graph depends on (the "cfg" of EAP-IG's graph JSON).
struct GraphShape {
  int n_layers = 0, n_heads = 0, d_model = 0;
  bool parallel_attn_mlp = false;
  friend bool operator==(const GraphShape&, const GraphShape&) = default;
};
GraphShape graph_shape(const engine::ModelConfig& config);

struct Source {
  enum class Kind { input, head, mlp };
  Kind kind = Kind::input;
  int layer = -1, head = -1;  // -1 where the kind has none
  friend bool operator==(const Source&, const Source&) = default;
};

// The port a destination reads through.
enum class Port { q, k, v, mlp, logits };

struct Destination {
  Port port = Port::logits;
  int layer = -1, head = -1;  // -1 where the port has none
  friend bool operator==(const Destination&, const Destination&) = default;
};

struct Edge {
  int source = 0, destination = 0;  // indices into the graph's sources and destinations
  friend bool operator==(const Edge&, const Edge&) = default;
};

class EdgeGraph {
 public:
  explicit EdgeGraph(const GraphShape& shape);  // throws cscrub::Error for a shape without layers or heads
  const GraphShape& shape() const { return shape_; }

  int source_count() const { return 1 + shape_.n_layers * (shape_.n_heads + 1); }
  int destination_count() const { return shape_.n_layers * (3 * shape_.n_heads + 1) + 1; }
  int edge_count() const { return static_cast<int>(edges_.size()); }

  Source source(int index) const;
  Destination destination(int index) const;
  int index_of(const Source& source) const;
  int index_of(const Destination& destination) const;
  // The source whose node the destination belongs to (a head's q/k/v inputs and an MLP's input belong to that
  // head or MLP); nullopt for the logits.
  std::optional<int> owner(int destination) const;

  // Destination d reads sources [0, readable_sources(d)): those that write before it reads.
  int readable_sources(int destination) const;
  bool is_edge(int source, int destination) const { return source < readable_sources(destination); }
  // The position of edge source -> destination in edges(); nullopt if the graph has no such edge.
  std::optional<int> edge_index(int source, int destination) const;

  // Every edge, in the order EAP-IG's Graph.from_model creates them (its JSON lists them so): layer by layer,
  // the heads' q, k, v inputs from every earlier source, then the MLP's, then the logits'.
  const std::vector<Edge>& edges() const { return edges_; }

  std::string source_name(int source) const;            // "input", "a0.h3", "m2"
  std::string destination_name(int destination) const;  // "a0.h3<q>", "m2", "logits"
  std::string edge_name(const Edge& edge) const;        // "a0.h3->m2", "input->a1.h0<k>"
  // Node names as the JSON's "nodes" lists them: input, then per layer its heads and MLP, then logits.
  std::vector<std::string> node_names() const;

  // Parsing; nullopt for a name that is not in this graph.
  std::optional<int> find_source(std::string_view name) const;
  std::optional<int> find_destination(std::string_view name) const;
  std::optional<Edge> find_edge(std::string_view name) const;

 private:
  GraphShape shape_;
  std::vector<Edge> edges_;
  std::vector<int> edge_index_;  // [destination][source] -> position in edges_, -1 where there is no edge
};

}  // namespace cscrub::discover
