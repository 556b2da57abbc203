// `cscrub discover` as users run it: its edge scores against an independent PyTorch implementation of EAP's and
// EAP-IG's definitions (tools/reference_eap.py, float64) on a random model without tokenizer files and pairs of
// token ids of two lengths; its JSON read back as EAP-IG's Graph.from_json reads it (tools/check_graph_json.py);
// EAP-IG on the bundled model; and bad invocations refused with one clear line.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "edge_pairs_fixture.hpp"
#include "cli_runs.hpp"
#include "json_file.hpp"
#include "test_paths.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using cscrub::test::cli;
using cscrub::test::CommandResult;
using cscrub::test::EdgePairsFixture;
using cscrub::test::logged_run;
using cscrub::test::read_json_file;
using cscrub::test::shell_quote;

namespace {

// tools/check_graph_json.py on `graph`: loads it as EAP-IG's Graph.from_json would.
CommandResult check_graph_json(const fs::path& graph) {
  return logged_run(std::string(cscrub::test::system_python()) + " " +
                    shell_quote((cscrub::test::source_dir() / "tools" / "check_graph_json.py").string()) + " " +
                    shell_quote(graph.string()));
}

struct MethodCase {
  std::string method, metric;
};

// cscrub discover's scores against tools/reference_eap.py's, edge by edge, on the fixture's model.
void check_against_reference(const EdgePairsFixture& fixture, const std::vector<MethodCase>& cases, size_t edges) {
  for (const MethodCase& c : cases) {
    INFO(c.method << ", " << c.metric);
    const std::string name = c.method + "-" + c.metric;
    const fs::path ours = fixture.dir / (name + ".json"), theirs = fixture.dir / (name + ".reference.json");
    const std::string common = " --pairs " + shell_quote(fixture.pairs.string()) + " --method " + c.method +
                               (c.method == "eap-ig" ? " --steps 3" : "") + " --metric " + c.metric;
    const CommandResult result = logged_run(cli() + " discover --model " + shell_quote(fixture.model.string()) +
                                            common + " --batch-size 2 --quiet --out " + shell_quote(ours.string()));
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.output, Contains("over " + std::to_string(edges) + " edges"));
    const CommandResult reference =
        logged_run(std::string(cscrub::test::system_python()) + " " +
                   shell_quote((cscrub::test::source_dir() / "tools" / "reference_eap.py").string()) + " --model " +
                   shell_quote(fixture.model.string()) + common + " --out " + shell_quote(theirs.string()));
    REQUIRE(reference.exit_code == 0);
    const nlohmann::json a = read_json_file(ours)["edges"], b = read_json_file(theirs)["edges"];
    REQUIRE(a.size() == edges);
    REQUIRE(b.size() == edges);
    double largest = 0;
    for (const auto& [edge, entry] : b.items()) largest = std::max(largest, std::abs(entry["score"].get<double>()));
    REQUIRE(largest > 1e-3);
    for (const auto& [edge, entry] : b.items()) {
      INFO(edge);
      REQUIRE(a.contains(edge));
      CHECK(a[edge]["score"].get<double>() ==
            Approx(entry["score"].get<double>()).margin(1e-5 * largest).epsilon(1e-4));
    }
  }
}

}  // namespace

TEST_CASE("cli discover: EAP and EAP-IG scores match an independent PyTorch implementation of their definitions",
          "[cli][discover][eap]") {
  check_against_reference(EdgePairsFixture(), {{"eap", "logit_diff"}, {"eap-ig", "logit_diff"}, {"eap-ig", "kl"},
                                      {"eap-ig", "prob_diff"}, {"eap", "loss"}},
                          75);
}

TEST_CASE("cli discover: GPT-Neo's and Pythia's scores match the PyTorch implementation too", "[cli][discover][eap]") {
  SECTION("GPT-Neo: unscaled scores, a window of 3 keys, exact GELU") {
    check_against_reference(EdgePairsFixture("gpt_neo", "--window 3 --activation gelu"),
                            {{"eap-ig", "logit_diff"}, {"eap", "loss"}}, 75);
  }
  SECTION("Pythia: rotary q/k on half of each head, parallel blocks (no head -> MLP edge within a layer)") {
    const EdgePairsFixture fixture("gpt_neox", "--rotary-pct 0.5");
    check_against_reference(fixture, {{"eap-ig", "logit_diff"}, {"eap-ig", "kl"}, {"eap", "prob_diff"}}, 69);
    const fs::path out = fixture.dir / "eap-ig-logit_diff.json";
    const CommandResult check = check_graph_json(out);
    CHECK(check.exit_code == 0);
    CHECK_THAT(check.output, Contains("ok: 10 nodes, 69 edges"));
    CHECK(read_json_file(out)["cfg"]["parallel_attn_mlp"] == true);
  }
}

TEST_CASE("cli discover: the graph JSON loads as EAP-IG's and MIB's Graph.from_json reads it", "[cli][discover][eap]") {
  const EdgePairsFixture fixture;
  const fs::path out = fixture.dir / "graph.json";
  REQUIRE(logged_run(cli() + " discover --model " + shell_quote(fixture.model.string()) + " --pairs " +
                     shell_quote(fixture.pairs.string()) + " --method eap --quiet --out " + shell_quote(out.string()))
              .exit_code == 0);
  const CommandResult check = check_graph_json(out);
  CHECK(check.exit_code == 0);
  CHECK_THAT(check.output, Contains("ok: 10 nodes, 75 edges"));
  const nlohmann::json graph = read_json_file(out);
  CHECK(graph["cfg"] == nlohmann::json{{"n_layers", 2}, {"n_heads", 3}, {"parallel_attn_mlp", false}, {"d_model", 48}});
  // The checker refuses what EAP-IG would not load: a missing edge.
  nlohmann::json broken = graph;
  broken["edges"].erase("m1->logits");
  std::ofstream(fixture.dir / "broken.json") << broken.dump();
  CHECK(check_graph_json(fixture.dir / "broken.json").exit_code == 1);
}

TEST_CASE("cli discover: EAP-IG on the bundled model prints the strongest edges and writes every edge",
          "[cli][discover][eap]") {
  const fs::path dir = cscrub::test::scratch_dir("cli-discover-bundled");
  const fs::path out = dir / "ioi.json";
  const CommandResult result = logged_run(cli() + " discover --method eap-ig --task ioi --n 16 --top 5 --quiet --out " +
                                          shell_quote(out.string()));
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Contains("memory: estimated peak"));
  CHECK_THAT(result.output, Contains("EAP-IG (M = 5) over 262 edges: 6 forward and 5 backward passes per pair"));
  static const std::regex row(R"(^\s+\d+\s+(\S+->\S+)\s+([-+][\d.]+)\s+[\d.]+%$)");
  std::istringstream lines(result.output);
  std::string line;
  std::smatch match;
  int rows = 0;
  double previous = INFINITY;
  const nlohmann::json graph = read_json_file(out);
  REQUIRE(graph["edges"].size() == 262);
  while (std::getline(lines, line)) {
    if (!std::regex_match(line, match, row)) continue;
    ++rows;
    const double score = std::stod(match[2]);
    CHECK(std::abs(score) <= previous + 1e-5);  // ranked by |score|
    previous = std::abs(score);
    CHECK(graph["edges"][match[1].str()]["score"].get<double>() == Approx(score).margin(1e-5));
  }
  CHECK(rows == 5);
}

TEST_CASE("cli discover: bad invocations end with one clear line", "[cli][discover][eap]") {
  const EdgePairsFixture fixture;
  const std::string model = " --model " + shell_quote(fixture.model.string());
  const std::string pairs = " --pairs " + shell_quote(fixture.pairs.string());
  const std::string out = " --out " + shell_quote((fixture.dir / "out.json").string());
  struct Case {
    std::string arguments, message;
  };
  const Case cases[] = {
      {"discover --method eapig" + model + pairs + out, "unknown discovery method 'eapig' (did you mean 'eap-ig'?)"},
      {"discover --method eap-ig --steps 0" + model + pairs + out, "at least 1 (got 0)"},
      {"discover --method eap --metric logitdiff" + model + pairs + out, "did you mean 'logit_diff'"},
      {"discover --method eap" + model + pairs + " --out " + shell_quote(fixture.pairs.string()), "--out"},
      {"discover --method eap --max-memory 0.0001" + model + pairs + out, "exceeds the limit"},
      {"discover --method eap" + model + out, "has no tokenizer files"},
  };
  for (const Case& c : cases) {
    const CommandResult result = logged_run(cli() + " " + c.arguments);
    INFO(c.arguments);
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Contains(c.message));
    CHECK_FALSE(fs::exists(fixture.dir / "out.json"));
  }
  CHECK(logged_run(cli() + " discover" + model + pairs + out).exit_code != 0);  // --method is required
}
