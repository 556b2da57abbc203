// Numbers a reviewer can trust, through `cscrub run` and `compare`: references alone in their agreement
// class are counted (against a count made here from the dataset file) and can be left out; a model with
// nothing to recover gives "undefined", not a percentage; the per-reference values in the JSON give back
// every summary number; sentences fit lower-is-better metrics; the paper's sampling is recorded and rerun.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "json_file.hpp"
#include "cli_runs.hpp"
#include "test_paths.hpp"

using namespace cscrub::test;
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

CommandResult cscrub_command(const std::string& arguments) { return run_cscrub(arguments + " --quiet"); }

std::string quoted(const fs::path& path) { return shell_quote(path.string()); }

// An induction claim whose node computes "the answer": in 200 prompts many answers occur once per group.
const char* kInductionAnswer = R"(name = "induction heads copy the answer"

[defaults]
task = "induction"

[nodes.induction]
heads = ["1.3", "2.1"]
positions = ["END"]
feature = "answer"

[output]
parents = ["induction"]
)";

std::vector<Json> read_jsonl(const fs::path& path) {
  std::ifstream in(path);
  std::vector<Json> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(Json::parse(line));
  return lines;
}

double mean(const std::vector<double>& values) {
  double sum = 0;
  for (double value : values) sum += value;
  return sum / static_cast<double>(values.size());
}

// The seed average of each reference's values, [seed][reference] -> [reference].
std::vector<double> seed_average(const Json& per_seed) {
  const size_t seeds = per_seed.size(), n = per_seed[0].size();
  std::vector<double> average(n, 0.0);
  for (size_t s = 0; s < seeds; ++s)
    for (size_t i = 0; i < n; ++i) average[i] += per_seed[s][i].get<double>() / static_cast<double>(seeds);
  return average;
}

}  // namespace

TEST_CASE("references alone in their agreement class are counted, warned about and can be left out", "[cli][run][classes]") {
  const fs::path dir = scratch_dir("trust-singletons");
  const fs::path claim = dir / "induction_answer.toml", dataset = dir / "induction.jsonl";
  std::ofstream(claim) << kInductionAnswer;
  REQUIRE(run_command(shell_quote(cli_path().string()) + " dataset induction --n 200 --seed 0 --out " + quoted(dataset))
              .exit_code == 0);

  // The count made here: prompts whose (alignment group, answer) no other prompt shares, among those whose
  // group has another prompt (the others are never scored).
  const std::vector<Json> prompts = read_jsonl(dataset);
  std::map<std::string, int> group_sizes, class_sizes;
  for (const Json& prompt : prompts) {
    group_sizes[prompt["group"].get<std::string>()] += 1;
    class_sizes[prompt["group"].get<std::string>() + "|" + prompt["features"]["answer"].get<std::string>()] += 1;
  }
  int scored = 0, singletons = 0;
  std::vector<int> expected_sizes;
  for (const Json& prompt : prompts) {
    if (group_sizes[prompt["group"].get<std::string>()] < 2) continue;
    const int size = class_sizes[prompt["group"].get<std::string>() + "|" + prompt["features"]["answer"].get<std::string>()];
    scored += 1;
    singletons += size == 1 ? 1 : 0;
    expected_sizes.push_back(size);
  }
  REQUIRE(singletons > 20);  // the case is the one the issue saw: many classes of one

  const fs::path json = dir / "kept.json";
  const auto kept = cscrub_command("run " + quoted(claim) + " --dataset " + quoted(dataset) + " --seeds 2 --json " + quoted(json));
  REQUIRE(kept.exit_code == 0);
  CHECK_THAT(kept.output, Catch::Contains("references alone in their agreement class") &&
                              Catch::Contains(std::to_string(singletons) + " of " + std::to_string(scored)) &&
                              Catch::Contains("warning: at 1 node more than 5% of the references are alone") &&
                              Catch::Contains("--exclude-singletons"));
  const Json result = read_json_file(json);
  REQUIRE(result["class_sizes"].size() == 1);
  const Json& node = result["class_sizes"][0];
  CHECK(node["node"] == "induction");
  CHECK(node["feature"] == Json::array({"answer"}));
  CHECK(node["singletons"] == singletons);
  CHECK(node["references"] == scored);
  CHECK(node["class_sizes"].get<std::vector<int>>() == expected_sizes);
  CHECK(result["excluded_singletons"] == 0);
  CHECK(result["n"] == scored);

  const fs::path without_json = dir / "without.json";
  const auto without = cscrub_command("run " + quoted(claim) + " --dataset " + quoted(dataset) +
                                      " --seeds 2 --exclude-singletons --json " + quoted(without_json));
  REQUIRE(without.exit_code == 0);
  CHECK_THAT(without.output, Catch::Contains("left out " + std::to_string(singletons) + " references alone in their class"));
  const Json left_out = read_json_file(without_json);
  CHECK(left_out["excluded_singletons"] == singletons);
  CHECK(left_out["n"] == scored - singletons);
  CHECK(left_out["class_sizes"][0]["singletons"] == 0);
  CHECK(left_out["provenance"]["exclude_singletons"] == true);
  // The references left are the ones whose class has another member.
  std::vector<int> kept_indices;
  for (size_t i = 0; i < expected_sizes.size(); ++i)
    if (expected_sizes[i] > 1) kept_indices.push_back(result["per_reference"]["reference_indices"][i].get<int>());
  CHECK(left_out["per_reference"]["reference_indices"].get<std::vector<int>>() == kept_indices);
  const auto again = cscrub_command("rerun " + quoted(without_json));
  CHECK(again.exit_code == 0);
}

TEST_CASE("a model with nothing to recover gives an undefined recovery, not a percentage", "[cli][run][undefined]") {
  const fs::path dir = scratch_dir("trust-undefined");
  const fs::path model = dir / "random-model";
  make_random_model(model, {.layers = 2, .heads = 4, .d_model = 32, .vocab = 50257, .n_ctx = 64, .seed = 7});
  const fs::path bundled = bundled_model_dir();
  fs::copy_file(bundled / "encoder.json", model / "encoder.json");
  fs::copy_file(bundled / "vocab.bpe", model / "vocab.bpe");
  const fs::path claim = dir / "mover.toml";
  std::ofstream(claim) << "name = \"head 1.2 moves the IO name\"\n[nodes.mover]\nheads = [\"1.2\"]\npositions = [\"END\"]\n"
                          "feature = \"io_name\"\n[output]\nparents = [\"mover\"]\n";
  for (const std::string& hypothesis : std::vector<std::string>{"builtin:full", claim.string()}) {
    const fs::path json = dir / "result.json";
    const auto run = cscrub_command("run " + shell_quote(hypothesis) + " --model " + quoted(model) + " --n 120 --seeds 2 --json " + quoted(json));
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.output, Catch::Contains("undefined: the model and the baseline do not differ on these prompts"));
    CHECK_THAT(run.output, !Catch::Contains("accounts for") && !Catch::Contains("explains little"));
    const Json result = read_json_file(json);
    CHECK(result["recovered"].is_null());
    CHECK(result["recovered_ci95"].is_null());
    CHECK(result["recoverable"]["defined"] == false);
    CHECK_THAT(result["recoverable"]["reason"].get<std::string>(), Catch::Contains("model - baseline ="));
    // The rule, recomputed from the per-reference values: the gap's interval holds 0, or the gap is below a
    // tenth of the metric's pooled spread.
    const std::vector<double> model_values = result["per_reference"]["model"].get<std::vector<double>>();
    const std::vector<double> baseline = seed_average(result["per_reference"]["baseline"]);
    const double gap = mean(model_values) - mean(baseline);
    double squares = 0;
    for (size_t i = 0; i < model_values.size(); ++i)
      squares += std::pow(model_values[i] - mean(model_values), 2) + std::pow(baseline[i] - mean(baseline), 2);
    const double spread = std::sqrt(squares / (2.0 * static_cast<double>(model_values.size() - 1)));
    CHECK(result["recoverable"]["model_minus_baseline"]["value"].get<double>() == Approx(gap).epsilon(1e-12));
    CHECK(result["recoverable"]["metric_spread"].get<double>() == Approx(spread).epsilon(1e-12));
    const Json& interval = result["recoverable"]["model_minus_baseline"]["ci95"];
    const bool interval_holds_zero = interval[0].get<double>() <= 0 && interval[1].get<double>() >= 0;
    CHECK((interval_holds_zero || std::abs(gap) < 0.1 * spread));
  }
  // The bundled model solves IOI: there, the recovery is defined.
  const fs::path json = dir / "bundled.json";
  REQUIRE(cscrub_command("run builtin:full --n 60 --seeds 1 --json " + quoted(json)).exit_code == 0);
  CHECK(read_json_file(json)["recoverable"]["defined"] == true);
}

TEST_CASE("the per-reference values in the JSON give back every summary number", "[cli][run][compare][per-reference]") {
  const fs::path dir = scratch_dir("trust-per-reference");
  const fs::path run_json = dir / "run.json", compare_json = dir / "compare.json";
  const std::string ioi = quoted(source_dir() / "hypotheses" / "gpt2-ioi-mini" / "ioi.toml");
  const std::string variant = quoted(source_dir() / "hypotheses" / "gpt2-ioi-mini" / "no_late_mlps.toml");
  REQUIRE(cscrub_command("run " + ioi + " --n 60 --seeds 3 --json " + quoted(run_json)).exit_code == 0);
  const Json run = read_json_file(run_json);
  const Json& values = run["per_reference"];
  const size_t n = run["n"].get<size_t>();
  REQUIRE(n + run["excluded_prompts"].get<size_t>() == 60);
  REQUIRE(values["model"].size() == n);
  REQUIRE(values["baseline"].size() == 3);
  REQUIRE(values["scrubbed"].size() == 3);
  REQUIRE(values["scrubbed"][0].size() == n);
  const std::vector<double> model = values["model"].get<std::vector<double>>();
  const std::vector<double> baseline = seed_average(values["baseline"]), scrubbed = seed_average(values["scrubbed"]);
  CHECK(run["model_value"].get<double>() == Approx(mean(model)).epsilon(1e-12));
  CHECK(run["baseline_value"].get<double>() == Approx(mean(baseline)).epsilon(1e-12));
  CHECK(run["scrubbed_value"].get<double>() == Approx(mean(scrubbed)).epsilon(1e-12));
  CHECK(run["recovered"].get<double>() ==
        Approx((mean(scrubbed) - mean(baseline)) / (mean(model) - mean(baseline))).epsilon(1e-12));
  for (size_t s = 0; s < 3; ++s) {
    const std::vector<double> seed_scrubbed = values["scrubbed"][s].get<std::vector<double>>();
    const std::vector<double> seed_baseline = values["baseline"][s].get<std::vector<double>>();
    CHECK(run["recovered_per_seed"][s].get<double>() ==
          Approx((mean(seed_scrubbed) - mean(seed_baseline)) / (mean(model) - mean(seed_baseline))).epsilon(1e-9));
  }
  CHECK(values["reference_indices"].size() == n);
  CHECK(values["group_sizes"][0].get<int>() >= 2);

  REQUIRE(cscrub_command("compare " + ioi + " " + variant + " --n 60 --seeds 3 --json " + quoted(compare_json)).exit_code == 0);
  const Json compared = read_json_file(compare_json);
  CHECK(compared["per_reference"]["model"] == values["model"]);
  CHECK(compared["per_reference"]["baseline"] == values["baseline"]);
  CHECK(compared["hypotheses"][0]["per_reference"]["scrubbed"] == values["scrubbed"]);
  const std::vector<double> other = seed_average(compared["hypotheses"][1]["per_reference"]["scrubbed"]);
  const double recovered_other = (mean(other) - mean(baseline)) / (mean(model) - mean(baseline));
  CHECK(compared["hypotheses"][1]["recovered"].get<double>() == Approx(recovered_other).epsilon(1e-12));
  CHECK(compared["hypotheses"][1]["difference_to_first"]["value"].get<double>() ==
        Approx(recovered_other - run["recovered"].get<double>()).epsilon(1e-9));
}

TEST_CASE("sentences fit the metric's direction", "[cli][run][metrics]") {
  const std::string ioi = quoted(source_dir() / "hypotheses" / "gpt2-ioi-mini" / "no_late_mlps.toml");
  const auto kl = cscrub_command("run " + ioi + " --n 40 --seeds 1 --metric kl");
  REQUIRE(kl.exit_code == 0);
  CHECK_THAT(kl.output, Catch::Contains("metric kl (lower is better)") &&
                            Catch::Contains("removes") && Catch::Contains("of the baseline's KL divergence") &&
                            !Catch::Contains("above the baseline"));
  const auto loss = cscrub_command("run " + ioi + " --n 40 --seeds 1 --metric loss");
  REQUIRE(loss.exit_code == 0);
  CHECK_THAT(loss.output, Catch::Contains("closes") && Catch::Contains("of the gap between the baseline's loss and the model's"));
  const auto logit_diff = cscrub_command("run " + ioi + " --n 40 --seeds 1");
  REQUIRE(logit_diff.exit_code == 0);
  CHECK_THAT(logit_diff.output, Catch::Contains("of the model's logit difference above the baseline's (higher is better)"));
}

TEST_CASE("the paper's sampling is an option, recorded and rerun", "[cli][run][sampling]") {
  const fs::path dir = scratch_dir("trust-sampling");
  const std::string variant = quoted(source_dir() / "hypotheses" / "gpt2-ioi-mini" / "s_mover_copies_io.toml");
  const fs::path paper = dir / "paper.json", ours = dir / "cscrub.json";
  REQUIRE(cscrub_command("run " + variant + " --n 60 --seeds 2 --sampling paper --json " + quoted(paper)).exit_code == 0);
  REQUIRE(cscrub_command("run " + variant + " --n 60 --seeds 2 --json " + quoted(ours)).exit_code == 0);
  const Json with_paper = read_json_file(paper), with_ours = read_json_file(ours);
  CHECK(with_paper["provenance"]["sampling"] == "paper");
  CHECK(with_ours["provenance"]["sampling"] == "cscrub");
  CHECK(with_paper["per_reference"]["model"] == with_ours["per_reference"]["model"]);
  CHECK(with_paper["per_reference"]["scrubbed"] != with_ours["per_reference"]["scrubbed"]);
  const auto again = cscrub_command("rerun " + quoted(paper));
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Catch::Contains("every number is identical"));
  const auto typo = cscrub_command("run " + variant + " --n 20 --sampling papers");
  CHECK(typo.exit_code == 1);
  CHECK_THAT(typo.output, Catch::Contains("unknown sampling 'papers' (did you mean 'paper'?)"));
}
