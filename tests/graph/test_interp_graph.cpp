// The interpretation graph: evaluation order and cycles, on hypotheses built in code.
#include <catch2/catch.hpp>

#include "cscrub/error.hpp"
#include "cscrub/graph/component_id.hpp"
#include "cscrub/graph/interp_graph.hpp"

namespace graph = cscrub::graph;

namespace {

graph::Hypothesis chain(int nodes, const std::vector<std::pair<int, int>>& edges) {
  graph::Hypothesis hypothesis;
  for (int i = 0; i < nodes; ++i) {
    graph::InterpNode node;
    node.name = std::string("n").append(std::to_string(i));
    node.components = {graph::head_component(i, 0)};
    hypothesis.nodes.push_back(node);
  }
  for (auto [parent, child] : edges) hypothesis.edges.push_back(graph::InterpEdge{parent, child, {}, {}});
  hypothesis.output_node = nodes - 1;
  return hypothesis;
}

}  // namespace

TEST_CASE("evaluation order puts parents first", "[graph][interp]") {
  // 3 -> 1 -> 0, 3 -> 2 -> 0, 4 -> 0
  const auto hypothesis = chain(5, {{3, 1}, {1, 0}, {3, 2}, {2, 0}, {4, 0}});
  const graph::InterpGraph interp(hypothesis);
  CHECK_FALSE(interp.find_cycle());
  const auto order = interp.evaluation_order();
  REQUIRE(order.size() == 5);
  std::vector<int> rank(5);
  for (size_t i = 0; i < order.size(); ++i) rank[order[i]] = static_cast<int>(i);
  for (const auto& edge : hypothesis.edges) CHECK(rank[edge.parent] < rank[edge.child]);
  CHECK(interp.parents(0).size() == 3);
  CHECK(interp.children(3).size() == 2);
  CHECK(interp.edges_into(0) == std::vector<int>{1, 3, 4});
  CHECK(interp.has_path(3, 0));
  CHECK_FALSE(interp.has_path(0, 3));
}

TEST_CASE("a cycle is found and named", "[graph][interp]") {
  // 0 -> 1 -> 2 -> 3 -> 1, and 4 alone
  const auto hypothesis = chain(5, {{0, 1}, {1, 2}, {2, 3}, {3, 1}});
  const graph::InterpGraph interp(hypothesis);
  auto cycle = interp.find_cycle();
  REQUIRE(cycle);
  CHECK(*cycle == std::vector<int>{1, 2, 3});
  try {
    interp.evaluation_order();
    FAIL("no error for a cycle");
  } catch (const cscrub::Error& error) {
    CHECK(std::string(error.what()).find("n1 -> n2 -> n3 -> n1") != std::string::npos);
  }
  // A self-loop is a cycle of one node.
  auto self = graph::InterpGraph(chain(2, {{1, 1}})).find_cycle();
  REQUIRE(self);
  CHECK(*self == std::vector<int>{1});
}
