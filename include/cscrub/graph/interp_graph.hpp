// The interpretation graph I of a hypothesis as a graph: its nodes are Hypothesis::nodes (same indices),
// its edges Hypothesis::edges (parent -> child). Used to find cycles and to order evaluation.
#pragma once
#include <memory>
#include <optional>
#include <vector>

#include "cscrub/graph/hypothesis.hpp"

namespace cscrub::graph {

class InterpGraph {
 public:
  explicit InterpGraph(const Hypothesis& hypothesis);
  InterpGraph(InterpGraph&&) noexcept;
  InterpGraph& operator=(InterpGraph&&) noexcept;
  ~InterpGraph();

  int node_count() const;

  // One cycle of the graph as node indices [a, b, ..., z] with edges a -> b -> ... -> z -> a; nullopt
  // when the graph is acyclic.
  std::optional<std::vector<int>> find_cycle() const;
  // Node indices with every parent before its children (deterministic). Throws cscrub::Error
  // naming a cycle if there is one.
  std::vector<int> evaluation_order() const;

  std::vector<int> parents(int node) const;   // node indices
  std::vector<int> children(int node) const;  // node indices
  std::vector<int> edges_into(int node) const;  // indices into Hypothesis::edges
  bool has_path(int from, int to) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cscrub::graph
