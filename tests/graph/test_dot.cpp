// Drawing hypotheses: the DOT text has every node, component, edge and port, in layer columns, and
// Graphviz accepts it.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <regex>

#include "cscrub/graph/builtin.hpp"
#include "cscrub/graph/dot.hpp"
#include "cscrub/graph/hypothesis_file.hpp"
#include "cscrub/io/model_dir.hpp"
#include "test_paths.hpp"

namespace graph = cscrub::graph;
using cscrub::test::source_dir;

namespace {

size_t count(const std::string& text, const std::string& piece) {
  size_t n = 0;
  for (size_t at = text.find(piece); at != std::string::npos; at = text.find(piece, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the IOI circuit as DOT", "[graph][dot]") {
  const auto config = cscrub::io::read_config(source_dir() / "models" / "gpt2-small" / "config.json");
  const auto hypothesis = graph::read_hypothesis_file(source_dir() / "hypotheses" / "gpt2-small" / "ioi" / "full.toml");
  const std::string dot = graph::to_dot(hypothesis, graph::ModelGraph(config));

  CHECK(dot.find("digraph hypothesis {") != std::string::npos);
  CHECK(count(dot, "subgraph cluster_") == hypothesis.nodes.size());
  CHECK(count(dot, "lhead=cluster_") == hypothesis.edges.size());
  for (const char* head : {"\"9.9\"", "\"10.10\"", "\"0.1\"", "\"4.11\"", "\"11.10\""}) {
    INFO(head);
    CHECK(count(dot, "[label=" + std::string(head) + "]") == 1);
  }
  CHECK(count(dot, "label=\"embed\"]") == 3);  // embed_io, embed_s and the axis
  // Ports on edges; positions and features in the node labels; classes in the legend.
  CHECK(count(dot, "label=\" q \"") == 4);
  CHECK(count(dot, "label=\" k,v \"") == 6);
  CHECK(dot.find("S1+1 · s_name") != std::string::npos);
  CHECK(dot.find("backup name mover</TD>") != std::string::npos);
  // Layer columns: 9.9 shares a rank with the "layer 9" axis label.
  std::smatch match;
  REQUIRE(std::regex_search(dot, match, std::regex(R"((n\d+_\d+) \[label="9\.9"\])")));
  CHECK(std::regex_search(dot, std::regex("rank=same; axis19;[^}]* " + match[1].str() + ";")));
}

TEST_CASE("Graphviz parses the DOT of every shipped hypothesis", "[graph][dot]") {
  if (cscrub::test::run_command("command -v dot").exit_code != 0) {
    WARN("Graphviz's dot is not installed: skipping the rendering check");
    return;
  }
  const auto config = cscrub::io::read_config(source_dir() / "models" / "gpt2-small" / "config.json");
  const auto dir = cscrub::test::scratch_dir("graph-dot");
  std::vector<graph::Hypothesis> hypotheses = {graph::builtin_hypothesis("builtin:full", config, "ioi")};
  for (const auto& entry : std::filesystem::directory_iterator(source_dir() / "hypotheses" / "gpt2-small" / "ioi"))
    hypotheses.push_back(graph::read_hypothesis_file(entry.path()));
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    INFO(hypotheses[i].source_file);
    const std::string stem = std::string("h").append(std::to_string(i));
    const auto dot_file = dir / (stem + ".dot");
    std::ofstream(dot_file) << graph::to_dot(hypotheses[i], graph::ModelGraph(config));
    const auto svg_file = dir / (stem + ".svg");
    const auto result = cscrub::test::run_command("dot -Tsvg " + cscrub::test::shell_quote(dot_file.string()) + " -o " +
                                                  cscrub::test::shell_quote(svg_file.string()));
    INFO(result.output);
    CHECK(result.exit_code == 0);
    CHECK(result.output.find("Warning") == std::string::npos);
    CHECK(std::filesystem::file_size(svg_file) > 1000);
  }
}

TEST_CASE("names and classes are text in the DOT, whatever they hold", "[graph][dot]") {
  // A name with a newline once ended the first line's // comment: the rest became DOT statements.
  std::ifstream in(source_dir() / "hypotheses" / "gpt2-ioi-mini" / "ioi.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string evil = R"(evil\n} digraph injected { a -> b } // \" <B>&amp;</B> \\N \u0001)";
  text.replace(text.find("name = \"bundled IOI"), text.find('\n', text.find("name = \"bundled IOI")) -
                                                     text.find("name = \"bundled IOI"),
               "name = \"" + evil + "\"");
  text.replace(text.find("class = \"S mover\""), 17, "class = \"" + evil + "\"");
  const auto hypothesis = graph::read_hypothesis_text(text, source_dir() / "hypotheses" / "gpt2-ioi-mini" / "x.toml");
  REQUIRE(hypothesis.name.find('\n') != std::string::npos);
  const auto config = cscrub::io::read_config(cscrub::test::bundled_model_dir() / "config.json");
  const std::string dot = graph::to_dot(hypothesis, graph::ModelGraph(config));

  // One comment line, then the graph: no line of the name's text stands on its own.
  const std::string first_line = dot.substr(0, dot.find('\n'));
  CHECK(first_line.starts_with("// evil\\n} digraph injected { a -> b } // \" <B>&amp;</B> \\N \\x01 (from "));
  CHECK(dot.substr(dot.find('\n') + 1).starts_with("digraph hypothesis {"));
  CHECK(count("\n" + dot, "\ndigraph ") == 1);  // one graph statement starts a line
  CHECK(dot.find('\x01') == std::string::npos);
  // In HTML-like labels: escaped for XML.
  CHECK(dot.find("evil\\n} digraph injected { a -&gt; b } // &quot; &lt;B&gt;&amp;amp;&lt;/B&gt; \\N \\x01") !=
        std::string::npos);

  if (cscrub::test::run_command("command -v dot").exit_code != 0) {
    WARN("Graphviz's dot is not installed: skipping the rendering check");
    return;
  }
  const auto dir = cscrub::test::scratch_dir("graph-dot-escaping");
  std::ofstream(dir / "evil.dot") << dot;
  const auto result = cscrub::test::run_command("dot -Tsvg " + cscrub::test::shell_quote((dir / "evil.dot").string()) +
                                                " -o " + cscrub::test::shell_quote((dir / "evil.svg").string()));
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(result.output.find("Warning") == std::string::npos);
  std::ifstream svg_in(dir / "evil.svg");
  const std::string svg((std::istreambuf_iterator<char>(svg_in)), std::istreambuf_iterator<char>());
  CHECK(count(svg, "<svg") == 1);  // one graph drawn, not an injected second one
  CHECK(svg.find("injected") != std::string::npos);  // the text is there, as text
}
