#include "cscrub/graph/component_id.hpp"

#include <algorithm>
#include <charconv>

namespace cscrub::graph {

namespace {

// A non-negative decimal integer: digits only, no sign, spaces or leading zeros ("0" itself is fine).
std::optional<int> parse_index(std::string_view text) {
  if (text.empty() || text.size() > 6) return std::nullopt;
  if (text.size() > 1 && text.front() == '0') return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

Component embed_component() { return Component{Component::Kind::embed, -1, -1}; }
Component head_component(int layer, int head) { return Component{Component::Kind::head, layer, head}; }
Component mlp_component(int layer) { return Component{Component::Kind::mlp, layer, -1}; }
Component output_component() { return Component{Component::Kind::output, -1, -1}; }

std::string to_string(const Component& component) {
  switch (component.kind) {
    case Component::Kind::embed: return "embed";
    case Component::Kind::head: return std::to_string(component.layer) + "." + std::to_string(component.head);
    case Component::Kind::mlp: return "mlp " + std::to_string(component.layer);
    case Component::Kind::output: return "output";
  }
  return "?";
}

std::optional<Component> parse_head(std::string_view text) {
  size_t dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto layer = parse_index(text.substr(0, dot));
  auto head = parse_index(text.substr(dot + 1));
  if (!layer || !head) return std::nullopt;
  return head_component(*layer, *head);
}

std::optional<Component> parse_component(std::string_view text) {
  if (text == "embed") return embed_component();
  if (text == "output") return output_component();
  if (text.starts_with("mlp ")) {
    if (auto layer = parse_index(text.substr(4))) return mlp_component(*layer);
    return std::nullopt;
  }
  return parse_head(text);
}

std::string to_string(Port port) {
  switch (port) {
    case Port::q: return "q";
    case Port::k: return "k";
    case Port::v: return "v";
    case Port::in: return "in";
  }
  return "?";
}

std::optional<Port> parse_port(std::string_view text) {
  for (Port port : {Port::q, Port::k, Port::v, Port::in})
    if (text == to_string(port)) return port;
  return std::nullopt;
}

std::vector<std::string> port_names() { return {"q", "k", "v", "in"}; }

std::vector<Port> input_ports(Component::Kind kind) {
  switch (kind) {
    case Component::Kind::embed: return {};
    case Component::Kind::head: return {Port::q, Port::k, Port::v};
    case Component::Kind::mlp:
    case Component::Kind::output: return {Port::in};
  }
  return {};
}

bool has_port(Component::Kind kind, Port port) {
  auto ports = input_ports(kind);
  return std::find(ports.begin(), ports.end(), port) != ports.end();
}

std::vector<Port> ports_fed(const InterpEdge& edge, const Component& component) {
  return edge.ports.empty() ? input_ports(component.kind) : edge.ports;
}

std::string to_string(Component::Kind kind) {
  switch (kind) {
    case Component::Kind::embed: return "embed";
    case Component::Kind::head: return "head";
    case Component::Kind::mlp: return "mlp";
    case Component::Kind::output: return "output";
  }
  return "?";
}

}  // namespace cscrub::graph
