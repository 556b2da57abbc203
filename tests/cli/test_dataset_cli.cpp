// `cscrub dataset`: writes reproducible JSONL, applies options, and fails with clear messages.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_paths.hpp"

using namespace cscrub::test;

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

CommandResult dataset_command(const std::string& arguments) {
  return run_command(shell_quote(cli_path().string()) + " dataset " + arguments);
}

}  // namespace

TEST_CASE("cscrub dataset writes one JSON object per prompt, the same bytes for the same seed", "[cli][dataset]") {
  const auto dir = scratch_dir("dataset-cli");
  const auto first = dir / "first.jsonl", second = dir / "second.jsonl";
  const auto run = dataset_command("ioi --n 50 --seed 3 --out " + shell_quote(first.string()));
  REQUIRE(run.exit_code == 0);
  CHECK_THAT(run.output, Catch::Contains("wrote 50 ioi prompts"));
  REQUIRE(dataset_command("ioi --n 50 --seed 3 --out " + shell_quote(second.string())).exit_code == 0);
  CHECK(read_file(first) == read_file(second));

  const auto lines = json_lines(read_file(first));
  REQUIRE(lines.size() == 50);
  for (const auto& line : lines) {
    for (const char* field : {"text", "tokens", "answer_id", "answer_text", "distractor_id", "distractor_text",
                              "positions", "features", "group", "task", "seed", "generator"})
      REQUIRE(line.contains(field));
    const auto& tokens = line["tokens"];
    REQUIRE(line["positions"]["END"].get<size_t>() == tokens.size() - 1);
    REQUIRE(tokens[line["positions"]["IO"].get<size_t>()] == line["answer_id"]);
    REQUIRE(tokens[line["positions"]["S2"].get<size_t>()] == line["distractor_id"]);
  }

  // stdout gets the same bytes as a file; this small dataset has the sha256 the data tests pin.
  const auto to_stdout = dataset_command("ioi --n 24 --seed 2024 --out -");
  REQUIRE(to_stdout.exit_code == 0);
  const auto pinned = dir / "pinned.jsonl";
  REQUIRE(dataset_command("ioi --n 24 --seed 2024 --out " + shell_quote(pinned.string())).exit_code == 0);
  CHECK(to_stdout.output == read_file(pinned));
  CHECK_THAT(run_command("sha256sum " + shell_quote(pinned.string())).output,
             Catch::StartsWith("8e92280d7b1bb5a133c549072dbba144e579bdc80ae31e423eb0d871d17819dc"));
}

TEST_CASE("cscrub dataset passes task options on", "[cli][dataset]") {
  const auto abba = dataset_command("ioi --n 20 --seed 1 --option order=abba --option distribution=abc --out -");
  REQUIRE(abba.exit_code == 0);
  for (const auto& line : json_lines(abba.output)) {
    REQUIRE(line["features"]["order"] == "ABBA");
    REQUIRE(line["features"]["s_name"] != line["features"]["s2_name"]);
  }
  const auto induction = dataset_command("induction --n 10 --seed 1 --option length=5 --out -");
  REQUIRE(induction.exit_code == 0);
  for (const auto& line : json_lines(induction.output)) REQUIRE(line["positions"]["REPEAT_START"] == 5);
  const auto pronoun = dataset_command("pronoun --n 10 --seed 1 --out -");
  REQUIRE(pronoun.exit_code == 0);
  CHECK(json_lines(pronoun.output).size() == 10);
}

TEST_CASE("cscrub dataset explains bad requests", "[cli][dataset][errors]") {
  const std::string out = " --out " + shell_quote((scratch_dir("dataset-cli-errors") / "x.jsonl").string());
  const auto expect_error = [&](const std::string& arguments, const std::string& message) {
    const auto result = dataset_command(arguments + out);
    INFO(arguments << "\n" << result.output);
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Catch::Contains(message));
  };
  expect_error("iio", "unknown task 'iio' (did you mean 'ioi'?)");
  expect_error("inducton", "did you mean 'induction'");
  expect_error("ioi --n 0", "--n: must be a whole number of at least 1 (got 0)");
  expect_error("ioi --n -5", "--n: must be a whole number of at least 1 (got -5)");
  expect_error("ioi --option ordr=abba", "task 'ioi' has no option 'ordr' (did you mean 'order'?)");
  expect_error("ioi --option order", "--option 'order' is not key=value");
  expect_error("ioi --option order=bab", "option order='bab' is not one of baba, abba, mixed");
  expect_error("ioi --option order=abba --option order=baba", "--option order is given twice");
  expect_error("induction --option length=many", "option length='many' must be an integer");
  expect_error("ioi --model /nonexistent-model-dir", "/nonexistent-model-dir");

  const auto missing_out = dataset_command("ioi --n 5");
  CHECK(missing_out.exit_code != 0);
  CHECK_THAT(missing_out.output, Catch::Contains("--out"));
}
