// Bundled files are found from the binary's own location (share/cscrub beside it or above it), never through
// a path compiled in: a copy of the executable uses the files beside the copy, and says so when there are none.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ranges>

#include "test_paths.hpp"

namespace fs = std::filesystem;
using namespace cscrub::test;

namespace {

// A prefix holding a copy of the executable in bin/ and nothing else.
fs::path prefix_with_executable(const std::string& label) {
  const fs::path prefix = scratch_dir(label);
  fs::create_directories(prefix / "bin");
  fs::copy_file(cli_path(), prefix / "bin" / "cscrub");
  return prefix;
}

// The same command without the variables that override the bundled files.
std::string without_overrides(const std::string& command) {
  return "env -u CSCRUB_MODEL -u CSCRUB_DATASETS_DIR " + command;
}

}  // namespace

TEST_CASE("bundled files: a copied executable reads the files beside it, not the sources'", "[cli][bundled]") {
  const fs::path prefix = prefix_with_executable("bundled-copy");
  const fs::path share = prefix / "share" / "cscrub";
  fs::create_directories(share / "datasets");
  fs::create_directory_symlink(source_dir() / "models", share / "models");
  // An induction vocabulary of four words only: the prompts show which file was read.
  std::ofstream(share / "datasets" / "induction.toml") << "words = [\"hand\", \"help\", \"person\", \"team\"]\n";

  const fs::path out = prefix / "induction.jsonl";
  const auto result = run_command(without_overrides(shell_quote((prefix / "bin" / "cscrub").string()) +
                                                    " dataset induction --n 8 --seed 1 --option length=3 --out " +
                                                    shell_quote(out.string())));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  std::ifstream in(out);
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    const auto example = nlohmann::json::parse(line);
    for (const auto& word : example["features"]["sequence"].get<std::string>() | std::views::split(' ')) {
      const std::string text(word.begin(), word.end());
      if (!text.empty()) CHECK((text == "hand" || text == "help" || text == "person" || text == "team"));
    }
  }
  CHECK(lines == 8);
}

TEST_CASE("bundled files: without them a command says where it looked, and --model still works", "[cli][bundled]") {
  const fs::path prefix = prefix_with_executable("bundled-none");
  const std::string cscrub = shell_quote((prefix / "bin" / "cscrub").string());

  const auto no_model = run_command(without_overrides(cscrub + " forward --tokens 1,2,3"));
  CHECK(no_model.exit_code == 1);
  CHECK_THAT(no_model.output, Catch::Contains("share/cscrub/models/gpt2-ioi-mini") &&
                                  Catch::Contains((prefix / "bin" / "cscrub").string()) &&
                                  Catch::Contains("give --model DIR"));
  CHECK(run_command(without_overrides(cscrub + " forward --help")).exit_code == 0);

  const auto given = run_command(without_overrides(cscrub + " forward --tokens 1,2,3 --top-k 1 --model " +
                                                   shell_quote(bundled_model_dir().string())));
  INFO(given.output);
  CHECK(given.exit_code == 0);

  const auto no_datasets = run_command(without_overrides(cscrub + " dataset ioi --n 2 --out " +
                                                         shell_quote((prefix / "x.jsonl").string()) + " --model " +
                                                         shell_quote(bundled_model_dir().string())));
  CHECK(no_datasets.exit_code == 1);
  CHECK_THAT(no_datasets.output, Catch::Contains("share/cscrub/datasets") && Catch::Contains("CSCRUB_DATASETS_DIR"));
  CHECK_FALSE(fs::exists(prefix / "x.jsonl"));
}
