// The names of model components and ports, printed and parsed in exactly one place:
// heads "9.9" (layer.head, as in the IOI paper), MLPs "mlp 3", "embed", "output"; ports q, k, v, in.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cscrub/graph/hypothesis.hpp"

namespace cscrub::graph {

Component embed_component();
Component head_component(int layer, int head);
Component mlp_component(int layer);
Component output_component();

// "embed", "9.9", "mlp 3", "output".
std::string to_string(const Component& component);
// The inverse of to_string; nullopt for anything else (including "9-9" or " 9.9").
std::optional<Component> parse_component(std::string_view text);
// Only "L.H" with decimal L and H; nullopt otherwise.
std::optional<Component> parse_head(std::string_view text);

// "q", "k", "v", "in".
std::string to_string(Port port);
std::optional<Port> parse_port(std::string_view text);
std::vector<std::string> port_names();

// The ports through which a component reads the residual stream: q, k, v for a head; in for an MLP and
// the output; none for the embeddings.
std::vector<Port> input_ports(Component::Kind kind);
bool has_port(Component::Kind kind, Port port);

// The ports of `component` (one of the child's components) through which `edge` feeds it: the edge's
// listed ports, or all of the component's ports when it lists none.
std::vector<Port> ports_fed(const InterpEdge& edge, const Component& component);

// "head", "mlp", "embed", "output".
std::string to_string(Component::Kind kind);

}  // namespace cscrub::graph
