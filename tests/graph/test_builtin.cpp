// The builtin hypotheses: one output node each, "everything matters" and "nothing matters".
#include <catch2/catch.hpp>

#include "cscrub/error.hpp"
#include "cscrub/graph/builtin.hpp"
#include "cscrub/graph/check.hpp"
#include "cscrub/graph/component_id.hpp"
#include "cscrub/io/model_dir.hpp"
#include "test_paths.hpp"

namespace graph = cscrub::graph;

TEST_CASE("builtin:full and builtin:none are a lone output node", "[graph][builtin]") {
  const auto config = cscrub::io::read_config(cscrub::test::source_dir() / "models" / "gpt2-small" / "config.json");
  for (const std::string& name : graph::builtin_hypothesis_names()) {
    INFO(name);
    const auto hypothesis = graph::builtin_hypothesis(name, config, "ioi");
    REQUIRE(hypothesis.nodes.size() == 1);
    CHECK(hypothesis.edges.empty());
    CHECK(hypothesis.output_node == 0);
    const auto& output = hypothesis.nodes[0];
    CHECK(output.components == std::vector<graph::Component>{graph::output_component()});
    CHECK(output.feature == std::vector<std::string>{"prompt"});
    CHECK(output.positions.all());
    CHECK(hypothesis.defaults.task == "ioi");
    CHECK(hypothesis.model_layers == 12);
    CHECK(graph::is_builtin_hypothesis(name));
    CHECK(graph::find_problems(hypothesis, graph::ModelGraph(config), graph::task_schema_for(hypothesis)).empty());
  }
  CHECK(graph::builtin_hypothesis("builtin:full", config, "ioi").nodes[0].rest == graph::InterpNode::Rest::same);
  CHECK(graph::builtin_hypothesis("builtin:none", config, "ioi").nodes[0].rest == graph::InterpNode::Rest::random);
  CHECK(graph::builtin_hypothesis("builtin:none", config, "induction").defaults.task == "induction");
  CHECK(graph::load_hypothesis("builtin:full", config, "induction").defaults.task == "induction");
  CHECK_FALSE(graph::is_builtin_hypothesis("full.toml"));
  try {
    graph::builtin_hypothesis("builtin:ful", config, "ioi");
    FAIL("no error for an unknown builtin");
  } catch (const cscrub::Error& error) {
    CHECK(std::string(error.what()).find("did you mean 'builtin:full'?") != std::string::npos);
  }
}
