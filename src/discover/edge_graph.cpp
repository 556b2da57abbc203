#include "cscrub/discover/edge_graph.hpp"

#include <charconv>

#include "cscrub/error.hpp"

namespace cscrub::discover {

namespace {

constexpr std::string_view kPortLetters = "qkv";

// A non-negative decimal number without sign or leading zeros, as EAP-IG prints layer and head indices.
std::optional<int> parse_index(std::string_view text) {
  if (text.empty() || text.front() < '0' || text.front() > '9' || (text.size() > 1 && text.front() == '0')) return std::nullopt;
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// "a{layer}.h{head}" / "m{layer}", appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on
// "a" + std::to_string(...).
std::string head_name(int layer, int head) {
  std::string name = "a";
  name += std::to_string(layer);
  name += ".h";
  name += std::to_string(head);
  return name;
}
std::string mlp_name(int layer) {
  std::string name = "m";
  name += std::to_string(layer);
  return name;
}

}  // namespace

GraphShape graph_shape(const engine::ModelConfig& config) {
  return {.n_layers = config.n_layer, .n_heads = config.n_head, .d_model = config.d_model,
          .parallel_attn_mlp = config.parallel_attn_mlp};
}

EdgeGraph::EdgeGraph(const GraphShape& shape) : shape_(shape) {
  if (shape.n_layers <= 0 || shape.n_heads <= 0 || shape.d_model <= 0)
    throw Error("a model graph needs layers, heads and a model width (got " + std::to_string(shape.n_layers) +
                ", " + std::to_string(shape.n_heads) + ", " + std::to_string(shape.d_model) + ")");
  const int heads = shape.n_heads;
  for (int layer = 0; layer < shape.n_layers; ++layer) {
    const int earlier = index_of(Source{Source::Kind::head, layer, 0});  // sources written before this layer
    const int mlp = index_of(Destination{Port::mlp, layer, -1});
    auto head_inputs_from = [&](int source) {
      for (int head = 0; head < heads; ++head)
        for (Port port : {Port::q, Port::k, Port::v}) edges_.push_back({source, index_of(Destination{port, layer, head})});
    };
    if (shape.parallel_attn_mlp) {
      for (int source = 0; source < earlier; ++source) {
        head_inputs_from(source);
        edges_.push_back({source, mlp});
      }
    } else {
      for (int source = 0; source < earlier; ++source) head_inputs_from(source);
      for (int source = 0; source < earlier + heads; ++source) edges_.push_back({source, mlp});
    }
  }
  const int logits = destination_count() - 1;
  for (int source = 0; source < source_count(); ++source) edges_.push_back({source, logits});
  edge_index_.assign(static_cast<size_t>(destination_count()) * source_count(), -1);
  for (size_t e = 0; e < edges_.size(); ++e)
    edge_index_[static_cast<size_t>(edges_[e].destination) * source_count() + edges_[e].source] = static_cast<int>(e);
}

std::optional<int> EdgeGraph::edge_index(int source, int destination) const {
  if (source < 0 || source >= source_count() || destination < 0 || destination >= destination_count())
    return std::nullopt;
  const int index = edge_index_[static_cast<size_t>(destination) * source_count() + source];
  if (index < 0) return std::nullopt;
  return index;
}

Source EdgeGraph::source(int index) const {
  if (index == 0) return {};
  const int layer = (index - 1) / (shape_.n_heads + 1), slot = (index - 1) % (shape_.n_heads + 1);
  if (slot == shape_.n_heads) return {Source::Kind::mlp, layer, -1};
  return {Source::Kind::head, layer, slot};
}

Destination EdgeGraph::destination(int index) const {
  const int per_layer = 3 * shape_.n_heads + 1;
  if (index == destination_count() - 1) return {};
  const int layer = index / per_layer, slot = index % per_layer;
  if (slot == 3 * shape_.n_heads) return {Port::mlp, layer, -1};
  return {static_cast<Port>(slot / shape_.n_heads), layer, slot % shape_.n_heads};
}

int EdgeGraph::index_of(const Source& source) const {
  switch (source.kind) {
    case Source::Kind::input: return 0;
    case Source::Kind::head: return 1 + source.layer * (shape_.n_heads + 1) + source.head;
    case Source::Kind::mlp: return 1 + source.layer * (shape_.n_heads + 1) + shape_.n_heads;
  }
  return 0;
}

int EdgeGraph::index_of(const Destination& destination) const {
  const int per_layer = 3 * shape_.n_heads + 1;
  switch (destination.port) {
    case Port::q:
    case Port::k:
    case Port::v:
      return destination.layer * per_layer + static_cast<int>(destination.port) * shape_.n_heads + destination.head;
    case Port::mlp: return destination.layer * per_layer + 3 * shape_.n_heads;
    case Port::logits: return destination_count() - 1;
  }
  return 0;
}

std::optional<int> EdgeGraph::owner(int destination_index) const {
  const Destination d = destination(destination_index);
  switch (d.port) {
    case Port::q:
    case Port::k:
    case Port::v: return index_of(Source{Source::Kind::head, d.layer, d.head});
    case Port::mlp: return index_of(Source{Source::Kind::mlp, d.layer, -1});
    case Port::logits: return std::nullopt;
  }
  return std::nullopt;
}

int EdgeGraph::readable_sources(int destination_index) const {
  const Destination d = destination(destination_index);
  const int before_layer = 1 + d.layer * (shape_.n_heads + 1);
  switch (d.port) {
    case Port::q:
    case Port::k:
    case Port::v: return before_layer;
    case Port::mlp: return shape_.parallel_attn_mlp ? before_layer : before_layer + shape_.n_heads;
    case Port::logits: return source_count();
  }
  return 0;
}

std::string EdgeGraph::source_name(int index) const {
  const Source s = source(index);
  switch (s.kind) {
    case Source::Kind::input: return "input";
    case Source::Kind::head: return head_name(s.layer, s.head);
    case Source::Kind::mlp: return mlp_name(s.layer);
  }
  return {};
}

std::string EdgeGraph::destination_name(int index) const {
  const Destination d = destination(index);
  switch (d.port) {
    case Port::q:
    case Port::k:
    case Port::v: {
      std::string name = head_name(d.layer, d.head);
      name += '<';
      name += kPortLetters[static_cast<size_t>(d.port)];
      name += '>';
      return name;
    }
    case Port::mlp: return mlp_name(d.layer);
    case Port::logits: return "logits";
  }
  return {};
}

std::string EdgeGraph::edge_name(const Edge& edge) const {
  return source_name(edge.source) + "->" + destination_name(edge.destination);
}

std::vector<std::string> EdgeGraph::node_names() const {
  std::vector<std::string> names;
  for (int s = 0; s < source_count(); ++s) names.push_back(source_name(s));
  names.emplace_back("logits");
  return names;
}

std::optional<int> EdgeGraph::find_source(std::string_view name) const {
  if (name == "input") return 0;
  if (name.size() >= 2 && name.front() == 'm') {
    const auto layer = parse_index(name.substr(1));
    if (!layer || *layer >= shape_.n_layers) return std::nullopt;
    return index_of(Source{Source::Kind::mlp, *layer, -1});
  }
  if (name.size() >= 4 && name.front() == 'a') {
    const size_t dot = name.find(".h");
    if (dot == std::string_view::npos) return std::nullopt;
    const auto layer = parse_index(name.substr(1, dot - 1)), head = parse_index(name.substr(dot + 2));
    if (!layer || !head || *layer >= shape_.n_layers || *head >= shape_.n_heads) return std::nullopt;
    return index_of(Source{Source::Kind::head, *layer, *head});
  }
  return std::nullopt;
}

std::optional<int> EdgeGraph::find_destination(std::string_view name) const {
  if (name == "logits") return destination_count() - 1;
  if (name.size() >= 3 && name.back() == '>' && name[name.size() - 3] == '<') {
    const size_t port = kPortLetters.find(name[name.size() - 2]);
    const auto head = find_source(name.substr(0, name.size() - 3));
    if (port == std::string_view::npos || !head) return std::nullopt;
    const Source s = source(*head);
    if (s.kind != Source::Kind::head) return std::nullopt;
    return index_of(Destination{static_cast<Port>(port), s.layer, s.head});
  }
  const auto mlp = find_source(name);
  if (!mlp || source(*mlp).kind != Source::Kind::mlp) return std::nullopt;
  return index_of(Destination{Port::mlp, source(*mlp).layer, -1});
}

std::optional<Edge> EdgeGraph::find_edge(std::string_view name) const {
  const size_t arrow = name.find("->");
  if (arrow == std::string_view::npos) return std::nullopt;
  const auto from = find_source(name.substr(0, arrow));
  const auto to = find_destination(name.substr(arrow + 2));
  if (!from || !to || !is_edge(*from, *to)) return std::nullopt;
  return Edge{*from, *to};
}

}  // namespace cscrub::discover
