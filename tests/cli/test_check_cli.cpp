// `cscrub check` and `cscrub graph` as a researcher runs them: valid hypotheses summarised, malformed ones
// refused with file:line and a non-zero exit, drawings written.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_paths.hpp"

using cscrub::test::cli_path;
using cscrub::test::run_command;
using cscrub::test::shell_quote;
using cscrub::test::source_dir;

namespace {

std::string gpt2_small() { return shell_quote((source_dir() / "models" / "gpt2-small").string()); }
std::string ioi(const std::string& file) {
  return shell_quote((source_dir() / "hypotheses" / "gpt2-small" / "ioi" / file).string());
}
std::string bad(const std::string& file) {
  return shell_quote((source_dir() / "tests" / "graph" / "bad_hypotheses" / file).string());
}
std::string command_line(const std::string& arguments) { return shell_quote(cli_path().string()) + " " + arguments; }

}  // namespace

TEST_CASE("cscrub check accepts the IOI hypotheses and summarises them", "[cli][check]") {
  for (const char* file : {"full.toml", "naive.toml", "no_negative.toml", "name_movers_only.toml", "no_s_inhibition.toml"}) {
    INFO(file);
    const auto result = run_command(command_line("check " + ioi(file) + " --model " + gpt2_small()));
    INFO(result.output);
    CHECK(result.exit_code == 0);
    CHECK(result.output.find(": OK, valid for") != std::string::npos);
  }
  const auto full = run_command(command_line("check " + ioi("full.toml") + " --model " + gpt2_small()));
  CHECK(full.output.find("10 nodes (with the output), 18 edges; 26 heads, 0 MLPs, embeddings") != std::string::npos);
  CHECK(full.output.find("backup name mover (8)") != std::string::npos);
  CHECK(full.output.find("9.9 9.6 10.0") != std::string::npos);
}

TEST_CASE("cscrub check refuses malformed hypotheses with file:line and exit 1", "[cli][check]") {
  struct Case {
    const char* file;
    const char* expected;
  };
  const Case cases[] = {
      {"unknown_key_typo.toml", "unknown_key_typo.toml:11:1: in [nodes.name_movers]: unknown key 'parnets' (did you mean 'parents'?)"},
      {"head_layer_out_of_range.toml", "head_layer_out_of_range.toml:3:9: node 'name_movers': head 12.3 does not exist"},
      {"not_homomorphism.toml", "not_homomorphism.toml:11:12: edge late -> name_movers is not an edge of the model"},
      {"syntax_error.toml", "syntax_error.toml:6:1: TOML syntax error"},
      {"extends_loop_a.toml", "extends loops"},
  };
  for (const Case& c : cases) {
    INFO(c.file);
    const auto result = run_command(command_line("check " + bad(c.file) + " --model " + gpt2_small()));
    INFO(result.output);
    CHECK(result.exit_code == 1);
    CHECK(result.output.find(c.expected) != std::string::npos);
    CHECK(result.output.find("cscrub: error:") != std::string::npos);
    CHECK(result.output.find("internal error") == std::string::npos);
  }
  // Every problem of a file is listed, then counted.
  const auto many = run_command(command_line("check " + bad("wrong_model_size.toml") + " --model " + gpt2_small()));
  CHECK(many.exit_code == 1);
  CHECK(many.output.find("24 layers") != std::string::npos);
  CHECK(many.output.find("16 heads per layer") != std::string::npos);
  CHECK(many.output.find("2 problems") != std::string::npos);
}

TEST_CASE("cscrub check on builtins and another task and missing files", "[cli][check]") {
  const auto full = run_command(command_line("check builtin:full --model " + gpt2_small()));
  CHECK(full.exit_code == 0);
  CHECK(full.output.find("1 node (with the output), 0 edges") != std::string::npos);

  // The IOI circuit's features mean nothing for the induction task.
  const auto other_task = run_command(command_line("check " + ioi("full.toml") + " --model " + gpt2_small() + " --task induction"));
  CHECK(other_task.exit_code == 1);
  CHECK(other_task.output.find("task 'induction' has no feature 'io_name'") != std::string::npos);

  const auto missing = run_command(command_line("check no-such-file.toml --model " + gpt2_small()));
  CHECK(missing.exit_code == 1);
  CHECK(missing.output.find("no-such-file.toml: cannot open") != std::string::npos);

  const auto no_model = run_command(command_line("check " + ioi("full.toml") + " --model /nonexistent-model-dir"));
  CHECK(no_model.exit_code == 1);
  CHECK(no_model.output.find("/nonexistent-model-dir/config.json") != std::string::npos);
}

TEST_CASE("cscrub graph writes DOT and with Graphviz SVG", "[cli][graph]") {
  const auto dir = cscrub::test::scratch_dir("cli-graph");
  const auto dot = dir / "full.dot";
  const auto svg = dir / "full.svg";
  const bool have_dot = run_command("command -v dot").exit_code == 0;
  const auto result = run_command(command_line("graph " + ioi("full.toml") + " --model " + gpt2_small() + " --dot " +
                                         shell_quote(dot.string()) + (have_dot ? " --svg " + shell_quote(svg.string()) : "")));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  std::stringstream text;
  text << std::ifstream(dot).rdbuf();
  CHECK(text.str().find("digraph hypothesis") != std::string::npos);
  CHECK(text.str().find("name movers") != std::string::npos);
  if (have_dot) {
    std::stringstream image;
    image << std::ifstream(svg).rdbuf();
    CHECK(image.str().find("<svg") != std::string::npos);
    CHECK(image.str().find("10.10") != std::string::npos);
  }
  // An invalid hypothesis is not drawn.
  const auto invalid = run_command(command_line("graph " + bad("cycle.toml") + " --model " + gpt2_small() + " --dot " +
                                          shell_quote((dir / "cycle.dot").string())));
  CHECK(invalid.exit_code == 1);
  CHECK_FALSE(std::filesystem::exists(dir / "cycle.dot"));
  // Without Graphviz on PATH, --svg fails with a clear message.
  const auto no_graphviz = run_command("PATH=/nonexistent " + command_line("graph " + ioi("naive.toml") + " --model " +
                                                                     gpt2_small() + " --svg " + shell_quote((dir / "x.svg").string())));
  CHECK(no_graphviz.exit_code == 1);
  CHECK(no_graphviz.output.find("Graphviz's `dot` program is not installed") != std::string::npos);
}
