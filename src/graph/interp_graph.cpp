// I as a Boost adjacency_list: a depth-first search finds cycles (a back edge closes one), and the
// evaluation order is a topological sort.
#include "cscrub/graph/interp_graph.hpp"

#include <algorithm>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/depth_first_search.hpp>
#include <boost/graph/topological_sort.hpp>
#include <cassert>

#include "cscrub/error.hpp"

namespace cscrub::graph {

namespace {

struct EdgeIndex {
  int index = -1;  // into Hypothesis::edges
};
using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, boost::no_property, EdgeIndex>;
using Vertex = Graph::vertex_descriptor;

// Records the DFS tree and the first back edge, which closes a cycle along the tree path.
class CycleFinder : public boost::default_dfs_visitor {
 public:
  CycleFinder(std::vector<Vertex>& tree_parent, std::optional<std::pair<Vertex, Vertex>>& back_edge)
      : tree_parent_(&tree_parent), back_edge_(&back_edge) {}
  void tree_edge(Graph::edge_descriptor edge, const Graph& graph) const {
    (*tree_parent_)[boost::target(edge, graph)] = boost::source(edge, graph);
  }
  void back_edge(Graph::edge_descriptor edge, const Graph& graph) const {
    if (!*back_edge_) *back_edge_ = std::make_pair(boost::source(edge, graph), boost::target(edge, graph));
  }

 private:
  std::vector<Vertex>* tree_parent_;
  std::optional<std::pair<Vertex, Vertex>>* back_edge_;
};

}  // namespace

struct InterpGraph::Impl {
  Graph graph;
  std::vector<std::string> names;
};

InterpGraph::InterpGraph(const Hypothesis& hypothesis) : impl_(std::make_unique<Impl>()) {
  impl_->graph = Graph(hypothesis.nodes.size());
  for (const InterpNode& node : hypothesis.nodes) impl_->names.push_back(node.name);
  for (size_t i = 0; i < hypothesis.edges.size(); ++i) {
    const InterpEdge& edge = hypothesis.edges[i];
    assert(edge.parent >= 0 && edge.parent < node_count() && edge.child >= 0 && edge.child < node_count());
    boost::add_edge(edge.parent, edge.child, EdgeIndex{static_cast<int>(i)}, impl_->graph);
  }
}

InterpGraph::InterpGraph(InterpGraph&&) noexcept = default;
InterpGraph& InterpGraph::operator=(InterpGraph&&) noexcept = default;
InterpGraph::~InterpGraph() = default;

int InterpGraph::node_count() const { return static_cast<int>(boost::num_vertices(impl_->graph)); }

std::optional<std::vector<int>> InterpGraph::find_cycle() const {
  const Graph& graph = impl_->graph;
  std::vector<Vertex> tree_parent(boost::num_vertices(graph), Graph::null_vertex());
  std::optional<std::pair<Vertex, Vertex>> back_edge;
  std::vector<boost::default_color_type> colors(boost::num_vertices(graph));
  auto color_map = boost::make_iterator_property_map(colors.begin(), boost::get(boost::vertex_index, graph));
  boost::depth_first_search(graph, boost::visitor(CycleFinder(tree_parent, back_edge)).color_map(color_map));
  if (!back_edge) return std::nullopt;
  // The back edge u -> v closes the tree path v -> ... -> u.
  auto [from, to] = *back_edge;
  std::vector<int> cycle;
  for (Vertex vertex = from; vertex != to; vertex = tree_parent[vertex]) {
    assert(vertex != Graph::null_vertex());
    cycle.push_back(static_cast<int>(vertex));
  }
  cycle.push_back(static_cast<int>(to));
  std::reverse(cycle.begin(), cycle.end());
  return cycle;
}

std::vector<int> InterpGraph::evaluation_order() const {
  if (auto cycle = find_cycle()) {
    std::string path;
    for (int node : *cycle) path += impl_->names[node] + " -> ";
    throw Error("the hypothesis has a cycle: " + path + impl_->names[cycle->front()],
                "an interpretation graph must be acyclic: every edge goes from an earlier to a later part of the model");
  }
  // topological_sort lists every node after all its descendants: reversed, parents come first.
  std::vector<Vertex> reversed;
  boost::topological_sort(impl_->graph, std::back_inserter(reversed));
  return std::vector<int>(reversed.rbegin(), reversed.rend());
}

std::vector<int> InterpGraph::parents(int node) const {
  std::vector<int> result;
  for (auto [edge, end] = boost::in_edges(node, impl_->graph); edge != end; ++edge)
    result.push_back(static_cast<int>(boost::source(*edge, impl_->graph)));
  return result;
}

std::vector<int> InterpGraph::children(int node) const {
  std::vector<int> result;
  for (auto [edge, end] = boost::out_edges(node, impl_->graph); edge != end; ++edge)
    result.push_back(static_cast<int>(boost::target(*edge, impl_->graph)));
  return result;
}

std::vector<int> InterpGraph::edges_into(int node) const {
  std::vector<int> result;
  for (auto [edge, end] = boost::in_edges(node, impl_->graph); edge != end; ++edge)
    result.push_back(impl_->graph[*edge].index);
  std::sort(result.begin(), result.end());
  return result;
}

bool InterpGraph::has_path(int from, int to) const {
  if (from == to) return true;
  std::vector<boost::default_color_type> colors(boost::num_vertices(impl_->graph), boost::white_color);
  auto color_map = boost::make_iterator_property_map(colors.begin(), boost::get(boost::vertex_index, impl_->graph));
  boost::breadth_first_visit(impl_->graph, from, boost::color_map(color_map));
  return colors[to] != boost::white_color;
}

}  // namespace cscrub::graph
