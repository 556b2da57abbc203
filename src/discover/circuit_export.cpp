#include "cscrub/discover/circuit_export.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "cscrub/discover/circuit_selection.hpp"

namespace cscrub::discover {
namespace {

// printf-style formatting into a string (the discover layer does without fmt).
template <typename... Arguments>
std::string printed(const char* format, Arguments... arguments) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, format, arguments...);
  return buffer;
}

// A TOML basic string.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += printed("\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A comment line: no line breaks inside.
std::string comment(const std::string& text) {
  std::string line = text;
  std::replace(line.begin(), line.end(), '\n', ' ');
  return "# " + line + "\n";
}

char port_letter(Port port) { return port == Port::q ? 'q' : port == Port::k ? 'k' : 'v'; }

// Per child source node (or -1: the logits), per parent, the ports of the circuit's edges between them.
std::map<int, std::map<int, std::vector<Port>>> edges_by_child(const ScoredGraph& circuit) {
  std::map<int, std::map<int, std::vector<Port>>> children;
  const EdgeGraph& graph = circuit.graph;
  for (size_t e = 0; e < graph.edges().size(); ++e) {
    if (!circuit.edge_in_graph[e]) continue;
    const Edge edge = graph.edges()[e];
    const auto owner = graph.owner(edge.destination);
    children[owner ? *owner : -1][edge.source].push_back(graph.destination(edge.destination).port);
  }
  return children;
}

}  // namespace

std::string circuit_hypothesis_toml(const ScoredGraph& unpruned, const CircuitText& text) {
  ScoredGraph circuit = unpruned;
  prune(circuit);
  const EdgeGraph& graph = circuit.graph;
  const auto children = edges_by_child(circuit);
  std::ostringstream out;
  out << "# A circuit as a causal-scrubbing hypothesis, written by `cscrub circuit`"
      << (text.origin.empty() ? "" : " from " + text.origin) << ".\n"
      << "# " << circuit.edges_in_graph() << " edges between " << circuit.nodes_in_graph()
      << " nodes and the logits. Each node is one component evaluated on the same prompt as its child\n"
      << "# (feature \"prompt\"), reading the listed parents through the listed ports; every other input of it is\n"
      << "# resampled from one random prompt of the reference's alignment group. Every position.\n";
  out << "name = " << quoted(text.name) << "\n";
  if (!text.description.empty()) out << "description = " << quoted(text.description) << "\n";
  out << "\n[model]\nlayers = " << graph.shape().n_layers << "\nheads = " << graph.shape().n_heads << "\n";
  out << "\n[defaults]\ntask = " << quoted(text.task) << "\n";
  if (!text.metric.empty()) out << "metric = " << quoted(text.metric) << "\n";

  auto parents_line = [&](const std::map<int, std::vector<Port>>& parents, bool head) {
    std::vector<std::string> entries;
    for (const auto& [parent, ports] : parents) {
      const std::string name = quoted(graph.source_name(parent));
      if (!head || ports.size() == 3) {
        entries.push_back(name);
        continue;
      }
      std::string list;
      for (Port port : ports) list += std::string(list.empty() ? "" : ", ") + "\"" + port_letter(port) + "\"";
      entries.push_back("{ node = " + name + ", ports = [" + list + "] }");
    }
    std::string line = "parents = [";
    for (size_t i = 0; i < entries.size(); ++i) line += (i ? ",\n  " : "\n  ") + entries[i];
    return line + (entries.empty() ? "]\n" : ",\n]\n");
  };

  for (int s = 0; s < graph.source_count(); ++s) {
    if (!circuit.node_in_graph[static_cast<size_t>(s)]) continue;
    const Source source = graph.source(s);
    out << "\n[nodes." << quoted(graph.source_name(s)) << "]\n";
    switch (source.kind) {
      case Source::Kind::input: out << "class = \"embeddings\"\nembed = true\n"; break;
      case Source::Kind::head:
        out << "class = \"attention head\"\nheads = [\"" << source.layer << "." << source.head << "\"]\n";
        break;
      case Source::Kind::mlp: out << "class = \"MLP\"\nmlps = [" << source.layer << "]\n"; break;
    }
    out << "feature = \"prompt\"\n";
    const auto found = children.find(s);
    if (found != children.end()) out << parents_line(found->second, source.kind == Source::Kind::head);
  }
  out << "\n[output]\n";
  const auto logits = children.find(-1);
  out << (logits == children.end() ? std::string("parents = []\n") : parents_line(logits->second, false));
  if (circuit.edges_in_graph() == 0) out << comment("The circuit has no edges: nothing matters (builtin:none).");
  return out.str();
}

std::string circuit_dot(const ScoredGraph& unpruned, const CircuitText& text) {
  ScoredGraph circuit = unpruned;
  prune(circuit);
  const EdgeGraph& graph = circuit.graph;
  double largest = 0;
  for (size_t e = 0; e < circuit.scores.size(); ++e)
    if (circuit.edge_in_graph[e]) largest = std::max(largest, std::abs(circuit.scores[e]));
  static constexpr const char* kLayerColours[] = {"#dbe9f6", "#e5f5e0", "#fdebd0", "#ebdef0", "#fadbd8", "#d6eaf8",
                                                 "#e8f8f5", "#fcf3cf", "#f2f3f4", "#e8daef", "#d5f5e3", "#fae5d3"};
  auto node_id = [&](int source) {  // appended piece by piece: GCC 12 warns (-Wrestrict) on "\"" + std::string
    std::string id = "\"";
    id += graph.source_name(source);
    id += '"';
    return id;
  };
  std::ostringstream out;
  out << "// " << text.name << (text.origin.empty() ? "" : " (from " + text.origin + ")") << ", drawn by cscrub circuit\n"
      << "digraph circuit {\n"
      << "  graph [rankdir=BT, newrank=true, nodesep=0.25, ranksep=0.5, fontname=\"Helvetica\", labelloc=t,\n"
      << "         label=" << quoted(text.name) << "];\n"
      << "  node [fontname=\"Helvetica\", fontsize=12, style=filled, penwidth=1.2];\n"
      << "  edge [arrowsize=0.7, fontname=\"Helvetica\", fontsize=10];\n";
  // One row per layer's heads, one per MLP, the input below and the logits above.
  out << "  " << node_id(0) << " [shape=box, style=\"rounded,filled\", fillcolor=\"#eeeeee\", label=\"input\"];\n";
  for (int layer = 0; layer < graph.shape().n_layers; ++layer) {
    const std::string colour = kLayerColours[layer % 12];
    std::string heads;
    for (int head = 0; head < graph.shape().n_heads; ++head) {
      const int s = graph.index_of(Source{Source::Kind::head, layer, head});
      if (!circuit.node_in_graph[static_cast<size_t>(s)]) continue;
      out << "  " << node_id(s) << " [shape=ellipse, fillcolor=\"" << colour << "\", label=\"" << layer << "." << head
          << "\"];\n";
      heads += ' ';
      heads += node_id(s);
      heads += ';';
    }
    if (!heads.empty()) out << "  { rank=same;" << heads << " }\n";
    const int mlp = graph.index_of(Source{Source::Kind::mlp, layer, -1});
    if (circuit.node_in_graph[static_cast<size_t>(mlp)])
      out << "  " << node_id(mlp) << " [shape=box, fillcolor=\"" << colour << "\", label=\"MLP " << layer << "\"];\n";
  }
  out << "  logits [shape=box, style=\"rounded,filled\", fillcolor=\"#eeeeee\", label=\"logits\"];\n";
  for (size_t e = 0; e < graph.edges().size(); ++e) {
    if (!circuit.edge_in_graph[e]) continue;
    const Edge edge = graph.edges()[e];
    const double score = circuit.scores[e];
    const double strength = largest > 0 ? std::abs(score) / largest : 0.0;
    // Red for positive, blue for negative, paler as |score| falls.
    const int fade = static_cast<int>(std::lround(200 * (1.0 - strength)));
    const std::string colour = score >= 0 ? printed("#%02x%02x%02x", 200 + fade / 4, fade, fade)
                                          : printed("#%02x%02x%02x", fade, fade, 200 + fade / 4);
    const auto owner = graph.owner(edge.destination);
    out << "  " << node_id(edge.source) << " -> " << (owner ? node_id(*owner) : std::string("logits"))
        << printed(" [penwidth=%.2f, color=\"%s\"", 0.6 + 4.4 * strength, colour.c_str());
    const Port port = graph.destination(edge.destination).port;
    if (port == Port::q || port == Port::k || port == Port::v)
      out << ", style=" << (port == Port::q ? "solid" : port == Port::k ? "dashed" : "dotted") << ", headlabel=\""
          << port_letter(port) << "\"";
    out << printed(", tooltip=\"%s %.4g\"];\n", graph.edge_name(edge).c_str(), score);
  }
  out << "}\n";
  return out.str();
}

}  // namespace cscrub::discover
