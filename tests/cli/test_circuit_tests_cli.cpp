// `cscrub test` on the bundled model: every section is printed, the JSON holds every test and the
// per-reference values behind it, an independent recomputation (tools/reference_tests.py: NumPy and SciPy)
// gives the same numbers and notices one that is changed, `rerun` repeats it, and a model with nothing to
// recover gets no test.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runs.hpp"
#include "json_file.hpp"
#include "test_paths.hpp"

using namespace cscrub::test;
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

CommandResult cscrub_command(const std::string& arguments) { return run_cscrub(arguments + " --quiet"); }

CommandResult recompute(const fs::path& json) {
  const std::string command = std::string(system_python()) + " " +
                              shell_quote((source_dir() / "tools" / "reference_tests.py").string()) + " " +
                              shell_quote(json.string());
  return logged_run(command);
}

}  // namespace

TEST_CASE("cscrub test reports every test, and an independent recomputation agrees", "[cli][test]") {
  const fs::path dir = scratch_dir("circuit-tests");
  const fs::path json = dir / "test.json";
  const std::string claim = shell_quote((source_dir() / "hypotheses" / "gpt2-ioi-mini" / "ioi.toml").string());
  const auto tested = cscrub_command("test " + claim + " --n 80 --seeds 2 --random 9 --json " + shell_quote(json.string()));
  REQUIRE(tested.exit_code == 0);
  CHECK_THAT(tested.output, Catch::Contains("equivalence with the model (two one-sided t tests, margin +-5.0 points)") &&
                                Catch::Contains("necessity of each node") && Catch::Contains("Holm-corrected over 4 nodes") &&
                                Catch::Contains("against 9 random circuits of the claim's shape") &&
                                Catch::Contains("permutation p = ") && Catch::Contains("per-reference recovery") &&
                                Catch::Contains("worst 1% (1 reference)") && Catch::Contains("ablation sensitivity") &&
                                Catch::Contains("counterfactual: each prompt's p_ABC twin"));

  const Json result = read_json_file(json);
  REQUIRE(result["tests"].size() == 1);
  const Json& report = result["tests"][0];
  CHECK(report["hypothesis"] == "bundled IOI: 0.1, MLPs, late heads");
  CHECK(report["necessity"].size() == 4);
  CHECK(report["random_circuits"]["circuits"].size() == 9);
  CHECK(report["random_circuits"]["p_value"].get<double>() >= 0.1);  // the smallest a p-value can be with 9 circuits
  REQUIRE(report["ablations"].size() == 4);
  for (const Json& ablation : report["ablations"]) CHECK_FALSE(ablation.contains("skipped"));
  CHECK(report["ablations"][0]["recovered"]["value"] == report["recovered"]["value"]);  // resample is the test's run
  CHECK(report["per_reference_recovery"]["worst"].size() == 1);
  CHECK(result["provenance"]["tests"]["random_circuits"] == 9);
  // The per-reference values of every run are there: 2 seeds x n references each.
  const size_t n = report["n"].get<size_t>();
  CHECK(report["per_reference"]["scrubbed"].size() == 2);
  CHECK(report["per_reference"]["scrubbed"][1].size() == n);
  CHECK(report["necessity"][0]["per_reference"]["scrubbed"][0].size() == n);
  CHECK(report["random_circuits"]["circuits"][8]["per_reference"]["scrubbed"][0].size() == n);
  CHECK(report["ablations"][2]["per_reference"]["baseline"][0].size() == n);

  const auto recomputed = recompute(json);
  CHECK(recomputed.exit_code == 0);
  CHECK_THAT(recomputed.output, Catch::Contains("every number recomputed"));
  // The recomputation notices a changed p-value (so it can fail).
  Json altered = result;
  altered["tests"][0]["necessity"][2]["p_value"] = altered["tests"][0]["necessity"][2]["p_value"].get<double>() * 1.01 + 1e-6;
  std::ofstream(dir / "altered.json") << altered.dump();
  const auto noticed = recompute(dir / "altered.json");
  CHECK(noticed.exit_code == 1);
  CHECK_THAT(noticed.output, Catch::Contains("FAIL") && Catch::Contains(": p:"));

  const auto again = cscrub_command("rerun " + shell_quote(json.string()));
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Catch::Contains("every number is identical (test of 1 file"));
}

TEST_CASE("cscrub test makes no test of a recovery that is undefined", "[cli][test][undefined]") {
  const fs::path dir = scratch_dir("circuit-tests-undefined");
  const fs::path model = random_model_with_gpt2_tokenizer(
      "circuit-tests-undefined-model", {.layers = 2, .heads = 4, .d_model = 32, .vocab = 50257, .n_ctx = 64, .seed = 7});
  const fs::path json = dir / "test.json";
  const auto tested = cscrub_command("test builtin:full --model " + shell_quote(model.string()) +
                                     " --n 60 --seeds 1 --random 3 --ablations resample,zero --json " +
                                     shell_quote(json.string()));
  REQUIRE(tested.exit_code == 0);
  CHECK_THAT(tested.output, Catch::Contains("undefined: the model and the baseline do not differ") &&
                                Catch::Contains("no test of it can be made") && !Catch::Contains("equivalent to the model"));
  const Json report = read_json_file(json)["tests"][0];
  CHECK(report["equivalence"].is_null());
  CHECK(report["recovered"]["value"].is_null());
  CHECK(report["random_circuits"]["p_value"].is_null());
  CHECK(report["ablations"].size() == 2);
  CHECK(recompute(json).exit_code == 0);
}

TEST_CASE("cscrub test explains bad options", "[cli][test][errors]") {
  const std::string claim = shell_quote((source_dir() / "hypotheses" / "gpt2-ioi-mini" / "ioi.toml").string());
  const auto ablation = cscrub_command("test " + claim + " --n 20 --ablations resample,meen");
  CHECK(ablation.exit_code == 1);
  CHECK_THAT(ablation.output, Catch::Contains("unknown ablation 'meen' (did you mean 'mean'?)"));
  const auto alpha = cscrub_command("test " + claim + " --n 20 --alpha 0.7");
  CHECK(alpha.exit_code == 1);
  CHECK_THAT(alpha.output, Catch::Contains("--alpha must be between 0 and 0.5"));
  const auto layers = cscrub_command("test " + claim + " --n 20 --random-layers some");
  CHECK(layers.exit_code == 1);
  CHECK_THAT(layers.output, Catch::Contains("--random-layers must be 'same' or 'all'"));
}
