// A synthetic task and hypotheses over the small random model, for scrubber tests that need no tokenizer.
#pragma once
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/graph/hypothesis.hpp"
#include "random_weights.hpp"
#include "synthetic_prompts.hpp"

namespace cscrub::test {

// Two alignment groups (6 and 7 tokens); features "a" (3 values) and "b" (2 values); positions P1 and END.
inline data::Dataset synthetic_dataset(int per_group, int vocab, unsigned seed) {
  data::Dataset dataset;
  dataset.schema = synthetic_schema({"a", "b"});
  std::mt19937 generator(seed);
  for (int length : {6, 7}) {
    for (int i = 0; i < per_group; ++i) {
      data::Example example = random_prompt(generator, vocab, length);
      example.features = {std::to_string(i % 3), std::to_string(i % 2)};
      dataset.examples.push_back(example);
    }
  }
  return dataset;
}

inline graph::Component head(int layer, int index) { return {graph::Component::Kind::head, layer, index}; }
inline graph::Component mlp(int layer) { return {graph::Component::Kind::mlp, layer, -1}; }
inline graph::Component embed() { return {graph::Component::Kind::embed, -1, -1}; }

// Builds hypotheses node by node; the output node is added first.
struct HypothesisBuilder {
  graph::Hypothesis hypothesis;
  explicit HypothesisBuilder(std::string name, graph::InterpNode::Rest output_rest = graph::InterpNode::Rest::random) {
    hypothesis.name = std::move(name);
    hypothesis.source_file = "test";
    graph::InterpNode output;
    output.name = "output";
    output.components = {{graph::Component::Kind::output, -1, -1}};
    output.feature = {"prompt"};
    output.rest = output_rest;
    hypothesis.nodes.push_back(output);
    hypothesis.output_node = 0;
  }
  int node(std::string name, std::vector<graph::Component> components, std::vector<std::string> feature,
           graph::PositionSpec positions = {}, graph::InterpNode::Rest rest = graph::InterpNode::Rest::random) {
    graph::InterpNode node;
    node.name = std::move(name);
    node.components = std::move(components);
    node.feature = std::move(feature);
    node.positions = std::move(positions);
    node.rest = rest;
    hypothesis.nodes.push_back(node);
    return static_cast<int>(hypothesis.nodes.size()) - 1;
  }
  HypothesisBuilder& edge(int parent, int child, std::vector<graph::Port> ports = {}) {
    hypothesis.edges.push_back({parent, child, std::move(ports), {}});
    return *this;
  }
};

}  // namespace cscrub::test
