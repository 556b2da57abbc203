// find_problems: a hypothesis against the model graph G and the task's schema.
#include "cscrub/graph/check.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "cscrub/error.hpp"
#include "cscrub/graph/component_id.hpp"
#include "cscrub/graph/interp_graph.hpp"
#include "suggestions.hpp"

namespace cscrub::graph {

namespace {

enum class Overlap { yes, no, unknown };

// Every task labels the answer position, the last prompt token, END.
const std::string kAnswerLabel = "END";

// In O((|a| + |b|) log) rather than O(|a| |b|): position lists may hold thousands of indices.
template <typename T>
bool intersects(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() * b.size() <= 64)
    return std::any_of(a.begin(), a.end(), [&](const T& x) { return std::find(b.begin(), b.end(), x) != b.end(); });
  const std::set<T> in_b(b.begin(), b.end());
  return std::any_of(a.begin(), a.end(), [&](const T& x) { return in_b.contains(x); });
}

// Labels name different tokens in different prompts, so a label and an index can only be compared on
// data: `unknown`.
Overlap overlap(const PositionSpec& a, const PositionSpec& b) {
  if (a.all() || b.all()) return Overlap::yes;
  if (intersects(a.labels, b.labels) || intersects(a.indices, b.indices)) return Overlap::yes;
  const bool comparable = (a.indices.empty() && b.indices.empty()) || (a.labels.empty() && b.labels.empty());
  return comparable ? Overlap::no : Overlap::unknown;
}

class Checker {
 public:
  Checker(const Hypothesis& hypothesis, const ModelGraph& model, const data::TaskSchema& task)
      : hypothesis_(hypothesis), model_(model), task_(task) {}

  std::vector<Problem> run() {
    check_model_shape();
    for (const InterpNode& node : hypothesis_.nodes) {
      check_components(node);
      check_feature(node);
      check_positions(node);
    }
    check_injective();
    for (const InterpEdge& edge : hypothesis_.edges) check_edge(edge);
    check_cycles_and_reach();
    return std::move(problems_);
  }

 private:
  void report(const SourceLocation& where, std::string message, std::string hint = {}) {
    problems_.push_back(Problem{where, std::move(message), std::move(hint)});
  }

  std::string model_shape() const {
    return std::to_string(model_.n_layer()) + " layers of " + std::to_string(model_.n_head()) + " heads";
  }

  void check_model_shape() {
    if (hypothesis_.model_layers && *hypothesis_.model_layers != model_.n_layer())
      report(hypothesis_.model_location,
             "written for a model with " + std::to_string(*hypothesis_.model_layers) + " layers, but the model has " +
                 std::to_string(model_.n_layer()),
             "check it against the model it was written for (--model DIR)");
    if (hypothesis_.model_heads && *hypothesis_.model_heads != model_.n_head())
      report(hypothesis_.model_location,
             "written for a model with " + std::to_string(*hypothesis_.model_heads) +
                 " heads per layer, but the model has " + std::to_string(model_.n_head()),
             "check it against the model it was written for (--model DIR)");
  }

  // Valid heads, nearest first, so that edit-distance ties go to the numerically closest head.
  std::vector<std::string> heads_near(const Component& head) const {
    std::vector<Component> heads;
    for (const Component& component : model_.components_in_order())
      if (component.kind == Component::Kind::head) heads.push_back(component);
    auto distance = [&](const Component& c) {
      return std::abs(c.layer - head.layer) * model_.n_head() + std::abs(c.head - head.head);
    };
    std::stable_sort(heads.begin(), heads.end(),
                     [&](const Component& a, const Component& b) { return distance(a) < distance(b); });
    std::vector<std::string> names;
    for (const Component& c : heads) names.push_back(to_string(c));
    return names;
  }

  void check_components(const InterpNode& node) {
    if (node.components.empty())
      report(node.components_location, "node '" + node.name + "' has no components",
             "say where the model computes it: heads = [\"9.9\"], mlps = [0] and/or embed = true");
    for (const Component& component : node.components) {
      if (model_.contains(component)) continue;
      const std::string name = to_string(component);
      if (component.kind == Component::Kind::head) {
        std::string why = component.layer >= model_.n_layer()
                              ? "the model has layers 0-" + std::to_string(model_.n_layer() - 1)
                              : "the model has heads 0-" + std::to_string(model_.n_head() - 1) + " in each layer";
        report(node.components_location,
               "node '" + node.name + "': head " + name + " does not exist (" + why + ")" +
                   did_you_mean(name, heads_near(component)));
      } else if (component.kind == Component::Kind::mlp) {
        std::vector<std::string> layers;
        for (int layer = model_.n_layer() - 1; layer >= 0; --layer) layers.push_back(std::to_string(layer));
        const std::string layer = std::to_string(component.layer);
        report(node.components_location,
               "node '" + node.name + "': MLP " + layer + " does not exist (the model has MLPs 0-" +
                   std::to_string(model_.n_layer() - 1) + ")" + did_you_mean(layer, layers));
      }
    }
  }

  void check_feature(const InterpNode& node) {
    if (node.feature.empty()) {
      report(node.feature_location, "node '" + node.name + "' has no feature");
      return;
    }
    std::vector<std::string> valid = task_.features;
    valid.push_back("prompt");
    valid.push_back("none");
    for (const std::string& feature : node.feature) {
      if (std::find(valid.begin(), valid.end(), feature) == valid.end()) {
        report(node.feature_location,
               "node '" + node.name + "': task '" + task_.task + "' has no feature '" + feature + "'" +
                   did_you_mean(feature, valid),
               "its features are: " + join(task_.features) + " (and \"prompt\", \"none\")");
      } else if ((feature == "prompt" || feature == "none") && node.feature.size() > 1) {
        report(node.feature_location,
               "node '" + node.name + "': feature \"" + feature + "\" cannot be combined with other features",
               "\"prompt\" already includes every feature; \"none\" means no feature at all");
      }
    }
  }

  void check_positions(const InterpNode& node) {
    if (&node == &hypothesis_.nodes[static_cast<size_t>(hypothesis_.output_node)]) check_output_positions(node);
    for (const std::string& label : node.positions.labels)
      if (std::find(task_.positions.begin(), task_.positions.end(), label) == task_.positions.end())
        report(node.positions_location,
               "node '" + node.name + "': task '" + task_.task + "' has no position '" + label + "'" +
                   did_you_mean(label, task_.positions),
               "its positions are: " + join(task_.positions) + " (or token indices)");
    // One problem for all of a node's positions beyond the context (a file listing thousands made as many).
    std::vector<int> beyond;
    for (int index : node.positions.indices)
      if (index >= model_.config().n_ctx) beyond.push_back(index);
    if (beyond.empty()) return;
    std::string listed = std::to_string(beyond.front());
    for (size_t i = 1; i < std::min<size_t>(beyond.size(), 3); ++i) listed += ", " + std::to_string(beyond[i]);
    if (beyond.size() > 3) listed += " and " + std::to_string(beyond.size() - 3) + " more";
    report(node.positions_location, "node '" + node.name + "': position" + (beyond.size() > 1 ? "s " : " ") + listed +
                                        (beyond.size() > 1 ? " are" : " is") + " beyond the model's context of " +
                                        std::to_string(model_.config().n_ctx) + " tokens");
  }

  // The metric reads the output at the answer position (the last prompt token, END) and nowhere else:
  // other positions would have no effect, so they are refused rather than ignored.
  void check_output_positions(const InterpNode& output) {
    std::vector<std::string> others;
    for (const std::string& label : output.positions.labels)
      if (label != kAnswerLabel) others.push_back("'" + label + "'");
    for (int index : output.positions.indices)
      if (index != -1) others.push_back(std::to_string(index));
    if (!others.empty())
      report(output.positions_location,
             "[output] positions: the metric reads the output only at the answer position (END, the last prompt "
             "token), so " + join(others) + " would have no effect",
             "omit positions in [output], or write positions = [\"END\"]");
  }

  // c must be injective: no component (at a common position) in two nodes. Each node's claim on a component
  // is reported once, against the earliest node before it that it overlaps, found through the positions
  // claimed so far: comparing every pair of nodes made 800 million reports for one head given to 40,000.
  void check_injective() {
    struct Claims {
      int first = -1;      // the earliest node claiming the component
      int first_all = -1;  // the earliest claiming it at all positions
      std::map<std::string, int, std::less<>> by_label;
      std::map<int, int> by_index;
    };
    std::map<Component, Claims> claims;
    for (size_t i = 0; i < hypothesis_.nodes.size(); ++i) {
      const InterpNode& node = hypothesis_.nodes[i];
      const int self = static_cast<int>(i);
      for (const Component& component : node.components) {
        Claims& claim = claims[component];
        // Overlap::yes: either side at all positions, or a label or an index in common.
        int earliest = node.positions.all() ? claim.first : claim.first_all;
        const auto consider = [&](int other) {
          if (other >= 0 && (earliest < 0 || other < earliest)) earliest = other;
        };
        for (const std::string& label : node.positions.labels)
          if (const auto found = claim.by_label.find(label); found != claim.by_label.end()) consider(found->second);
        for (int index : node.positions.indices)
          if (const auto found = claim.by_index.find(index); found != claim.by_index.end()) consider(found->second);
        if (earliest >= 0 && earliest != self) {
          const InterpNode& first = hypothesis_.nodes[static_cast<size_t>(earliest)];
          report(node.components_location,
                 to_string(component) + " is claimed by two nodes at overlapping positions: '" + first.name +
                     "' (" + first.location.to_string() + ", " + describe_positions(first.positions) + ") and '" +
                     node.name + "' (" + describe_positions(node.positions) + ")",
                 "the correspondence must be injective: give each component to one node, or split it by positions");
        }
        if (claim.first < 0) claim.first = self;
        if (claim.first_all < 0 && node.positions.all()) claim.first_all = self;
        for (const std::string& label : node.positions.labels) claim.by_label.emplace(label, self);
        for (int index : node.positions.indices) claim.by_index.emplace(index, self);
      }
    }
  }

  static std::string why_not_before(const Component& writer, const Component& reader) {
    using Kind = Component::Kind;
    if (writer.kind == Kind::output) return "nothing reads the output";
    if (reader.kind == Kind::embed) return "the embeddings read nothing";
    if (writer.kind == Kind::head && reader.kind == Kind::head && writer.layer == reader.layer)
      return "heads of one layer run in parallel";
    if (writer.kind == Kind::mlp && reader.kind == Kind::mlp && writer.layer == reader.layer)
      return "it is the same MLP";
    if (writer.kind == Kind::head && reader.kind == Kind::mlp && writer.layer == reader.layer)
      return "in this model's parallel blocks the MLP reads the layer's input, as its heads do, not their output";
    return to_string(writer) + " runs after " + to_string(reader);
  }

  void check_edge(const InterpEdge& edge) {
    const InterpNode& parent = hypothesis_.nodes[edge.parent];
    const InterpNode& child = hypothesis_.nodes[edge.child];
    const std::string name = "edge " + parent.name + " -> " + child.name;
    if (edge.parent == edge.child) return;  // a cycle, reported with the others

    for (Port port : edge.ports)
      for (const Component& component : child.components)
        if (!has_port(component.kind, port)) {
          std::vector<std::string> ports;
          for (Port valid : input_ports(component.kind)) ports.push_back(to_string(valid));
          report(edge.location,
                 name + ": " + to_string(component) + " has no port '" + to_string(port) + "'" +
                     (ports.empty() ? std::string(" (it reads nothing)") : " (its ports: " + join(ports) + ")"),
                 "q, k and v are the inputs of attention heads; MLPs and the output read through 'in'");
          return;
        }

    for (const Component& writer : parent.components)
      for (const Component& reader : child.components) {
        if (!model_.contains(writer) || !model_.contains(reader) || model_.precedes(writer, reader)) continue;
        report(edge.location,
               name + " is not an edge of the model: " + to_string(writer) + " does not come before " +
                   to_string(reader) + " (" + why_not_before(writer, reader) + ")",
               "an edge must go from a component to one that reads it later through the residual stream");
        return;
      }

    // q and in read the residual stream at the child's own positions only.
    std::vector<Port> same_position_ports;
    for (Port port : edge.ports)
      if (port == Port::q || port == Port::in) same_position_ports.push_back(port);
    if (edge.ports.empty())
      for (const Component& component : child.components)
        if (component.kind == Component::Kind::mlp || component.kind == Component::Kind::output)
          same_position_ports = {Port::in};
    // The output is read at the answer position only, whatever its positions say.
    const PositionSpec child_positions =
        edge.child == hypothesis_.output_node ? PositionSpec{{kAnswerLabel}, {}} : child.positions;
    if (!same_position_ports.empty() && overlap(parent.positions, child_positions) == Overlap::no)
      report(edge.location,
             name + ": port '" + to_string(same_position_ports.front()) + "' reads the residual stream at " +
                 child.name + "'s own positions (" + describe_positions(child_positions) + "), where " +
                 parent.name + " (" + describe_positions(parent.positions) + ") writes nothing",
             "keys and values read earlier positions; queries and MLPs only their own");
  }

  void check_cycles_and_reach() {
    InterpGraph graph(hypothesis_);
    if (auto cycle = graph.find_cycle()) {
      std::string path;
      for (int node : *cycle) path += hypothesis_.nodes[node].name + " -> ";
      path += hypothesis_.nodes[cycle->front()].name;
      // Point at the edge that closes the cycle.
      SourceLocation where = hypothesis_.nodes[cycle->front()].location;
      for (const InterpEdge& edge : hypothesis_.edges)
        if (edge.parent == cycle->back() && edge.child == cycle->front()) where = edge.location;
      report(where, "the hypothesis has a cycle: " + path,
             "interpretation edges follow the model's computation, which has no cycles");
      return;
    }
    // The nodes that reach the output: one walk up from it (a path search per node was quadratic).
    std::vector<bool> reaches(hypothesis_.nodes.size(), false);
    std::vector<int> frontier = {hypothesis_.output_node};
    reaches[static_cast<size_t>(hypothesis_.output_node)] = true;
    while (!frontier.empty()) {
      const int node = frontier.back();
      frontier.pop_back();
      for (const int parent : graph.parents(node))
        if (!reaches[static_cast<size_t>(parent)]) {
          reaches[static_cast<size_t>(parent)] = true;
          frontier.push_back(parent);
        }
    }
    for (size_t i = 0; i < hypothesis_.nodes.size(); ++i) {
      if (!reaches[i])
        report(hypothesis_.nodes[i].location,
               "node '" + hypothesis_.nodes[i].name + "' does not reach the output: no chain of parents links it to [output]",
               "list it among the parents of a node that leads to the output, or remove it");
    }
  }

  const Hypothesis& hypothesis_;
  const ModelGraph& model_;
  const data::TaskSchema& task_;
  std::vector<Problem> problems_;
};

}  // namespace

std::string Problem::to_string() const {
  std::string where_text = where.to_string();
  return where_text.empty() ? message : where_text + ": " + message;
}

bool positions_overlap(const PositionSpec& a, const PositionSpec& b) { return overlap(a, b) == Overlap::yes; }

std::string describe_positions(const PositionSpec& positions) {
  if (positions.all()) return "all positions";
  std::vector<std::string> names = positions.labels;
  for (int index : positions.indices) names.push_back(std::to_string(index));
  return join(names);
}

std::vector<Problem> find_problems(const Hypothesis& hypothesis, const ModelGraph& model,
                                   const data::TaskSchema& task) {
  return Checker(hypothesis, model, task).run();
}

void validate(const Hypothesis& hypothesis, const ModelGraph& model, const data::TaskSchema& task) {
  auto problems = find_problems(hypothesis, model, task);
  if (problems.empty()) return;
  std::string hint = problems.front().hint;
  if (problems.size() > 1)
    hint = std::to_string(problems.size() - 1) + " more problem(s); `cscrub check " + hypothesis.source_file +
           "` lists them all";
  throw Error(problems.front().to_string(), hint);
}

Summary summarize(const Hypothesis& hypothesis) {
  Summary summary;
  summary.nodes = static_cast<int>(hypothesis.nodes.size());
  summary.edges = static_cast<int>(hypothesis.edges.size());
  for (const InterpNode& node : hypothesis.nodes) {
    for (const Component& component : node.components) {
      summary.heads += component.kind == Component::Kind::head;
      summary.mlps += component.kind == Component::Kind::mlp;
      summary.embed = summary.embed || component.kind == Component::Kind::embed;
    }
    const std::string& node_class = node.node_class.empty() ? node.name : node.node_class;
    auto found = std::find_if(summary.classes.begin(), summary.classes.end(),
                              [&](const auto& entry) { return entry.first == node_class; });
    int count = static_cast<int>(node.components.size());
    if (found == summary.classes.end()) summary.classes.emplace_back(node_class, count);
    else found->second += count;
  }
  return summary;
}

}  // namespace cscrub::graph
