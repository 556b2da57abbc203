// G as a Boost adjacency_list, kept behind ModelGraph so that BGL stays out of the public header.
#include "cscrub/graph/model_graph.hpp"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>
#include <cassert>
#include <map>

#include "cscrub/graph/component_id.hpp"

namespace cscrub::graph {

std::string to_string(const NodeId& node) {
  std::string text = to_string(node.component);
  if (node.port) text.append(":").append(to_string(*node.port));
  return text;
}

namespace {

// setS out-edges: has_edge is a logarithmic lookup, and parallel edges cannot arise.
using Graph = boost::adjacency_list<boost::setS, boost::vecS, boost::bidirectionalS, NodeId>;
using Vertex = Graph::vertex_descriptor;

}  // namespace

struct ModelGraph::Impl {
  engine::ModelConfig config;
  int n_layer = 0;
  int n_head = 0;
  Graph graph;
  std::map<NodeId, Vertex> index;  // NodeId -> vertex, so that no lookup scans the vertices
  std::vector<Component> order;

  Vertex add_node(const NodeId& id) {
    assert(!index.contains(id));
    Vertex vertex = boost::add_vertex(id, graph);
    index.emplace(id, vertex);
    return vertex;
  }

  std::optional<Vertex> find_node(const NodeId& id) const {
    auto found = index.find(id);
    if (found == index.end()) return std::nullopt;
    return found->second;
  }

  Vertex at(const NodeId& id) const {
    auto vertex = find_node(id);
    assert(vertex && "NodeId not in the model graph");
    return *vertex;
  }

  void add_edge(const NodeId& from, const NodeId& to) { boost::add_edge(at(from), at(to), graph); }

  int stage(const Component& component) const {
    switch (component.kind) {
      case Component::Kind::embed: return 0;
      case Component::Kind::head: return 2 * component.layer + 1;
      // A parallel block's MLP reads the block's input, as its heads do: it shares their stage.
      case Component::Kind::mlp: return 2 * component.layer + (config.parallel_attn_mlp ? 1 : 2);
      case Component::Kind::output: return 2 * n_layer + 1;
    }
    return -1;
  }

  bool contains(const Component& component) const {
    switch (component.kind) {
      case Component::Kind::embed:
      case Component::Kind::output: return true;
      case Component::Kind::head:
        return component.layer >= 0 && component.layer < n_layer && component.head >= 0 &&
               component.head < n_head;
      case Component::Kind::mlp: return component.layer >= 0 && component.layer < n_layer;
    }
    return false;
  }
};

ModelGraph::ModelGraph(const engine::ModelConfig& config) : impl_(std::make_unique<Impl>()) {
  assert(config.n_layer > 0 && config.n_head > 0);
  impl_->config = config;
  impl_->n_layer = config.n_layer;
  impl_->n_head = config.n_head;

  auto& order = impl_->order;
  order.push_back(embed_component());
  for (int layer = 0; layer < config.n_layer; ++layer) {
    for (int head = 0; head < config.n_head; ++head) order.push_back(head_component(layer, head));
    order.push_back(mlp_component(layer));
  }
  order.push_back(output_component());

  for (const Component& component : order) {
    impl_->add_node(NodeId::output_of(component));
    for (Port port : input_ports(component.kind)) {
      impl_->add_node(NodeId::input_of(component, port));
      impl_->add_edge(NodeId::input_of(component, port), NodeId::output_of(component));
    }
  }
  // Residual edges: each writer feeds every port of every component of a later stage.
  for (const Component& writer : order) {
    for (const Component& reader : order) {
      if (impl_->stage(writer) >= impl_->stage(reader)) continue;
      for (Port port : input_ports(reader.kind))
        impl_->add_edge(NodeId::output_of(writer), NodeId::input_of(reader, port));
    }
  }
}

ModelGraph::ModelGraph(ModelGraph&&) noexcept = default;
ModelGraph& ModelGraph::operator=(ModelGraph&&) noexcept = default;
ModelGraph::~ModelGraph() = default;

const engine::ModelConfig& ModelGraph::config() const { return impl_->config; }
int ModelGraph::n_layer() const { return impl_->n_layer; }
int ModelGraph::n_head() const { return impl_->n_head; }

bool ModelGraph::contains(const Component& component) const { return impl_->contains(component); }
bool ModelGraph::contains(const NodeId& node) const { return impl_->find_node(node).has_value(); }

const std::vector<Component>& ModelGraph::components_in_order() const { return impl_->order; }

int ModelGraph::stage(const Component& component) const {
  assert(contains(component));
  return impl_->stage(component);
}

bool ModelGraph::precedes(const Component& writer, const Component& reader) const {
  if (!contains(writer) || !contains(reader)) return false;
  auto ports = input_ports(reader.kind);
  if (ports.empty()) return false;  // nothing reads into the embeddings
  return has_edge(NodeId::output_of(writer), NodeId::input_of(reader, ports.front()));
}

bool ModelGraph::has_edge(const NodeId& from, const NodeId& to) const {
  auto source = impl_->find_node(from);
  auto target = impl_->find_node(to);
  if (!source || !target) return false;
  return boost::edge(*source, *target, impl_->graph).second;
}

bool ModelGraph::has_path(const NodeId& from, const NodeId& to) const {
  auto source = impl_->find_node(from);
  auto target = impl_->find_node(to);
  if (!source || !target) return false;
  if (*source == *target) return true;
  std::vector<boost::default_color_type> colors(boost::num_vertices(impl_->graph), boost::white_color);
  auto color_map = boost::make_iterator_property_map(colors.begin(), boost::get(boost::vertex_index, impl_->graph));
  boost::breadth_first_visit(impl_->graph, *source, boost::color_map(color_map));
  return colors[*target] != boost::white_color;
}

std::vector<NodeId> ModelGraph::parents(const NodeId& node) const {
  std::vector<NodeId> result;
  if (auto vertex = impl_->find_node(node)) {
    for (auto [edge, end] = boost::in_edges(*vertex, impl_->graph); edge != end; ++edge)
      result.push_back(impl_->graph[boost::source(*edge, impl_->graph)]);
  }
  return result;
}

std::vector<NodeId> ModelGraph::children(const NodeId& node) const {
  std::vector<NodeId> result;
  if (auto vertex = impl_->find_node(node)) {
    for (auto [edge, end] = boost::out_edges(*vertex, impl_->graph); edge != end; ++edge)
      result.push_back(impl_->graph[boost::target(*edge, impl_->graph)]);
  }
  return result;
}

size_t ModelGraph::node_count() const { return boost::num_vertices(impl_->graph); }
size_t ModelGraph::edge_count() const { return boost::num_edges(impl_->graph); }

std::vector<std::string> ModelGraph::head_names() const {
  std::vector<std::string> names;
  for (const Component& component : impl_->order)
    if (component.kind == Component::Kind::head) names.push_back(to_string(component));
  return names;
}

}  // namespace cscrub::graph
