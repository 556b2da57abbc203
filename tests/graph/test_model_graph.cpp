// The model graph G on a small shape (3 layers of 2 heads): which component reads which, through which
// ports, and the names of components and ports (printed and parsed in one place).
#include <catch2/catch.hpp>
#include <algorithm>

#include "cscrub/graph/component_id.hpp"
#include "cscrub/graph/model_graph.hpp"

namespace graph = cscrub::graph;
using graph::Component;
using graph::NodeId;
using graph::Port;

namespace {

cscrub::engine::ModelConfig small_config() {
  cscrub::engine::ModelConfig config;
  config.n_layer = 3;
  config.n_head = 2;
  config.d_model = 8;
  config.n_ctx = 16;
  config.vocab_size = 10;
  config.d_mlp = 32;
  return config;
}

}  // namespace

TEST_CASE("component and port names round-trip", "[graph][model]") {
  const graph::ModelGraph model(small_config());
  for (const Component& component : model.components_in_order()) {
    const std::string name = graph::to_string(component);
    INFO(name);
    auto parsed = graph::parse_component(name);
    REQUIRE(parsed);
    CHECK(*parsed == component);
  }
  CHECK(graph::to_string(graph::head_component(9, 10)) == "9.10");
  CHECK(graph::parse_head("10.10") == graph::head_component(10, 10));
  for (const char* bad : {"9-9", "9.", ".9", "9", "09.9", "9.09", " 9.9", "9.9 ", "-1.2", "9.9.9", "a.b", "mlp", "mlp x", ""}) {
    INFO(bad);
    CHECK_FALSE(graph::parse_component(bad));
  }
  for (const std::string& port_name : graph::port_names()) {
    auto port = graph::parse_port(port_name);
    REQUIRE(port);
    CHECK(graph::to_string(*port) == port_name);
  }
  CHECK_FALSE(graph::parse_port("Q"));
  graph::InterpEdge all_ports, keys;
  keys.ports = {Port::k};
  CHECK(graph::ports_fed(all_ports, graph::head_component(1, 0)) == std::vector<Port>{Port::q, Port::k, Port::v});
  CHECK(graph::ports_fed(all_ports, graph::mlp_component(1)) == std::vector<Port>{Port::in});
  CHECK(graph::ports_fed(keys, graph::head_component(1, 0)) == std::vector<Port>{Port::k});
  CHECK(graph::to_string(NodeId::input_of(graph::head_component(1, 0), Port::q)) == "1.0:q");
  CHECK(graph::to_string(NodeId::output_of(graph::mlp_component(2))) == "mlp 2");
}

TEST_CASE("G's precedence follows the residual stream", "[graph][model]") {
  const graph::ModelGraph model(small_config());
  const Component embed = graph::embed_component(), output = graph::output_component();
  const Component h00 = graph::head_component(0, 0), h01 = graph::head_component(0, 1);
  const Component h10 = graph::head_component(1, 0), h21 = graph::head_component(2, 1);
  const Component m0 = graph::mlp_component(0), m1 = graph::mlp_component(1), m2 = graph::mlp_component(2);

  struct Case {
    Component writer, reader;
    bool precedes;
  };
  const Case cases[] = {
      {embed, h00, true},  {embed, m0, true},    {embed, output, true}, {h00, h01, false}, {h01, h00, false},
      {h00, h00, false},   {h00, m0, true},      {m0, h00, false},      {m0, h10, true},   {h10, m0, false},
      {m0, m1, true},      {m1, m0, false},      {m0, m0, false},       {h21, m2, true},   {m2, h21, false},
      {h21, output, true}, {m2, output, true},   {output, m2, false},   {h00, embed, false}, {embed, embed, false},
      {h10, h21, true},    {h21, h10, false},
  };
  for (const Case& c : cases) {
    INFO(graph::to_string(c.writer) << " -> " << graph::to_string(c.reader));
    CHECK(model.precedes(c.writer, c.reader) == c.precedes);
  }
  // The relation is the order of stages: embed 0, heads of l 2l+1, MLP l 2l+2, output 2L+1.
  const auto& order = model.components_in_order();
  for (const Component& a : order)
    for (const Component& b : order) CHECK(model.precedes(a, b) == (model.stage(a) < model.stage(b)));
  CHECK(model.stage(output) == 7);
  CHECK(model.stage(m1) == 4);
}

TEST_CASE("G has a vertex per component output and per input port and the edges between them", "[graph][model]") {
  const graph::ModelGraph model(small_config());
  // 1 embed + 6 heads + 3 MLPs + output = 11 components; ports: 6 x 3 + 3 + 1 = 22.
  CHECK(model.components_in_order().size() == 11);
  CHECK(model.node_count() == 11 + 22);
  // Edges: one port -> component edge per port, plus writer -> port for every earlier writer.
  size_t expected_edges = 22;
  for (const Component& reader : model.components_in_order())
    for (const Component& writer : model.components_in_order())
      if (model.precedes(writer, reader)) expected_edges += graph::input_ports(reader.kind).size();
  CHECK(model.edge_count() == expected_edges);

  const Component h10 = graph::head_component(1, 0);
  const NodeId query = NodeId::input_of(h10, Port::q);
  REQUIRE(model.contains(query));
  CHECK_FALSE(model.contains(NodeId::input_of(graph::mlp_component(0), Port::q)));
  CHECK_FALSE(model.contains(NodeId::input_of(graph::embed_component(), Port::in)));
  CHECK_FALSE(model.contains(graph::head_component(3, 0)));
  CHECK_FALSE(model.contains(graph::head_component(0, 2)));

  // 1.0's query reads embed, the heads of layer 0 and MLP 0.
  auto parents = model.parents(query);
  std::sort(parents.begin(), parents.end());
  std::vector<NodeId> expected = {NodeId::output_of(graph::embed_component()),
                                  NodeId::output_of(graph::head_component(0, 0)),
                                  NodeId::output_of(graph::head_component(0, 1)),
                                  NodeId::output_of(graph::mlp_component(0))};
  std::sort(expected.begin(), expected.end());
  CHECK(parents == expected);
  CHECK(model.children(query) == std::vector<NodeId>{NodeId::output_of(h10)});
  CHECK(model.has_edge(NodeId::output_of(graph::mlp_component(0)), query));
  CHECK_FALSE(model.has_edge(NodeId::output_of(graph::head_component(1, 1)), query));

  // Paths go through components: embed reaches the output, the output reaches nothing.
  CHECK(model.has_path(NodeId::output_of(graph::embed_component()), NodeId::output_of(graph::output_component())));
  CHECK(model.has_path(query, NodeId::input_of(graph::head_component(2, 1), Port::v)));
  CHECK_FALSE(model.has_path(NodeId::output_of(graph::head_component(2, 0)), query));
  CHECK(model.children(NodeId::output_of(graph::output_component())).empty());
  CHECK(model.head_names() == std::vector<std::string>{"0.0", "0.1", "1.0", "1.1", "2.0", "2.1"});
}
