// `cscrub rerun`: a run or a compare repeated from the provenance of its JSON gives every number again;
// a changed input file or a changed number is reported with exit 1.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cscrub/engine/matmul.hpp"
#include "json_file.hpp"
#include "test_paths.hpp"

using namespace cscrub::test;
namespace fs = std::filesystem;

namespace {

CommandResult cscrub_command(const std::string& arguments) {
  return run_command(shell_quote(cli_path().string()) + " " + arguments + " --quiet");
}

void write_json(const fs::path& path, const nlohmann::json& value) { std::ofstream(path) << value.dump(2); }

}  // namespace

TEST_CASE("cscrub rerun reproduces a run from its record, and notices changes", "[cli][rerun][provenance]") {
  const auto dir = scratch_dir("rerun-run");
  // A hypothesis file of our own, so that changing it does not touch the repository.
  const fs::path hypothesis = dir / "ioi.toml";
  fs::copy_file(source_dir() / "hypotheses" / "gpt2-ioi-mini" / "ioi.toml", hypothesis);
  const fs::path record = dir / "run.json";
  const auto run = cscrub_command("run " + shell_quote(hypothesis.string()) + " --n 24 --seeds 2 --seed 3 --json " +
                                  shell_quote(record.string()));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  CHECK_THAT(run.output, Catch::Contains("provenance: cscrub ") && Catch::Contains("ioi.toml sha256 "));
  const nlohmann::json recorded = read_json_file(record);
  CHECK(recorded["provenance"]["dataset"]["seed"] == 3);
  CHECK(recorded["provenance"]["hypotheses"][0]["sha256"].get<std::string>().size() == 64);

  const auto again = cscrub_command("rerun " + shell_quote(record.string()) + " --threads 1");
  INFO(again.output);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Catch::Contains("every number is identical") && Catch::Contains("24 prompts"));

  // A number that does not come out again is named, with both values.
  nlohmann::json altered = recorded;
  altered["recovered"] = recorded["recovered"].get<double>() + 0.125;
  const fs::path altered_record = dir / "altered.json";
  write_json(altered_record, altered);
  const auto differs = cscrub_command("rerun " + shell_quote(altered_record.string()));
  CHECK(differs.exit_code == 1);
  CHECK_THAT(differs.output, Catch::Contains("differs from the record in 1 place(s)") && Catch::Contains("/recovered"));

  // An edited hypothesis file is refused before anything runs.
  std::ofstream(hypothesis, std::ios::app) << "\n# edited after the run\n";
  const auto edited = cscrub_command("rerun " + shell_quote(record.string()));
  CHECK(edited.exit_code == 1);
  CHECK_THAT(edited.output, Catch::Contains("inputs have changed since it was recorded") &&
                                Catch::Contains("the hypothesis " + hypothesis.string()));
}

TEST_CASE("cscrub rerun reproduces a compare, and refuses files that are not records", "[cli][rerun][provenance]") {
  const auto dir = scratch_dir("rerun-compare");
  const fs::path record = dir / "compare.json";
  REQUIRE(cscrub_command("compare builtin:full builtin:none --task ioi --n 20 --seeds 1 --json " +
                         shell_quote(record.string()))
              .exit_code == 0);
  const auto again = cscrub_command("rerun " + shell_quote(record.string()));
  INFO(again.output);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Catch::Contains("every number is identical (compare of 20 prompts"));

  const fs::path not_a_record = dir / "plain.json";
  write_json(not_a_record, {{"recovered", 1.0}});
  const auto refused = cscrub_command("rerun " + shell_quote(not_a_record.string()));
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.output, Catch::Contains("plain.json: has no 'provenance' object"));
  std::ofstream(dir / "broken.json") << "{\"provenance\": ";
  const auto broken = cscrub_command("rerun " + shell_quote((dir / "broken.json").string()));
  CHECK(broken.exit_code == 1);
  CHECK_THAT(broken.output, Catch::Contains("broken.json: not valid JSON"));
}

TEST_CASE("cscrub rerun repeats the products' kernel the record names", "[cli][rerun][provenance]") {
  const auto dir = scratch_dir("rerun-matmul");
  const std::string hypothesis = shell_quote((source_dir() / "hypotheses" / "gpt2-ioi-mini" / "ioi.toml").string());
  const fs::path fp32_record = dir / "fp32.json", auto_record = dir / "auto.json";
  REQUIRE(cscrub_command("run " + hypothesis + " --n 16 --seeds 1 --matmul fp32-fma --json " +
                         shell_quote(fp32_record.string()))
              .exit_code == 0);
  const auto automatic =
      cscrub_command("run " + hypothesis + " --n 16 --seeds 1 --json " + shell_quote(auto_record.string()));
  REQUIRE(automatic.exit_code == 0);
  const std::string fastest = cscrub::engine::amx_usable() ? "amx-split-bf16" : "fp32-fma";
  CHECK_THAT(automatic.output, Catch::Contains("(products " + fastest + ")"));
  CHECK(read_json_file(fp32_record)["provenance"]["matmul"] == "fp32-fma");
  CHECK(read_json_file(auto_record)["provenance"]["matmul"] == fastest);
  // Rerun without --matmul: the recorded kernel, whatever this machine's fastest, so every number again.
  for (const fs::path& record : {fp32_record, auto_record}) {
    const auto again = cscrub_command("rerun " + shell_quote(record.string()));
    INFO(again.output);
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.output, Catch::Contains("every number is identical"));
  }
  // A kernel no cscrub knows: refused, naming it.
  nlohmann::json unknown = read_json_file(fp32_record);
  unknown["provenance"]["matmul"] = "fp64-exact";
  write_json(dir / "unknown.json", unknown);
  const auto unknown_rerun = cscrub_command("rerun " + shell_quote((dir / "unknown.json").string()));
  CHECK(unknown_rerun.exit_code == 1);
  CHECK_THAT(unknown_rerun.output, Catch::Contains("records an unknown products kernel 'fp64-exact'"));
  // A record of the AMX kernel, on a machine without it (only such a machine can check this): refused, with
  // the way to rerun in FP32.
  if (!cscrub::engine::amx_usable()) {
    nlohmann::json amx = read_json_file(fp32_record);
    amx["provenance"]["matmul"] = "amx-split-bf16";
    write_json(dir / "amx.json", amx);
    const auto amx_rerun = cscrub_command("rerun " + shell_quote((dir / "amx.json").string()));
    CHECK(amx_rerun.exit_code == 1);
    CHECK_THAT(amx_rerun.output, Catch::Contains("recorded with the amx-split-bf16 products") &&
                                     Catch::Contains("rerun with --matmul fp32-fma"));
  }
}

TEST_CASE("cscrub rerun names the input that changed: a base file a variant extends, a task file", "[cli][rerun][provenance]") {
  const auto dir = scratch_dir("rerun-extends");
  // A variant and its base, copied so that editing the base does not touch the repository.
  for (const char* name : {"ioi.toml", "s_mover_copies_io.toml"})
    fs::copy_file(source_dir() / "hypotheses" / "gpt2-ioi-mini" / name, dir / name);
  const fs::path datasets = dir / "datasets";
  fs::copy(source_dir() / "datasets", datasets);
  const std::string environment = "CSCRUB_DATASETS_DIR=" + shell_quote(datasets.string()) + " ";
  const fs::path record = dir / "variant.json";
  const auto run = run_command(environment + shell_quote(cli_path().string()) + " run " +
                               shell_quote((dir / "s_mover_copies_io.toml").string()) + " --n 24 --seeds 1 --quiet --json " +
                               shell_quote(record.string()));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const nlohmann::json recorded = read_json_file(record);
  std::vector<std::string> roles;
  for (const auto& input : recorded["provenance"]["inputs"]) {
    roles.push_back(input["role"].get<std::string>());
    CHECK(input["sha256"].get<std::string>().size() == 64);
  }
  CHECK(std::count(roles.begin(), roles.end(), "hypothesis") == 1);
  CHECK(std::count(roles.begin(), roles.end(), "extends") == 1);
  CHECK(std::count(roles.begin(), roles.end(), "task file") == 1);
  CHECK(std::count(roles.begin(), roles.end(), "model") >= 3);  // config, weights, tokenizer files

  const auto rerun = [&] {
    return run_command(environment + shell_quote(cli_path().string()) + " rerun " + shell_quote(record.string()) + " --quiet");
  };
  CHECK(rerun().exit_code == 0);
  // The base edited: named as the file the variant extends, before anything runs.
  const std::string base_text = [&] {
    std::ifstream in(dir / "ioi.toml");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }();
  std::ofstream(dir / "ioi.toml", std::ios::app) << "\n[edit.nothing]\n";  // not even valid any more
  const auto edited = rerun();
  INFO(edited.output);
  CHECK(edited.exit_code == 1);
  CHECK_THAT(edited.output, Catch::Contains("inputs have changed since it was recorded: the file " + (dir / "ioi.toml").string() +
                                            ", which " + (dir / "s_mover_copies_io.toml").string() + " extends, has changed"));
  std::ofstream(dir / "ioi.toml") << base_text;
  CHECK(rerun().exit_code == 0);
  // A task file edited (a comment changes no prompt, but the record cannot know that).
  std::ofstream(datasets / "ioi_paper_vocabulary.toml", std::ios::app) << "\n# edited\n";
  const auto task_edited = rerun();
  CHECK(task_edited.exit_code == 1);
  CHECK_THAT(task_edited.output, Catch::Contains("the task file " + (datasets / "ioi_paper_vocabulary.toml").string() + " has changed"));
}
