// find_problems_on_data: the claims of a hypothesis resolved to token indices in every prompt of a dataset.
#include "cscrub/graph/check_on_data.hpp"

#include <algorithm>
#include <map>

#include "cscrub/error.hpp"
#include "cscrub/graph/component_id.hpp"
#include "suggestions.hpp"

namespace cscrub::graph {
namespace {

bool meet(const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<int> common;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(common));
  return !common.empty();
}

// Through q and in a component reads its own positions; through k and v, every position up to its own.
bool port_reaches(Port port, const std::vector<int>& parent, const std::vector<int>& child) {
  if (parent.empty() || child.empty()) return false;
  if (port == Port::q || port == Port::in) return meet(parent, child);
  return parent.front() <= child.back();
}

std::string positions_text(const std::vector<int>& positions) {
  std::vector<std::string> names;
  for (int p : positions) names.push_back(std::to_string(p));
  return names.empty() ? "none" : join(names);
}

// "36 of 200 prompts" or "every prompt".
std::string prompt_count(int count, size_t total) {
  return static_cast<size_t>(count) == total ? std::string("every prompt")
                                              : std::to_string(count) + " of " + std::to_string(total) + " prompts";
}

class DataChecker {
 public:
  DataChecker(const Hypothesis& hypothesis, const data::Dataset& dataset) : hypothesis_(hypothesis), dataset_(dataset) {}

  std::vector<Problem> run() {
    if (!check_indices()) return std::move(problems_);
    positions_.resize(dataset_.examples.size());
    for (size_t e = 0; e < dataset_.examples.size(); ++e)
      for (size_t node = 0; node < hypothesis_.nodes.size(); ++node)
        positions_[e].push_back(resolved_positions(hypothesis_, static_cast<int>(node), dataset_, dataset_.examples[e]));
    check_output();
    check_injective();
    for (const InterpEdge& edge : hypothesis_.edges) check_edge(edge);
    return std::move(problems_);
  }

 private:
  void report(const SourceLocation& where, std::string message, std::string hint) {
    problems_.push_back(Problem{where, std::move(message), std::move(hint)});
  }

  // Labels the task lacks are find_problems' to report; an index must fall inside every prompt.
  bool check_indices() {
    bool ok = true;
    for (const InterpNode& node : hypothesis_.nodes) {
      for (const std::string& label : node.positions.labels)
        if (!dataset_.schema.position_index(label)) {
          report(node.positions_location,
                 "node '" + node.name + "': task '" + dataset_.schema.task + "' has no position '" + label + "'" +
                     did_you_mean(label, dataset_.schema.positions),
                 "its positions are: " + join(dataset_.schema.positions) + " (or token indices)");
          ok = false;
        }
      for (int index : node.positions.indices) {
        int outside = 0, first = -1, shortest = -1;
        for (size_t e = 0; e < dataset_.examples.size(); ++e) {
          const int length = static_cast<int>(dataset_.examples[e].tokens.size());
          shortest = shortest < 0 ? length : std::min(shortest, length);
          if (index >= length || index < -length) {
            outside += 1;
            if (first < 0) first = static_cast<int>(e);
          }
        }
        if (outside == 0) continue;
        report(node.positions_location,
               "node '" + node.name + "': position " + std::to_string(index) + " is outside " +
                   prompt_count(outside, dataset_.examples.size()) + " (first: prompt " + std::to_string(first) +
                   ", " + std::to_string(dataset_.examples[static_cast<size_t>(first)].tokens.size()) + " tokens)",
               "token indices count from 0, and the shortest prompt here has " + std::to_string(shortest) + " tokens");
        ok = false;
      }
    }
    return ok;
  }

  void check_output() {
    const InterpNode& output = hypothesis_.nodes[static_cast<size_t>(hypothesis_.output_node)];
    if (output.positions.all()) return;
    PositionSpec given = output.positions;
    for (size_t e = 0; e < dataset_.examples.size(); ++e) {
      const data::Example& example = dataset_.examples[e];
      std::vector<int> resolved;
      for (const std::string& label : given.labels)
        resolved.push_back(example.positions[static_cast<size_t>(*dataset_.schema.position_index(label))]);
      const int length = static_cast<int>(example.tokens.size());
      for (int index : given.indices) resolved.push_back(index < 0 ? length + index : index);
      const int answer = dataset_.answer_position(example);
      if (std::all_of(resolved.begin(), resolved.end(), [&](int p) { return p == answer; })) continue;
      report(output.positions_location,
             "[output] positions (" + describe_positions(given) + ") name tokens other than the answer position in prompt " +
                 std::to_string(e) + " (" + positions_text(resolved) + ", answer at " + std::to_string(answer) +
                 "): the metric reads the output there only",
             "omit positions in [output]");
      return;
    }
  }

  // No component at a common token of two nodes, in any prompt.
  void check_injective() {
    std::map<Component, std::vector<int>> claims;
    for (size_t i = 0; i < hypothesis_.nodes.size(); ++i)
      for (const Component& component : hypothesis_.nodes[i].components) claims[component].push_back(static_cast<int>(i));
    for (const auto& [component, nodes] : claims)
      for (size_t second = 1; second < nodes.size(); ++second)
        for (size_t first = 0; first < second; ++first) check_pair(component, nodes[first], nodes[second]);
  }

  void check_pair(const Component& component, int first, int second) {
    int count = 0, example = -1, token = -1;
    for (size_t e = 0; e < dataset_.examples.size(); ++e) {
      const auto& a = positions_[e][static_cast<size_t>(first)];
      const auto& b = positions_[e][static_cast<size_t>(second)];
      std::vector<int> common;
      std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(common));
      if (common.empty()) continue;
      if (count++ == 0) example = static_cast<int>(e), token = common.front();
    }
    if (count == 0) return;
    const InterpNode& a = hypothesis_.nodes[static_cast<size_t>(first)];
    const InterpNode& b = hypothesis_.nodes[static_cast<size_t>(second)];
    report(b.components_location,
           to_string(component) + " is claimed by two nodes at a common token in " +
               prompt_count(count, dataset_.examples.size()) + ": '" + a.name + "' (" + a.location.to_string() + ", " +
               describe_positions(a.positions) + ") and '" + b.name + "' (" + describe_positions(b.positions) +
               "); first in prompt " + std::to_string(example) + " at token " + std::to_string(token),
           "the correspondence must be injective: claim the component in one node (its positions may list labels "
           "and indices together), or at positions that never meet");
  }

  void check_edge(const InterpEdge& edge) {
    if (edge.parent == edge.child) return;  // a cycle: find_problems reports it
    const InterpNode& parent = hypothesis_.nodes[static_cast<size_t>(edge.parent)];
    const InterpNode& child = hypothesis_.nodes[static_cast<size_t>(edge.child)];
    std::vector<Port> ports = edge.ports;
    if (ports.empty())
      for (const Component& component : child.components)
        for (Port port : input_ports(component.kind))
          if (std::find(ports.begin(), ports.end(), port) == ports.end()) ports.push_back(port);
    if (ports.empty()) return;  // a child that reads nothing (the embeddings): find_problems reports it
    const bool each = !edge.ports.empty();
    int count = 0, example = -1;
    Port failing = ports.front();
    for (size_t e = 0; e < dataset_.examples.size(); ++e) {
      const auto& from = positions_[e][static_cast<size_t>(edge.parent)];
      const auto& to = positions_[e][static_cast<size_t>(edge.child)];
      bool reached = true;
      Port missed = ports.front();
      if (each) {
        for (Port port : ports)
          if (!port_reaches(port, from, to)) {
            missed = port;
            reached = false;
            break;
          }
      } else {
        reached = std::any_of(ports.begin(), ports.end(), [&](Port port) { return port_reaches(port, from, to); });
      }
      if (reached) continue;
      if (count++ == 0) example = static_cast<int>(e), failing = missed;
    }
    if (count == 0) return;
    const auto& from = positions_[static_cast<size_t>(example)][static_cast<size_t>(edge.parent)];
    const auto& to = positions_[static_cast<size_t>(example)][static_cast<size_t>(edge.child)];
    const std::string through = each ? "port '" + to_string(failing) + "'" : "any port";
    report(edge.location,
           "edge " + parent.name + " -> " + child.name + " reaches no position of " + child.name + " through " + through +
               " in " + prompt_count(count, dataset_.examples.size()) + " (first: prompt " + std::to_string(example) +
               ", where " + parent.name + " writes at " + positions_text(from) + " and " + child.name + " reads at " +
               positions_text(to) + "): it would change nothing there",
           "q and in read the child's own positions, k and v positions up to the child's; give the parent a position "
           "the child reads, or remove the edge");
  }

  const Hypothesis& hypothesis_;
  const data::Dataset& dataset_;
  std::vector<std::vector<std::vector<int>>> positions_;  // [example][node]
  std::vector<Problem> problems_;
};

}  // namespace

std::vector<int> resolved_positions(const Hypothesis& hypothesis, int node_index, const data::Dataset& dataset,
                                    const data::Example& example) {
  const int length = static_cast<int>(example.tokens.size());
  if (node_index == hypothesis.output_node) return {dataset.answer_position(example)};
  const InterpNode& node = hypothesis.nodes[static_cast<size_t>(node_index)];
  std::vector<int> positions;
  if (node.positions.all()) {
    for (int p = 0; p < length; ++p) positions.push_back(p);
    return positions;
  }
  for (const std::string& label : node.positions.labels) {
    const auto index = dataset.schema.position_index(label);
    if (!index)
      throw Error(node.positions_location.to_string() + ": node '" + node.name + "': task '" + dataset.schema.task +
                  "' has no position '" + label + "'" + did_you_mean(label, dataset.schema.positions));
    positions.push_back(example.positions[static_cast<size_t>(*index)]);
  }
  for (int index : node.positions.indices) {
    const int p = index < 0 ? length + index : index;
    if (p < 0 || p >= length)
      throw Error(node.positions_location.to_string() + ": node '" + node.name + "': position " +
                  std::to_string(index) + " is outside a prompt of " + std::to_string(length) + " tokens");
    positions.push_back(p);
  }
  std::sort(positions.begin(), positions.end());
  positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
  return positions;
}

std::vector<Problem> find_problems_on_data(const Hypothesis& hypothesis, const data::Dataset& dataset) {
  return DataChecker(hypothesis, dataset).run();
}

void validate_on_data(const Hypothesis& hypothesis, const data::Dataset& dataset) {
  const auto problems = find_problems_on_data(hypothesis, dataset);
  if (problems.empty()) return;
  std::string hint = problems.front().hint;
  if (problems.size() > 1) hint += " (" + std::to_string(problems.size() - 1) + " more problem(s) on these prompts)";
  throw Error(problems.front().to_string(), hint);
}

}  // namespace cscrub::graph
