// to_dot: one cluster per interpretation node, one box per component inside it, ranked by the
// component's stage in the model (newrank lets ranks cross clusters), plus a layer axis on top.
#include "cscrub/graph/dot.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>

#include "cscrub/graph/component_id.hpp"
#include "suggestions.hpp"

namespace cscrub::graph {

namespace {

// Fill colours for classes (pastels that print well). A class keeps its colour across drawings, so that
// variants of one hypothesis look alike side by side: the classes of the IOI paper have their own, any
// other class gets one by a hash of its name (the next free one on a clash within a drawing).
const char* const kClassFills[] = {"#fb8072", "#ffffb3", "#8dd3c7", "#e5d8bd", "#bc80bd", "#ccebc5",
                                   "#80b1d3", "#bebada", "#b3de69", "#fccde5", "#d9d9d9", "#fdb462",
                                   "#a6cee3", "#b2df8a", "#fdbf6f", "#cab2d6"};
constexpr size_t kClassFillCount = std::size(kClassFills);
const std::pair<const char*, size_t> kKnownClasses[] = {
    {"induction", 0},      {"previous token", 1},    {"embeddings", 3},          {"S-inhibition", 6},
    {"duplicate token", 7}, {"backup name mover", 8}, {"negative name mover", 9}, {"name mover", 11}};

// FNV-1a: stable across platforms and runs, unlike std::hash.
uint64_t stable_hash(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ull;
  }
  return hash;
}
const char* const kOutputFill = "#f0f0f0";

// Names, classes, descriptions and file names are user text: escaped wherever they go, so that no text
// ends a comment, a string or a label early (a name holding a newline once escaped the // comment).
bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// Control characters as C escapes ("\n", "\x01"): visible, and one line.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (is_control(c)) out += "\\x" + std::string{"0123456789abcdef"[(c >> 4) & 15], "0123456789abcdef"[c & 15]};
    else out += c;
  }
  return out;
}

// For Graphviz's HTML-like labels, which an XML parser reads: control characters are not allowed in XML.
std::string escape_html(std::string_view text) {
  std::string escaped;
  for (char c : printable(text)) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      default: escaped += c;
    }
  }
  return escaped;
}

// For a double-quoted DOT string: a backslash starts Graphviz's label escapes (\N, \l), a quote ends it.
std::string escape_quoted(std::string_view text) {
  std::string escaped;
  for (char c : printable(text)) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return escaped;
}

std::string positions_text(const PositionSpec& positions) {
  if (positions.all()) return "all positions";
  std::vector<std::string> names = positions.labels;
  for (int index : positions.indices) names.push_back("pos " + std::to_string(index));
  return join(names);
}

std::string ports_text(const InterpEdge& edge, const InterpNode& child) {
  if (!edge.ports.empty()) {
    std::vector<std::string> names;
    for (Port port : edge.ports) names.push_back(to_string(port));
    return join(names, ",");
  }
  bool has_heads = std::any_of(child.components.begin(), child.components.end(),
                               [](const Component& c) { return c.kind == Component::Kind::head; });
  return has_heads ? "q,k,v" : "";
}

// Queries steer where a head looks; keys and values what it finds there: two colours.
std::string edge_colour(const std::string& ports) {
  if (ports == "q") return "#d95f02";
  if (ports == "k" || ports == "v" || ports == "k,v" || ports == "v,k") return "#1f78b4";
  return "#444444";
}

std::string axis_label(const ModelGraph& model, int stage) {
  if (stage == 0) return "embed";
  if (stage == 2 * model.n_layer() + 1) return "logits";
  int layer = (stage - 1) / 2;
  return stage % 2 == 1 ? "layer " + std::to_string(layer) : "MLP " + std::to_string(layer);
}

class DotWriter {
 public:
  DotWriter(const Hypothesis& hypothesis, const ModelGraph& model) : hypothesis_(hypothesis), model_(model) {}

  std::string write() {
    assign_colours();
    out_ << "// " << printable(hypothesis_.name) << " (from " << printable(hypothesis_.source_file)
         << "), drawn by cscrub graph\n";
    out_ << "digraph hypothesis {\n"
         << "  graph [rankdir=LR, newrank=true, compound=true, nodesep=0.12, ranksep=0.45, fontname=\"Helvetica\","
         << " fontsize=22, labelloc=t, labeljust=l, pad=0.3,\n"
         << "         label=<<B>" << escape_html(hypothesis_.name) << "</B>>];\n"
         << "  node [fontname=\"Helvetica\", fontsize=13, shape=box, style=\"rounded,filled\", fillcolor=white,"
         << " color=\"#555555\", penwidth=1, margin=\"0.10,0.04\", height=0.3];\n"
         << "  edge [fontname=\"Helvetica\", fontsize=12, penwidth=1.6, arrowsize=0.8];\n";
    write_axis();
    for (size_t i = 0; i < hypothesis_.nodes.size(); ++i) write_cluster(static_cast<int>(i));
    for (const InterpEdge& edge : hypothesis_.edges) write_edge(edge);
    write_legend();
    write_ranks();
    out_ << "}\n";
    return out_.str();
  }

 private:
  std::string component_id(int node, size_t index) const {
    std::string id = "n";  // (appending avoids a GCC 12 -Wrestrict false positive)
    id += std::to_string(node);
    id += '_';
    id += std::to_string(index);
    return id;
  }

  void assign_colours() {
    std::vector<bool> taken(kClassFillCount, false);
    for (const auto& [name, slot] : kKnownClasses) taken[slot] = true;
    for (const InterpNode& node : hypothesis_.nodes) {
      const std::string key = class_of(node);
      if (node.components.size() == 1 && node.components.front().kind == Component::Kind::output) continue;
      if (colours_.contains(key)) continue;
      auto known = std::find_if(std::begin(kKnownClasses), std::end(kKnownClasses),
                                [&](const auto& entry) { return key == entry.first; });
      size_t slot = 0;
      if (known != std::end(kKnownClasses)) {
        slot = known->second;
      } else {
        slot = stable_hash(key) % kClassFillCount;
        for (size_t probe = 0; probe < kClassFillCount && taken[slot]; ++probe) slot = (slot + 1) % kClassFillCount;
        taken[slot] = true;  // with more classes than colours, colours repeat
      }
      colours_[key] = kClassFills[slot];
      class_order_.push_back(key);
    }
  }

  static std::string class_of(const InterpNode& node) { return node.node_class.empty() ? node.name : node.node_class; }

  std::string fill_of(const InterpNode& node) const {
    auto found = colours_.find(class_of(node));
    return found == colours_.end() ? kOutputFill : found->second;
  }

  // The stages the drawing spans: from the embeddings to the output, MLP columns only where used.
  std::vector<int> stages() const {
    std::set<int> used;
    for (const InterpNode& node : hypothesis_.nodes)
      for (const Component& component : node.components) used.insert(model_.stage(component));
    std::vector<int> result;
    for (int stage = 0; stage <= 2 * model_.n_layer() + 1; ++stage)
      if (stage == 0 || stage % 2 == 1 || used.contains(stage)) result.push_back(stage);
    return result;
  }

  void write_axis() {
    out_ << "  // the model's layers, in order: one column each\n";
    out_ << "  node [shape=plaintext, style=\"\", fontsize=12, fontcolor=\"#777777\"];\n";
    std::string chain;
    for (int stage : stages()) {
      out_ << "  axis" << stage << " [label=\"" << axis_label(model_, stage) << "\"];\n";
      chain += (chain.empty() ? "" : " -> ") + std::string("axis") + std::to_string(stage);
    }
    out_ << "  " << chain << " [style=invis];\n";
    out_ << "  node [shape=box, style=\"rounded,filled\", fontsize=13, fontcolor=black];\n";
  }

  void write_cluster(int index) {
    const InterpNode& node = hypothesis_.nodes[index];
    const bool is_output = index == hypothesis_.output_node;
    out_ << "  subgraph cluster_" << index << " {\n";
    out_ << "    style=\"rounded,filled\"; color=\"#666666\"; penwidth=1.2; fillcolor=\"" << fill_of(node)
         << "\"; margin=8;\n";
    out_ << "    label=<" << cluster_label(node, is_output) << ">;\n";
    for (size_t c = 0; c < node.components.size(); ++c) {
      const Component& component = node.components[c];
      std::string text = component.kind == Component::Kind::embed    ? "embed"
                         : component.kind == Component::Kind::output ? metric_label()
                                                                     : to_string(component);
      out_ << "    " << component_id(index, c) << " [label=\"" << escape_quoted(text) << "\"];\n";
      by_stage_[model_.stage(component)].push_back(component_id(index, c));
    }
    out_ << "  }\n";
  }

  // What the output box computes: the metric, when the hypothesis names one.
  std::string metric_label() const {
    return hypothesis_.defaults.metric.empty() ? std::string("logits") : hypothesis_.defaults.metric;
  }

  // "s_inhibition" -> "s inhibition"
  static std::string title_of(const std::string& name) {
    std::string title = name;
    std::replace(title.begin(), title.end(), '_', ' ');
    return title;
  }

  // Lower-case letters and digits only, to compare a name with its class ("S-inhibition", "s_inhibition").
  static std::string letters(const std::string& text) {
    std::string result;
    for (char c : text)
      if (std::isalnum(static_cast<unsigned char>(c))) result += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return result;
  }

  // The node's name, its class when that says more ("embed io": embeddings; not "name movers": name
  // mover), then where and what: positions and feature.
  std::string cluster_label(const InterpNode& node, bool is_output) const {
    std::string title = is_output ? "output" : title_of(node.name);
    if (letters(title) == letters(node.node_class)) title = node.node_class;  // "S-inhibition", not "s inhibition"
    std::string label = "<FONT POINT-SIZE=\"16\"><B>" + escape_html(title) + "</B></FONT>";
    if (!is_output && !node.node_class.empty() && !letters(title).starts_with(letters(node.node_class)))
      label += "<BR/><FONT POINT-SIZE=\"13\"><I>" + escape_html(node.node_class) + "</I></FONT>";
    std::string detail = "at " + positions_text(node.positions);
    if (!is_output || node.feature != std::vector<std::string>{"prompt"}) detail += " · " + join(node.feature, " + ");
    if (node.rest == InterpNode::Rest::same) detail += " · rest same";
    label += "<BR/><FONT POINT-SIZE=\"12\">" + escape_html(detail) + "</FONT>";
    return label;
  }

  void write_ranks() {
    out_ << "  // each component in its layer's column\n";
    for (const auto& [stage, ids] : by_stage_) {
      out_ << "  { rank=same; axis" << stage << ";";
      for (const auto& id : ids) out_ << " " << id << ";";
      out_ << " }\n";
    }
  }

  // Drawn between the clusters, from the parent's last component to the child's first.
  void write_edge(const InterpEdge& edge) {
    const InterpNode& parent = hypothesis_.nodes[edge.parent];
    const InterpNode& child = hypothesis_.nodes[edge.child];
    if (parent.components.empty() || child.components.empty()) return;
    auto by_stage = [&](const InterpNode& node, bool last) {
      size_t best = 0;
      for (size_t c = 1; c < node.components.size(); ++c) {
        int stage = model_.stage(node.components[c]), best_stage = model_.stage(node.components[best]);
        if (last ? stage > best_stage : stage < best_stage) best = c;
      }
      return best;
    };
    std::string ports = ports_text(edge, child);
    std::string colour = edge_colour(ports);
    edge_colours_.insert(colour);
    out_ << "  " << component_id(edge.parent, by_stage(parent, true)) << " -> "
         << component_id(edge.child, by_stage(child, false)) << " [ltail=cluster_" << edge.parent
         << ", lhead=cluster_" << edge.child << ", color=\"" << colour << "\", fontcolor=\"" << colour << "\"";
    if (!ports.empty()) out_ << ", label=\" " << ports << " \"";
    out_ << "];\n";
  }

  void write_legend() {
    if (class_order_.empty() && edge_colours_.empty()) return;  // Graphviz refuses an empty table
    out_ << "  // what the colours mean\n";
    out_ << "  legend [shape=plaintext, style=\"\", label=<<TABLE BORDER=\"0\" CELLSPACING=\"2\" CELLPADDING=\"3\">";
    for (const std::string& name : class_order_)
      out_ << "<TR><TD BGCOLOR=\"" << colours_.at(name) << "\" WIDTH=\"16\"> </TD><TD ALIGN=\"LEFT\">"
           << escape_html(name) << "</TD></TR>";
    // Only the kinds of edge the drawing has.
    const std::pair<const char*, const char*> kinds[] = {
        {"#d95f02", "query (q)"}, {"#1f78b4", "key / value (k, v)"}, {"#444444", "other inputs"}};
    for (const auto& [colour, meaning] : kinds)
      if (edge_colours_.contains(colour))
        out_ << "<TR><TD><FONT COLOR=\"" << colour << "\">&#8594;</FONT></TD><TD ALIGN=\"LEFT\">" << meaning
             << "</TD></TR>";
    out_ << "</TABLE>>];\n";
    by_stage_[2 * model_.n_layer() + 1].push_back("legend");
  }

  const Hypothesis& hypothesis_;
  const ModelGraph& model_;
  std::ostringstream out_;
  std::map<std::string, std::string> colours_;
  std::vector<std::string> class_order_;
  std::map<int, std::vector<std::string>> by_stage_;
  std::set<std::string> edge_colours_;
};

}  // namespace

std::string to_dot(const Hypothesis& hypothesis, const ModelGraph& model) { return DotWriter(hypothesis, model).write(); }

}  // namespace cscrub::graph
