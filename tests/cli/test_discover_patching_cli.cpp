// `cscrub discover --method exact` and `--method acdc` as users run them: exact's written scores are the library's
// (discover::exact_edge_scores, itself checked against a full forward pass per edge in tests/discover) bit for bit;
// ACDC at tau = 0 keeps every edge that changes the metric and reproduces the model, at tau = inf keeps nothing;
// every method's file carries the provenance record `cscrub circuit` and `cscrub faithfulness` read; both run on
// the bundled model; bad option combinations end with one line.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "cscrub/discover/edge_graph.hpp"
#include "cscrub/discover/exact_patching.hpp"
#include "cscrub/discover/pair_file.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cli_runs.hpp"
#include "json_file.hpp"
#include "edge_pairs_fixture.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using cscrub::test::cli;
using cscrub::test::CommandResult;
using cscrub::test::EdgePairsFixture;
using cscrub::test::logged_run;
using cscrub::test::read_json_file;
using cscrub::test::shell_quote;

namespace {

// `cscrub discover` on the fixture's model and pairs with `arguments`, writing `out`.
CommandResult discover(const EdgePairsFixture& fixture, const std::string& arguments, const fs::path& out) {
  return logged_run(cli() + " discover --model " + shell_quote(fixture.model.string()) + " --pairs " +
                    shell_quote(fixture.pairs.string()) + " --matmul fp32-fma --quiet " + arguments + " --out " +
                    shell_quote(out.string()));
}

// The number `pattern`'s first group matches in `text` ("1,234" -> 1234).
int number_in(const std::string& text, const std::string& pattern) {
  std::smatch match;
  const std::regex expression(pattern);
  if (!std::regex_search(text, match, expression)) FAIL("no match for " << pattern);
  std::string digits = match[1].str();
  std::erase(digits, ',');
  return std::stoi(digits);
}

size_t count_lines_with(const std::string& text, const std::string& part) {
  std::istringstream lines(text);
  size_t count = 0;
  for (std::string line; std::getline(lines, line);) count += line.find(part) != std::string::npos;
  return count;
}

}  // namespace

TEST_CASE("cli discover --method exact writes the library's exact patching scores", "[cli][discover][exact]") {
  const std::string family = GENERATE(std::string("gpt2"), std::string("gpt_neox"));
  const EdgePairsFixture fixture(family, family == "gpt_neox" ? "--rotary-pct 0.5" : "");
  const std::string metric = GENERATE(std::string("logit_diff"), std::string("kl"));
  INFO(family << ", " << metric);
  const fs::path out = fixture.dir / "exact.json";
  const CommandResult result = discover(fixture, "--method exact --metric " + metric + " --batch-size 2 --top 4", out);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Contains("memory: estimated peak"));
  CHECK_THAT(result.output, Contains("exact patching over"));
  CHECK_THAT(result.output, Contains("rank  edge"));

  cscrub::engine::Weights weights = cscrub::io::load_weights(fixture.model);
  weights.matmul = cscrub::engine::MatmulKernel::fp32_fma;
  const cscrub::discover::EdgeGraph graph(cscrub::discover::graph_shape(weights.config));
  const cscrub::discover::PairedDataset pairs =
      cscrub::discover::read_pair_file(fixture.pairs, weights.config, nullptr);
  const std::vector<double> expected = cscrub::discover::exact_edge_scores(
      weights, graph, pairs, {.metric = cscrub::discover::parse_metric(metric), .batch_size = 5});
  const nlohmann::json written = read_json_file(out);
  REQUIRE(written["edges"].size() == expected.size());
  double largest = 0;
  for (size_t e = 0; e < expected.size(); ++e) {
    const std::string name = graph.edge_name(graph.edges()[e]);
    INFO(name);
    // JSON keeps a double's every bit; the batch size does not change the scores.
    CHECK(written["edges"][name]["score"].get<double>() == expected[e]);
    CHECK(written["edges"][name]["in_graph"] == false);
    largest = std::max(largest, std::abs(expected[e]));
  }
  CHECK(largest > 1e-3);
  CHECK(written["cscrub"]["method"] == "exact");
  CHECK(written["cscrub"]["metric"] == metric);
  CHECK(written["cscrub"]["higher_is_better"] == (metric == "logit_diff"));
  CHECK(written["cscrub"]["pairs"] == 5);
  CHECK_THAT(written["cscrub"]["command"].get<std::string>(),
             Contains("--method exact --metric " + metric + " --pairs"));
}

TEST_CASE("cli discover --method acdc: tau = 0 keeps every edge that changes the metric, tau = inf none",
          "[cli][discover][acdc]") {
  const EdgePairsFixture fixture;
  SECTION("tau = 0") {
    const fs::path out = fixture.dir / "acdc0.json";
    const CommandResult result = discover(fixture, "--method acdc --threshold 0", out);
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.output, Contains("metric: kl"));  // ACDC's default metric
    const nlohmann::json written = read_json_file(out);
    CHECK(written["cscrub"]["method"] == "acdc");
    CHECK(written["cscrub"]["metric"] == "kl");
    // Every tried edge whose removal changed the metric at all is kept (and on a random model, each is connected).
    int changed = 0, kept = 0;
    for (const auto& [name, edge] : written["edges"].items()) {
      INFO(name);
      const double change = edge["score"].get<double>();
      if (change != 0) ++changed;
      if (edge["in_graph"].get<bool>()) ++kept;
      CHECK(edge["in_graph"].get<bool>() == (change != 0));
    }
    CHECK(changed > 75 / 2);
    CHECK(number_in(result.output, R"(([\d,]+) edges kept)") == kept);
    // The circuit is the model: its KL to the clean run is 0.
    CHECK_THAT(result.output, Contains("mean kl: model 0.0000, kept edges 0.0000, circuit 0.0000"));
  }
  SECTION("tau = inf") {
    const fs::path out = fixture.dir / "acdc-inf.json";
    const CommandResult result = discover(fixture, "--method acdc --threshold inf --metric logit_diff", out);
    REQUIRE(result.exit_code == 0);
    const nlohmann::json written = read_json_file(out);
    CHECK(written["cscrub"]["metric"] == "logit_diff");
    for (const auto& [name, edge] : written["edges"].items()) CHECK(edge["in_graph"] == false);
    for (const auto& [name, node] : written["nodes"].items())
      if (name != "logits") CHECK(node["in_graph"] == false);
    CHECK(number_in(result.output, R"(([\d,]+) edges kept)") == 0);
    CHECK_THAT(result.output, Contains("circuit: 0 edges and 0 nodes"));
    // With nothing kept, the circuit is the corrupted run.
    std::smatch match;
    const std::string output = result.output;
    REQUIRE(std::regex_search(output, match, std::regex(R"(clean ([-\d.]+), corrupted ([-\d.]+))")));
    const std::string corrupted = match[2].str();
    CHECK_THAT(output, Contains(", circuit " + corrupted));
  }
}

TEST_CASE("cli discover: every method's graph file records what made it, as `cscrub circuit` reads it",
          "[cli][discover][exact][acdc]") {
  const EdgePairsFixture fixture;
  for (const std::string method : {"eap", "eap-ig", "exact", "acdc"}) {
    INFO(method);
    const fs::path out = fixture.dir / (method + ".json");
    const CommandResult result = discover(
        fixture, "--method " + method + (method == "acdc" ? " --threshold 0.001" : "") + " --metric loss", out);
    REQUIRE(result.exit_code == 0);
    const nlohmann::json record = read_json_file(out)["cscrub"];
    CHECK(record["method"] == method);
    CHECK(record["metric"] == "loss");
    CHECK(record["higher_is_better"] == false);
    CHECK(record["task"] == "pairs");
    CHECK(record["pairs"] == 5);
    // `cscrub circuit` reads the record: the hypothesis's description names the method.
    const fs::path toml = fixture.dir / (method + ".toml");
    const CommandResult circuit = logged_run(cli() + " circuit " + shell_quote(out.string()) +
                                             " --top 6 --task ioi --toml " + shell_quote(toml.string()));
    REQUIRE(circuit.exit_code == 0);
    std::ifstream in(toml);
    std::stringstream text;
    text << in.rdbuf();
    CHECK_THAT(text.str(), Contains(method + " scores (loss, 5 pairs"));
  }
}

TEST_CASE("cli discover: exact and ACDC on the bundled model", "[cli][discover][exact][acdc]") {
  const fs::path dir = cscrub::test::scratch_dir("cli-discover-bundled-patching");
  SECTION("exact") {
    const CommandResult result =
        logged_run(cli() + " discover --method exact --task ioi --n 8 --top 3 --quiet --out " +
                   shell_quote((dir / "exact.json").string()) + " --svg " + shell_quote((dir / "exact.svg").string()));
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.output, Contains("exact patching over 262 edges"));
    const nlohmann::json graph = read_json_file(dir / "exact.json");
    REQUIRE(graph["edges"].size() == 262);
    CHECK(graph["cscrub"]["task"] == "ioi");
    // Corrupting the whole model moves logit_diff down; so do the strongest single edges.
    static const std::regex row(R"(^\s+1\s+(\S+->\S+)\s+([-+][\d.]+)\s+[\d.]+%$)");
    std::istringstream lines(result.output);
    std::string line;
    std::smatch match;
    bool found = false;
    while (std::getline(lines, line))
      if (std::regex_match(line, match, row)) {
        found = true;
        CHECK(std::stod(match[2]) < 0);
        CHECK(graph["edges"][match[1].str()]["score"].get<double>() == Approx(std::stod(match[2])).margin(1e-5));
      }
    CHECK(found);
    CHECK(fs::file_size(dir / "exact.svg") > 1000);
  }
  SECTION("acdc") {
    const CommandResult result = logged_run(cli() +
                                            " discover --method acdc --threshold 0.05 --task ioi --n 8 --top 3 "
                                            "--quiet --out " +
                                            shell_quote((dir / "acdc.json").string()));
    REQUIRE(result.exit_code == 0);
    const int kept = number_in(result.output, R"(circuit: ([\d,]+) edges)");
    CHECK(kept > 0);
    CHECK(kept < 262);
    const nlohmann::json graph = read_json_file(dir / "acdc.json");
    int marked = 0;
    for (const auto& [name, edge] : graph["edges"].items()) marked += edge["in_graph"].get<bool>();
    CHECK(marked == kept);
  }
}

TEST_CASE("cli discover: exact's and ACDC's bad option combinations end with one line", "[cli][discover][acdc]") {
  const EdgePairsFixture fixture;
  const std::string model = " --model " + shell_quote(fixture.model.string());
  const std::string pairs = " --pairs " + shell_quote(fixture.pairs.string());
  const std::string out = " --out " + shell_quote((fixture.dir / "out.json").string());
  struct Case {
    std::string arguments, message;
  };
  const Case cases[] = {
      {"discover --method acdc" + model + pairs + out, "--method acdc needs --threshold T"},
      {"discover --method exact --threshold 0.1" + model + pairs + out, "--threshold is ACDC's tau"},
      {"discover --method eap-ig --threshold 0.1" + model + pairs + out, "--threshold is ACDC's tau"},
      {"discover --method acdc --threshold -1" + model + pairs + out, "--threshold must be a number >= 0"},
      {"discover --method acdc --threshold nan" + model + pairs + out, "--threshold must be a number >= 0"},
      {"discover --method exact --steps 3" + model + pairs + out, "--steps is EAP-IG's"},
      {"discover --method acdc --threshold 1 --steps 3" + model + pairs + out, "--steps is EAP-IG's"},
      {"discover --method acdc --threshold 1 --metric kll" + model + pairs + out, "did you mean 'kl'"},
      {"discover --method exakt" + model + pairs + out, "unknown discovery method 'exakt' (did you mean 'exact'?)"},
      {"discover --method exact --max-memory 0.0001" + model + pairs + out, "exceeds the limit"},
      {"discover --method acdc --threshold 0 --max-memory 0.0001" + model + pairs + out, "exceeds the limit"},
  };
  for (const Case& c : cases) {
    const CommandResult result = logged_run(cli() + " " + c.arguments);
    INFO(c.arguments);
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Contains(c.message));
    CHECK(count_lines_with(result.output, "error:") == 1);
    CHECK_FALSE(fs::exists(fixture.dir / "out.json"));
  }
}
