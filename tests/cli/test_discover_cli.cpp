// `cscrub patch`, `cscrub attribute` and `cscrub attention` run as users run them: the built binary on a random
// model directory with GPT-2's tokenizer; the tables, .npy arrays and SVG heatmaps checked against each other,
// and every bad invocation ending in a clear message and exit code 1. (The numbers themselves are checked
// against slow direct implementations in tests/discover.)
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "cli_runs.hpp"
#include "cscrub/io/npy.hpp"
#include "test_paths.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using cscrub::test::CommandResult;
using cscrub::test::shell_quote;

namespace {

// A 2-layer, 4-head random model with GPT-2's vocabulary and tokenizer files.
const fs::path& model_dir() {
  static const fs::path dir = cscrub::test::random_model_with_gpt2_tokenizer(
      "cli-discover", {.layers = 2, .heads = 4, .d_model = 32, .vocab = 50257, .n_ctx = 64, .seed = 5});
  return dir;
}

CommandResult run_cli(const std::string& arguments) {
  return cscrub::test::run_cscrub(arguments + " --model " + shell_quote(model_dir().string()));
}

std::vector<float> floats_of(const cscrub::io::NpyArray& array) {
  REQUIRE(std::holds_alternative<std::vector<float>>(array.values));
  return std::get<std::vector<float>>(array.values);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct RankedRow {
  int rank;
  std::string cell;
  double change, normalized;
};

// The rows of `cscrub patch`'s ranking table.
std::vector<RankedRow> ranked_rows(const std::string& output) {
  static const std::regex row(R"(^\s+(\d+)\s+(\S+(?:, \S+)?)\s+([-+][\d.]+)\s+([-+][\d.]+)\s*$)");
  std::vector<RankedRow> rows;
  std::istringstream lines(output);
  std::string line;
  std::smatch match;
  while (std::getline(lines, line))
    if (std::regex_match(line, match, row))
      rows.push_back({std::stoi(match[1]), match[2], std::stod(match[3]), std::stod(match[4])});
  return rows;
}

// The clean and corrupted mean logit differences `cscrub patch` prints.
std::pair<double, double> baselines(const std::string& output) {
  static const std::regex line(R"(clean (-?[\d.]+), corrupted (-?[\d.]+))");
  std::smatch match;
  REQUIRE(std::regex_search(output, match, line));
  return {std::stod(match[1]), std::stod(match[2])};
}

// Fill colours of the heatmap's cells (the rects with a white stroke), in row-major order.
std::vector<std::string> cell_fills(const std::string& svg) {
  static const std::regex cell(R"re(<rect [^>]*fill="(#[0-9a-f]{6})" stroke="white")re");
  std::vector<std::string> fills;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), cell); it != std::sregex_iterator(); ++it)
    fills.push_back((*it)[1]);
  return fills;
}

int channel(const std::string& hex, int index) { return std::stoi(hex.substr(1 + 2 * index, 2), nullptr, 16); }

}  // namespace

TEST_CASE("cli patch: per-head denoising writes the table, the .npy and a diverging heatmap that agree",
          "[cli][discover]") {
  const fs::path out = cscrub::test::scratch_dir("cli-patch-head");
  const CommandResult result = run_cli("patch --task ioi --n 24 --seed 2 --kind head --top 5 --quiet --out-npy " +
                                       shell_quote((out / "head.npy").string()) + " --svg " +
                                       shell_quote((out / "head.svg").string()));
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Contains("corrupted: p_ABC"));
  CHECK_THAT(result.output, Contains("normalized = (patched − corrupted) / (clean − corrupted)"));
  const cscrub::io::NpyArray array = cscrub::io::read_npy(out / "head.npy");
  CHECK(array.shape == std::vector<int64_t>{2, 4});
  const std::vector<float> values = floats_of(array);

  // The table ranks by |normalized effect|, and its numbers are the array's.
  const std::vector<RankedRow> rows = ranked_rows(result.output);
  REQUIRE(rows.size() == 5);
  const auto [clean, corrupted] = baselines(result.output);
  double previous = INFINITY;
  for (const RankedRow& row : rows) {
    const int layer = row.cell[0] - '0', head = row.cell[2] - '0';
    const float value = values[static_cast<size_t>(layer * 4 + head)];
    CHECK(row.normalized == Approx(value).margin(1e-4));
    CHECK(row.change == Approx(row.normalized * (clean - corrupted)).margin(2e-4 + 1e-3 * std::fabs(row.change)));
    CHECK(std::fabs(row.normalized) <= previous + 1e-4);
    previous = std::fabs(row.normalized);
  }

  // Heatmap: one cell per head, red where the effect is positive, blue where negative, labelled axes.
  const std::string svg = read_file(out / "head.svg");
  CHECK_THAT(svg, Contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  CHECK_THAT(svg, Contains("Activation patching per head: attn.hook_z (denoising)"));
  CHECK_THAT(svg, Contains(">layer</text>"));
  CHECK_THAT(svg, Contains(">head</text>"));
  CHECK_THAT(svg, Contains("linearGradient"));
  const std::vector<std::string> fills = cell_fills(svg);
  REQUIRE(fills.size() == 8);
  float largest = 0;
  for (float value : values) largest = std::max(largest, std::fabs(value));
  for (size_t i = 0; i < fills.size(); ++i) {
    INFO("cell " << i << " value " << values[i] << " fill " << fills[i]);
    if (values[i] > 0.1f * largest) CHECK(channel(fills[i], 0) > channel(fills[i], 2));
    if (values[i] < -0.1f * largest) CHECK(channel(fills[i], 2) > channel(fills[i], 0));
  }
}

TEST_CASE("cli patch: --value change and normalized differ by clean - corrupted", "[cli][discover]") {
  const fs::path out = cscrub::test::scratch_dir("cli-patch-value");
  const std::string common = "patch --n 16 --kind head --site v --position END --direction noise --quiet --top 0 ";
  const CommandResult normalized = run_cli(common + "--out-npy " + shell_quote((out / "n.npy").string()));
  const CommandResult change = run_cli(common + "--value change --out-npy " + shell_quote((out / "c.npy").string()));
  REQUIRE(normalized.exit_code == 0);
  REQUIRE(change.exit_code == 0);
  const auto [clean, corrupted] = baselines(normalized.output);
  const auto n = floats_of(cscrub::io::read_npy(out / "n.npy"));
  const auto c = floats_of(cscrub::io::read_npy(out / "c.npy"));
  REQUIRE(n.size() == c.size());
  for (size_t i = 0; i < n.size(); ++i) CHECK(c[i] == Approx(n[i] * (clean - corrupted)).margin(1e-3));
}

TEST_CASE("cli patch: path patching marks senders without a path, layer and position grids have their shapes",
          "[cli][discover]") {
  const fs::path out = cscrub::test::scratch_dir("cli-patch-kinds");
  SECTION("path to a head's query at END") {
    const CommandResult result = run_cli("patch --n 16 --kind path --receivers 1.2:q --position END --quiet --svg " +
                                         shell_quote((out / "path.svg").string()) + " --out-npy " +
                                         shell_quote((out / "path.npy").string()));
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.output, Contains("to 1.2:q @END, other heads frozen to clean, MLPs recomputed"));
    const auto values = floats_of(cscrub::io::read_npy(out / "path.npy"));
    REQUIRE(values.size() == 8);
    for (int head = 0; head < 4; ++head) {
      CHECK(std::isfinite(values[static_cast<size_t>(head)]));
      CHECK(std::isnan(values[static_cast<size_t>(4 + head)]));  // layer 1 cannot reach a layer-1 receiver
    }
    const std::string svg = read_file(out / "path.svg");
    CHECK_THAT(svg, Contains("Path patching: sender heads → 1.2:q @END"));
    CHECK_THAT(svg, Contains("no path"));
  }
  SECTION("path to the logits") {
    const CommandResult result = run_cli("patch --n 16 --kind path --quiet --out-npy " + shell_quote((out / "l.npy").string()));
    REQUIRE(result.exit_code == 0);
    for (float value : floats_of(cscrub::io::read_npy(out / "l.npy"))) CHECK(std::isfinite(value));
  }
  SECTION("layers: resid_pre patched whole restores the clean run") {
    const CommandResult result = run_cli("patch --n 16 --kind layer --quiet --top 20 --out-npy " +
                                         shell_quote((out / "layer.npy").string()));
    REQUIRE(result.exit_code == 0);
    const cscrub::io::NpyArray array = cscrub::io::read_npy(out / "layer.npy");
    CHECK(array.shape == std::vector<int64_t>{2, 3});
    const auto values = floats_of(array);
    CHECK(values[0] == Approx(1.0).margin(1e-4));  // layer 0, resid_pre
    CHECK(values[3] == Approx(1.0).margin(1e-4));  // layer 1, resid_pre
    CHECK_THAT(result.output, Contains("layer 1, mlp_out"));
  }
  SECTION("positions: one column per named position") {
    const CommandResult result = run_cli("patch --n 16 --kind position --quiet --svg " +
                                         shell_quote((out / "pos.svg").string()) + " --out-npy " +
                                         shell_quote((out / "pos.npy").string()));
    REQUIRE(result.exit_code == 0);
    CHECK(cscrub::io::read_npy(out / "pos.npy").shape == std::vector<int64_t>{2, 5});
    const std::string svg = read_file(out / "pos.svg");
    for (const char* label : {">IO<", ">S1<", ">S1+1<", ">S2<", ">END<"}) CHECK_THAT(svg, Contains(label));
  }
  SECTION("ablations") {
    for (const char* ablation : {"zero", "mean", "resample"}) {
      const CommandResult result = run_cli(std::string("patch --n 24 --kind head --quiet --ablation ") + ablation);
      REQUIRE(result.exit_code == 0);
      CHECK_THAT(result.output, Contains(std::string(ablation) + " ablation of the clean run"));
      CHECK(ranked_rows(result.output).size() == 8);
    }
  }
}

// The lines of a dataset JSONL file, parsed.
std::vector<nlohmann::json> jsonl_lines(const fs::path& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST_CASE("cli patch: --pairs gives the same effects as the generated pairs it holds", "[cli][discover][pairs]") {
  const fs::path out = cscrub::test::scratch_dir("cli-patch-pairs");
  // IOI's clean prompts and their p_ABC counterparts, as `patch --task ioi` pairs them, written as a pair file.
  for (const char* distribution : {"ioi", "abc"}) {
    const CommandResult made = cscrub::test::run_command(
        shell_quote(cscrub::test::cli_path().string()) + " dataset ioi --n 12 --seed 4 --option distribution=" +
        distribution + " --out " + shell_quote((out / (std::string(distribution) + ".jsonl")).string()));
    REQUIRE(made.exit_code == 0);
  }
  const auto clean = jsonl_lines(out / "ioi.jsonl"), corrupted = jsonl_lines(out / "abc.jsonl");
  REQUIRE(clean.size() == 12);
  REQUIRE(corrupted.size() == 12);
  {
    std::ofstream pairs(out / "pairs.jsonl");
    for (size_t i = 0; i < clean.size(); ++i) {
      const nlohmann::json pair = {{"clean", clean[i]["tokens"]}, {"corrupted", corrupted[i]["tokens"]},
                                   {"answer", clean[i]["answer_id"]}, {"distractor", clean[i]["distractor_text"]}};
      pairs << pair.dump() << "\n";
    }
  }
  const CommandResult generated = run_cli("patch --task ioi --n 12 --seed 4 --kind head --quiet --top 8");
  const CommandResult from_file =
      run_cli("patch --pairs " + shell_quote((out / "pairs.jsonl").string()) + " --kind head --quiet --top 8");
  REQUIRE(generated.exit_code == 0);
  REQUIRE(from_file.exit_code == 0);
  CHECK_THAT(from_file.output, Contains("prompts: 12 pairs from "));
  CHECK(baselines(from_file.output) == baselines(generated.output));
  const auto expected = ranked_rows(generated.output), got = ranked_rows(from_file.output);
  REQUIRE(got.size() == 8);
  REQUIRE(expected.size() == 8);
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].cell == expected[i].cell);
    CHECK(got[i].change == expected[i].change);
  }

  // Bad pair files and combinations: one line naming the file and line.
  {
    std::ofstream bad(out / "bad.jsonl");
    bad << "{\"clean\": [1, 2], \"corrupted\": [3, 4], \"answer\": 5, \"distractor\": 6}\n"
        << "{\"clean\": [1, 2], \"corrupted\": [3, 4, 5], \"answer\": 5, \"distractor\": 6}\n";
  }
  const CommandResult bad = run_cli("patch --pairs " + shell_quote((out / "bad.jsonl").string()));
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.output, Contains("bad.jsonl:2: the clean prompt has 2 tokens and the corrupted one 3"));
  const CommandResult both = run_cli("patch --pairs " + shell_quote((out / "pairs.jsonl").string()) + " --task ioi");
  CHECK(both.exit_code != 0);
  CHECK_THAT(both.output, Contains("excludes"));
}

TEST_CASE("cli attribute: the parts add up to the logit difference", "[cli][discover]") {
  const fs::path out = cscrub::test::scratch_dir("cli-attribute");
  const CommandResult result = run_cli("attribute --n 20 --quiet --top 3 --out-npy " +
                                       shell_quote((out / "dla.npy").string()) + " --svg " +
                                       shell_quote((out / "dla.svg").string()));
  REQUIRE(result.exit_code == 0);
  std::smatch match;
  REQUIRE(std::regex_search(result.output, match,
                            std::regex(R"(sum of all parts\s+([-+][\d.]+)\s+\(the model's mean logit difference: ([-+][\d.]+)\))")));
  CHECK(std::stod(match[1]) == Approx(std::stod(match[2])).margin(2e-4));
  CHECK(cscrub::io::read_npy(out / "dla.npy").shape == std::vector<int64_t>{2, 4});
  CHECK_THAT(read_file(out / "dla.svg"), Contains("Direct logit attribution per head"));
}

TEST_CASE("cli attention: a head's pattern as a table, .npy and SVG", "[cli][discover]") {
  const fs::path out = cscrub::test::scratch_dir("cli-attention");
  SECTION("text prompt") {
    const CommandResult result =
        run_cli("attention --head 1.2 --text " + shell_quote("When Mary and John went to the store, John gave a drink to") +
                " --out-npy " + shell_quote((out / "a.npy").string()) + " --svg " + shell_quote((out / "a.svg").string()));
    REQUIRE(result.exit_code == 0);
    const cscrub::io::NpyArray array = cscrub::io::read_npy(out / "a.npy");
    REQUIRE(array.shape.size() == 2);
    const int64_t positions = array.shape[0];
    CHECK(array.shape[1] == positions);
    CHECK(positions == 14);
    const auto values = floats_of(array);
    for (int64_t q = 0; q < positions; ++q) {
      double sum = 0;
      for (int64_t k = 0; k < positions; ++k) {
        sum += values[static_cast<size_t>(q * positions + k)];
        if (k > q) CHECK(values[static_cast<size_t>(q * positions + k)] == 0.0f);
      }
      CHECK(sum == Approx(1.0).margin(1e-5));
    }
    CHECK(std::count(result.output.begin(), result.output.end(), '\n') >= positions);
    const std::string svg = read_file(out / "a.svg");
    CHECK_THAT(svg, Contains("Attention pattern of head 1.2"));
    CHECK_THAT(svg, Contains("> Mary</text>"));
    CHECK_THAT(svg, Contains("causal mask"));
  }
  SECTION("a task's prompt, its named positions marked") {
    const CommandResult result = run_cli("attention --head 0.1 --task ioi --n 10 --index 3");
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.output, Contains("[END]\""));
    CHECK_THAT(result.output, Contains("[S2]\""));
  }
}

TEST_CASE("cli discover commands: bad invocations end with a clear message", "[cli][discover]") {
  struct Case {
    std::string arguments, message;
  };
  const Case cases[] = {
      {"patch --n 8 --kind bogus", "--kind bogus: unknown kind"},
      {"patch --n 8 --kind path --receivers 5.0:q", "layer 5 does not exist"},
      {"patch --n 8 --kind path --receivers 1.0", "is not LAYER.HEAD:q"},
      {"patch --n 8 --kind head --receivers 1.0:q", "--receivers is for --kind path only"},
      {"patch --n 8 --kind head --site resid_pre", "no head dimension"},
      {"patch --n 8 --kind head --site zz", "unknown site 'zz'"},
      {"patch --n 8 --kind head --position S3", "has no position 'S3'"},
      {"patch --n 8 --kind head --direction sideways", "unknown patching direction"},
      {"patch --n 8 --ablation mean --direction noise", "--direction and --ablation both given"},
      {"patch --n 8 --option distribution=abc", "--option distribution"},
      {"patch --n 0", "--n: must be a whole number of at least 1 (got 0)"},
      {"patch --task nonsense", "nonsense"},
      {"attention --head 2.0 --text hello", "layer 2 does not exist"},
      {"attention --head 1.1", "give exactly one prompt"},
      {"attention --head 1.1 --text hi --index 2", "give exactly one prompt"},
      {"attention --head 1.1 --index 50 --n 10", "--index 50 is outside the 10 prompts"},
  };
  for (const Case& c : cases) {
    const CommandResult result = run_cli(c.arguments);
    INFO(c.arguments);
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Contains(c.message));
  }
}
