// `cscrub run` and `cscrub compare` on the bundled model: the invariants through the CLI, JSON fields and
// provenance, reproducibility, and clear errors for bad requests.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "json_file.hpp"
#include "test_paths.hpp"

using namespace cscrub::test;

namespace {

CommandResult cscrub_command(const std::string& arguments) {
  return run_command(shell_quote(cli_path().string()) + " " + arguments + " --quiet");
}

std::string hypothesis(const std::string& relative) { return shell_quote((source_dir() / relative).string()); }

}  // namespace

TEST_CASE("cscrub run: everything-matters recovers 100%, nothing-matters 0%", "[cli][run]") {
  const auto dir = scratch_dir("run-cli");
  const auto full_json = dir / "full.json", none_json = dir / "none.json";
  const auto full = cscrub_command("run builtin:full --n 60 --seeds 2 --json " + shell_quote(full_json.string()));
  INFO(full.output);
  REQUIRE(full.exit_code == 0);
  CHECK_THAT(full.output, Catch::Contains("recovered") && Catch::Contains("What it means"));
  const nlohmann::json result = read_json_file(full_json);
  for (const char* key : {"hypothesis", "model", "metric", "n", "seeds", "model_value", "baseline_value",
                          "scrubbed_value", "recovered", "recovered_ci95", "cost", "provenance"})
    CHECK(result.contains(key));
  CHECK(result["recovered"].get<double>() == Approx(1.0).margin(1e-9));
  CHECK(result["scrubbed_value"].get<double>() == result["model_value"].get<double>());
  CHECK(result["model_value"].get<double>() > 3.0);  // the bundled model solves IOI
  CHECK(result["provenance"]["model_sha256"].get<std::string>().size() == 64);
  CHECK(result["provenance"]["cscrub_version"].is_string());
  CHECK(result["provenance"]["dataset"]["seed"] == 0);

  REQUIRE(cscrub_command("run builtin:none --n 60 --seeds 2 --json " + shell_quote(none_json.string())).exit_code == 0);
  const nlohmann::json none = read_json_file(none_json);
  CHECK(none["recovered"].get<double>() == Approx(0.0).margin(1e-9));
  CHECK(none["baseline_value"] == result["baseline_value"]);
  CHECK(std::abs(none["baseline_value"].get<double>()) < 1.5);  // random names: no preference
}

TEST_CASE("cscrub run: same seed, same numbers, whatever the threads and batch size", "[cli][run][determinism]") {
  const auto dir = scratch_dir("run-determinism");
  const std::string base = "run builtin:none --n 40 --seeds 2 --seed 5";
  REQUIRE(cscrub_command(base + " --threads 1 --batch-size 3 --json " + shell_quote((dir / "a.json").string())).exit_code == 0);
  REQUIRE(cscrub_command(base + " --threads 2 --json " + shell_quote((dir / "b.json").string())).exit_code == 0);
  nlohmann::json a = read_json_file(dir / "a.json"), b = read_json_file(dir / "b.json");
  for (const char* key : {"model_value", "baseline_value", "scrubbed_value", "recovered", "recovered_ci95"})
    CHECK(a[key] == b[key]);
  CHECK(a["provenance"] == b["provenance"]);
  REQUIRE(cscrub_command("run builtin:none --n 40 --seeds 2 --seed 6 --json " + shell_quote((dir / "c.json").string())).exit_code == 0);
  CHECK(read_json_file(dir / "c.json")["baseline_value"] != a["baseline_value"]);
}

TEST_CASE("cscrub compare ranks variants with paired differences and draws them", "[cli][compare]") {
  const auto dir = scratch_dir("compare-cli");
  const auto plot = dir / "compare.svg", json = dir / "compare.json";
  const auto result = cscrub_command("compare builtin:none builtin:full --n 40 --seeds 2 --plot " +
                                     shell_quote(plot.string()) + " --json " + shell_quote(json.string()));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  // Ranked: full first.
  CHECK_THAT(result.output, Catch::Contains("1  builtin:full") && Catch::Contains("2  builtin:none"));
  const nlohmann::json comparison = read_json_file(json);
  REQUIRE(comparison["hypotheses"].size() == 2);
  CHECK(comparison["hypotheses"][1]["difference_to_first"]["value"].get<double>() == Approx(1.0).margin(1e-9));
  std::ifstream svg(plot);
  std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  CHECK_THAT(text, Catch::StartsWith("<svg") && Catch::Contains("builtin:full"));
}

TEST_CASE("cscrub run explains bad requests", "[cli][run][errors]") {
  const auto dir = scratch_dir("run-errors");
  // A hypothesis written for GPT-2 small does not fit the bundled model.
  auto other_size = cscrub_command("run " + hypothesis("hypotheses/gpt2-small/ioi/full.toml") + " --n 40");
  CHECK(other_size.exit_code == 1);
  CHECK_THAT(other_size.output, Catch::Contains("layers"));
  // n larger than a saved dataset.
  const auto saved = dir / "small.jsonl";
  REQUIRE(run_command(shell_quote(cli_path().string()) + " dataset ioi --n 10 --out " + shell_quote(saved.string())).exit_code == 0);
  auto too_many = cscrub_command("run builtin:full --n 20 --dataset " + shell_quote(saved.string()));
  CHECK(too_many.exit_code == 1);
  CHECK_THAT(too_many.output, Catch::Contains("larger than the dataset"));
  // Unknown metric, missing file, memory limit.
  auto metric = cscrub_command("run builtin:full --n 20 --metric logitdiff");
  CHECK(metric.exit_code == 1);
  CHECK_THAT(metric.output, Catch::Contains("did you mean 'logit_diff'"));
  auto missing = cscrub_command("run no/such/file.toml");
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.output, Catch::Contains("no/such/file.toml"));
  auto memory = cscrub_command("run builtin:full --n 50 --max-memory 0.00001");
  CHECK(memory.exit_code == 1);
  CHECK_THAT(memory.output, Catch::Contains("activation cache would need") && Catch::Contains("--n"));
}
