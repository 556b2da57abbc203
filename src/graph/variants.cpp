#include "cscrub/graph/variants.hpp"

#include <algorithm>
#include <map>

#include "cscrub/data/random.hpp"
#include "cscrub/error.hpp"
#include "cscrub/graph/component_id.hpp"

namespace cscrub::graph {
namespace {

// The heads and MLPs of `hypothesis`, each once, in node order.
std::vector<Component> distinct_components(const Hypothesis& hypothesis) {
  std::vector<Component> components;
  for (const InterpNode& node : hypothesis.nodes)
    for (const Component& component : node.components)
      if ((component.kind == Component::Kind::head || component.kind == Component::Kind::mlp) &&
          std::find(components.begin(), components.end(), component) == components.end())
        components.push_back(component);
  return components;
}

// `count` distinct elements of `pool`, uniformly (a partial Fisher-Yates shuffle).
std::vector<Component> draw_distinct(std::vector<Component> pool, size_t count, data::Rng& rng) {
  for (size_t i = 0; i < count; ++i) std::swap(pool[i], pool[i + rng.below(pool.size() - i)]);
  pool.resize(count);
  return pool;
}

bool edges_go_forward(const Hypothesis& hypothesis, const ModelGraph& model) {
  for (const InterpEdge& edge : hypothesis.edges)
    for (const Component& writer : hypothesis.nodes[static_cast<size_t>(edge.parent)].components)
      for (const Component& reader : hypothesis.nodes[static_cast<size_t>(edge.child)].components)
        if (!model.precedes(writer, reader)) return false;
  return true;
}

}  // namespace

Hypothesis without_node(const Hypothesis& hypothesis, int node, std::vector<std::string>& dropped) {
  const size_t count = hypothesis.nodes.size();
  std::vector<bool> kept(count, true);
  kept[static_cast<size_t>(node)] = false;
  // Keep only what still reaches the output through kept nodes.
  std::vector<bool> reaches(count, false);
  reaches[static_cast<size_t>(hypothesis.output_node)] = true;
  for (bool changed = true; changed;) {
    changed = false;
    for (const InterpEdge& edge : hypothesis.edges)
      if (kept[static_cast<size_t>(edge.parent)] && reaches[static_cast<size_t>(edge.child)] &&
          !reaches[static_cast<size_t>(edge.parent)])
        reaches[static_cast<size_t>(edge.parent)] = changed = true;
  }
  dropped = {hypothesis.nodes[static_cast<size_t>(node)].name};
  Hypothesis result = hypothesis;
  result.name = hypothesis.name + " without " + hypothesis.nodes[static_cast<size_t>(node)].name;
  result.nodes.clear();
  result.edges.clear();
  std::vector<int> index(count, -1);
  for (size_t i = 0; i < count; ++i) {
    if (kept[i] && reaches[i]) {
      index[i] = static_cast<int>(result.nodes.size());
      result.nodes.push_back(hypothesis.nodes[i]);
    } else if (static_cast<int>(i) != node) {
      dropped.push_back(hypothesis.nodes[i].name);
    }
  }
  result.output_node = index[static_cast<size_t>(hypothesis.output_node)];
  for (const InterpEdge& edge : hypothesis.edges) {
    if (index[static_cast<size_t>(edge.parent)] < 0 || index[static_cast<size_t>(edge.child)] < 0) continue;
    InterpEdge kept_edge = edge;
    kept_edge.parent = index[static_cast<size_t>(edge.parent)];
    kept_edge.child = index[static_cast<size_t>(edge.child)];
    result.edges.push_back(kept_edge);
  }
  return result;
}

std::string to_string(RandomLayers layers) { return layers == RandomLayers::same ? "same" : "all"; }

Hypothesis random_circuit(const Hypothesis& claim, const ModelGraph& model, RandomLayers layers, uint64_t seed) {
  const std::vector<Component> claimed = distinct_components(claim);
  std::vector<Component> all_heads, all_mlps;
  for (const Component& component : model.components_in_order()) {
    if (component.kind == Component::Kind::head) all_heads.push_back(component);
    if (component.kind == Component::Kind::mlp) all_mlps.push_back(component);
  }
  data::Rng rng(seed);
  for (int attempt = 0; attempt < 10000; ++attempt) {
    std::map<Component, Component> replacement;
    if (layers == RandomLayers::same) {
      for (int layer = 0; layer < model.n_layer(); ++layer) {
        std::vector<Component> here, pool;
        for (const Component& component : claimed)
          if (component.kind == Component::Kind::head && component.layer == layer) here.push_back(component);
        for (const Component& head : all_heads)
          if (head.layer == layer) pool.push_back(head);
        const std::vector<Component> drawn = draw_distinct(pool, here.size(), rng);
        for (size_t i = 0; i < here.size(); ++i) replacement[here[i]] = drawn[i];
      }
    } else {
      for (const auto kind : {Component::Kind::head, Component::Kind::mlp}) {
        std::vector<Component> here;
        for (const Component& component : claimed)
          if (component.kind == kind) here.push_back(component);
        const std::vector<Component> drawn = draw_distinct(kind == Component::Kind::head ? all_heads : all_mlps, here.size(), rng);
        for (size_t i = 0; i < here.size(); ++i) replacement[here[i]] = drawn[i];
      }
    }
    Hypothesis circuit = claim;
    for (InterpNode& node : circuit.nodes)
      for (Component& component : node.components)
        if (auto found = replacement.find(component); found != replacement.end()) component = found->second;
    if (edges_go_forward(circuit, model)) return circuit;
  }
  throw Error("no random circuit of the shape of '" + claim.name + "' (" + components_text(claim) +
                  ") has every edge going forward through the model in 10,000 draws",
              "draw the random circuits' heads from the claim's own layers (--random-layers same)");
}

std::string components_text(const Hypothesis& hypothesis) {
  std::string text;
  for (const Component& component : distinct_components(hypothesis)) {
    if (!text.empty()) text += ' ';
    text += to_string(component);
  }
  return text;
}

}  // namespace cscrub::graph
