// Reading hypothesis files: the IOI circuit as written, its variants (extends, [remove], [edit.X],
// replace = true), and every hypothesis shipped in hypotheses/ valid for the model it was written for.
#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>

#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "cscrub/graph/check.hpp"
#include "cscrub/graph/component_id.hpp"
#include "cscrub/graph/hypothesis_file.hpp"
#include "cscrub/graph/interp_graph.hpp"
#include "cscrub/io/model_dir.hpp"
#include "test_paths.hpp"

namespace graph = cscrub::graph;
using cscrub::test::source_dir;

namespace {

std::filesystem::path ioi_dir() { return source_dir() / "hypotheses" / "gpt2-small" / "ioi"; }

cscrub::engine::ModelConfig gpt2_small() {
  return cscrub::io::read_config(source_dir() / "models" / "gpt2-small" / "config.json");
}

const graph::InterpNode& node_named(const graph::Hypothesis& hypothesis, const std::string& name) {
  auto found = std::find_if(hypothesis.nodes.begin(), hypothesis.nodes.end(),
                            [&](const graph::InterpNode& node) { return node.name == name; });
  REQUIRE(found != hypothesis.nodes.end());
  return *found;
}

bool has_node(const graph::Hypothesis& hypothesis, const std::string& name) {
  return std::any_of(hypothesis.nodes.begin(), hypothesis.nodes.end(),
                     [&](const graph::InterpNode& node) { return node.name == name; });
}

std::vector<std::string> head_names(const graph::InterpNode& node) {
  std::vector<std::string> names;
  for (const auto& component : node.components) names.push_back(graph::to_string(component));
  return names;
}

// "parent -> child [ports]" for every edge, to compare edge sets.
std::vector<std::string> edge_list(const graph::Hypothesis& hypothesis) {
  std::vector<std::string> edges;
  for (const auto& edge : hypothesis.edges) {
    std::string text = hypothesis.nodes[edge.parent].name + " -> " + hypothesis.nodes[edge.child].name;
    for (auto port : edge.ports) text.append(" ").append(graph::to_string(port));
    edges.push_back(text);
  }
  std::sort(edges.begin(), edges.end());
  return edges;
}

std::filesystem::path write_file(const std::filesystem::path& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir / name) << text;
  return dir / name;
}

}  // namespace

TEST_CASE("the IOI circuit file holds the paper's 26 heads in its classes and positions", "[graph][files]") {
  const auto hypothesis = graph::read_hypothesis_file(ioi_dir() / "full.toml");
  CHECK(hypothesis.name == "IOI circuit (Wang et al. 2022)");
  CHECK(hypothesis.model_layers == 12);
  CHECK(hypothesis.defaults.task == "ioi");

  struct Expected {
    const char* node;
    const char* node_class;
    std::vector<std::string> heads;
    std::vector<std::string> positions;
  };
  const std::vector<Expected> expected = {
      {"name_movers", "name mover", {"9.9", "9.6", "10.0"}, {"END"}},
      {"backup_name_movers", "backup name mover", {"10.10", "10.6", "10.2", "10.1", "11.2", "9.7", "9.0", "11.9"}, {"END"}},
      {"negative_name_movers", "negative name mover", {"10.7", "11.10"}, {"END"}},
      {"s_inhibition", "S-inhibition", {"7.3", "7.9", "8.6", "8.10"}, {"END"}},
      {"induction", "induction", {"5.5", "5.8", "5.9", "6.9"}, {"S2"}},
      {"duplicate_token", "duplicate token", {"0.1", "0.10", "3.0"}, {"S2"}},
      {"previous_token", "previous token", {"2.2", "4.11"}, {"S1+1"}},
  };
  int heads = 0;
  for (const auto& want : expected) {
    INFO(want.node);
    const auto& node = node_named(hypothesis, want.node);
    CHECK(node.node_class == want.node_class);
    CHECK(head_names(node) == want.heads);
    CHECK(node.positions.labels == want.positions);
    heads += static_cast<int>(node.components.size());
  }
  CHECK(heads == 26);
  CHECK(graph::summarize(hypothesis).heads == 26);

  const auto& output = hypothesis.nodes[hypothesis.output_node];
  CHECK(output.name == "output");
  CHECK(output.components == std::vector<graph::Component>{graph::output_component()});
  CHECK(output.feature == std::vector<std::string>{"prompt"});
  CHECK(node_named(hypothesis, "name_movers").feature == std::vector<std::string>{"io_name"});
  CHECK(node_named(hypothesis, "name_movers").location.line > 0);

  const auto edges = edge_list(hypothesis);
  for (const char* edge : {"previous_token -> induction k", "induction -> s_inhibition v",
                           "duplicate_token -> s_inhibition v", "s_inhibition -> name_movers q",
                           "embed_io -> name_movers k v", "embed_s -> name_movers k v", "name_movers -> output",
                           "backup_name_movers -> output", "negative_name_movers -> output"}) {
    INFO(edge);
    CHECK(std::find(edges.begin(), edges.end(), edge) != edges.end());
  }
  // Parents come before children in the evaluation order, and the output last.
  const auto order = graph::InterpGraph(hypothesis).evaluation_order();
  CHECK(order.back() == hypothesis.output_node);
}

TEST_CASE("variants are diffs of the file they extend", "[graph][files]") {
  const auto full = graph::read_hypothesis_file(ioi_dir() / "full.toml");

  SECTION("naive: no backup or negative name movers, and no edges to them") {
    const auto naive = graph::read_hypothesis_file(ioi_dir() / "naive.toml");
    CHECK(naive.name.find("naive") != std::string::npos);
    CHECK_FALSE(has_node(naive, "backup_name_movers"));
    CHECK_FALSE(has_node(naive, "negative_name_movers"));
    CHECK(naive.nodes.size() == full.nodes.size() - 2);
    CHECK(graph::summarize(naive).heads == 16);
    const auto& output = naive.nodes[naive.output_node];
    CHECK(graph::InterpGraph(naive).parents(naive.output_node) ==
          std::vector<int>{static_cast<int>(std::find_if(naive.nodes.begin(), naive.nodes.end(),
                                                         [](const auto& n) { return n.name == "name_movers"; }) -
                                            naive.nodes.begin())});
    CHECK(output.positions.labels == std::vector<std::string>{"END"});
    CHECK(naive.defaults.n == full.defaults.n);  // inherited
  }
  SECTION("name movers only: [edit.X] changes one key and keeps the rest") {
    const auto only = graph::read_hypothesis_file(ioi_dir() / "name_movers_only.toml");
    REQUIRE(only.nodes.size() == 2);
    const auto& movers = node_named(only, "name_movers");
    CHECK(movers.rest == graph::InterpNode::Rest::same);
    CHECK(head_names(movers) == std::vector<std::string>{"9.9", "9.6", "10.0"});
    CHECK(movers.feature == std::vector<std::string>{"io_name"});
    CHECK(edge_list(only) == std::vector<std::string>{"name_movers -> output"});
  }
  SECTION("no S-inhibition: the name movers keep only their embedding parents") {
    const auto variant = graph::read_hypothesis_file(ioi_dir() / "no_s_inhibition.toml");
    CHECK_FALSE(has_node(variant, "s_inhibition"));
    for (const auto& edge : edge_list(variant)) CHECK(edge.find("s_inhibition") == std::string::npos);
    CHECK(graph::summarize(variant).heads == 13);
  }
}

TEST_CASE("add_parents and remove_parents and replace and removed edges", "[graph][files]") {
  const auto dir = cscrub::test::scratch_dir("graph-variants");
  const std::string extends = "extends = \"" + (ioi_dir() / "full.toml").string() + "\"\n";

  SECTION("[edit.X] remove_parents then add_parents changes an edge's ports") {
    auto file = write_file(dir, "ports.toml", extends + R"(
[edit.name_movers]
remove_parents = ["s_inhibition"]
add_parents = [{ node = "s_inhibition", ports = ["q", "k"] }]
)");
    const auto edges = edge_list(graph::read_hypothesis_file(file));
    CHECK(std::find(edges.begin(), edges.end(), "s_inhibition -> name_movers q k") != edges.end());
    CHECK(std::find(edges.begin(), edges.end(), "s_inhibition -> name_movers q") == edges.end());
  }
  SECTION("[remove] edges drops one edge, the nodes stay") {
    auto file = write_file(dir, "edge.toml", extends + R"(
[remove]
edges = [{ from = "embed_s", to = "name_movers" }]
)");
    const auto hypothesis = graph::read_hypothesis_file(file);
    const auto edges = edge_list(hypothesis);
    CHECK(std::find(edges.begin(), edges.end(), "embed_s -> name_movers k v") == edges.end());
    CHECK(std::find(edges.begin(), edges.end(), "embed_s -> backup_name_movers k v") != edges.end());
    CHECK(has_node(hypothesis, "embed_s"));
  }
  SECTION("replace = true swaps a node in place; a new node is appended before the output") {
    auto file = write_file(dir, "replace.toml", extends + R"(
[nodes.name_movers]
replace = true
class = "name mover"
heads = ["9.9"]
positions = ["END"]
feature = ["io_name", "s_name"]
parents = [{ node = "s_inhibition", ports = ["q"] }, "mlp_helper"]

[nodes.mlp_helper]
mlps = [0]
feature = "s_name"
parents = [{ node = "embed_s" }]
)");
    const auto hypothesis = graph::read_hypothesis_file(file);
    const auto full = graph::read_hypothesis_file(ioi_dir() / "full.toml");
    const auto& movers = node_named(hypothesis, "name_movers");
    CHECK(head_names(movers) == std::vector<std::string>{"9.9"});
    CHECK(movers.feature == std::vector<std::string>{"io_name", "s_name"});
    CHECK(movers.location.file == file.string());
    CHECK(hypothesis.nodes[hypothesis.output_node].name == "output");
    CHECK(hypothesis.output_node == static_cast<int>(hypothesis.nodes.size()) - 1);
    CHECK(hypothesis.nodes[hypothesis.nodes.size() - 2].name == "mlp_helper");
    const auto edges = edge_list(hypothesis);
    CHECK(std::find(edges.begin(), edges.end(), "embed_io -> name_movers k v") == edges.end());
    CHECK(std::find(edges.begin(), edges.end(), "mlp_helper -> name_movers") != edges.end());
    // Position-free MLP 0 reads the embeddings at every position, so this is a valid hypothesis.
    const auto config = gpt2_small();
    CHECK(graph::find_problems(hypothesis, graph::ModelGraph(config), cscrub::data::task_schema("ioi")).empty());
  }
  SECTION("[edit.X] with a components key replaces only that kind") {
    auto file = write_file(dir, "mlps.toml", extends + R"(
[edit.backup_name_movers]
mlps = [10]
)");
    const auto hypothesis = graph::read_hypothesis_file(file);
    const auto& backup = node_named(hypothesis, "backup_name_movers");
    CHECK(backup.components.size() == 9);
    CHECK(backup.components.back() == graph::mlp_component(10));
  }
  SECTION("a variant of a variant") {
    write_file(dir, "middle.toml", extends + "[remove]\nnodes = [\"negative_name_movers\"]\n");
    auto file = write_file(dir, "top.toml", "extends = \"middle.toml\"\n[remove]\nnodes = [\"backup_name_movers\"]\n");
    const auto hypothesis = graph::read_hypothesis_file(file);
    CHECK(graph::summarize(hypothesis).heads == 16);
    CHECK(hypothesis.name == "top");  // a variant without a name is named after its file
  }
}

TEST_CASE("every hypothesis in hypotheses/ is valid for the model it was written for", "[graph][files]") {
  int checked = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(source_dir() / "hypotheses")) {
    if (entry.path().extension() != ".toml") continue;
    // hypotheses/<model>/...: checked against models/<model>/config.json.
    const auto relative = std::filesystem::relative(entry.path(), source_dir() / "hypotheses");
    const auto model = source_dir() / "models" / *relative.begin() / "config.json";
    INFO(entry.path().string());
    REQUIRE(std::filesystem::exists(model));
    const auto config = cscrub::io::read_config(model);
    const auto hypothesis = graph::read_hypothesis_file(entry.path());
    const auto problems = graph::find_problems(hypothesis, graph::ModelGraph(config), graph::task_schema_for(hypothesis));
    for (const auto& problem : problems) FAIL_CHECK(problem.to_string());
    CHECK_NOTHROW(graph::load_hypothesis(entry.path().string(), config));
    ++checked;
  }
  CHECK(checked >= 5);
}

TEST_CASE("the examples in docs/hypothesis-format.md are valid", "[graph][files]") {
  std::ifstream in(source_dir() / "docs" / "hypothesis-format.md");
  std::string line, block;
  std::vector<std::string> blocks;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line == "```toml") {
      inside = true;
      block.clear();
    } else if (inside && line == "```") {
      inside = false;
      blocks.push_back(block);
    } else if (inside) {
      block += line + "\n";
    }
  }
  REQUIRE(blocks.size() >= 2);
  // The variant example extends "full.toml": give it the IOI circuit next to it.
  const auto dir = cscrub::test::scratch_dir("graph-doc-examples");
  std::filesystem::copy_file(ioi_dir() / "full.toml", dir / "full.toml");
  const auto config = gpt2_small();
  for (size_t i = 0; i < blocks.size(); ++i) {
    INFO(blocks[i]);
    const auto file = write_file(dir, "example" + std::to_string(i) + ".toml", blocks[i]);
    const auto hypothesis = graph::read_hypothesis_file(file);
    const auto problems = graph::find_problems(hypothesis, graph::ModelGraph(config), graph::task_schema_for(hypothesis));
    for (const auto& problem : problems) FAIL_CHECK(problem.to_string());
  }
}
