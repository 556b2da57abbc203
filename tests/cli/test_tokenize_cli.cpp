// `cscrub tokenize`, run as a process: ids and JSON output agree with io::Tokenizer (itself checked against
// the JavaScript reference in tests/io/test_tokenizer.cpp), --model and its default, and the errors.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cscrub/io/tokenizer.hpp"
#include "test_paths.hpp"

namespace {

namespace fs = std::filesystem;
using cscrub::test::run_command;
using cscrub::test::shell_quote;

const cscrub::io::Tokenizer& bundled_tokenizer() {
  static const cscrub::io::Tokenizer tokenizer = [] {
    const fs::path dir = cscrub::test::bundled_model_dir();
    if (!fs::exists(dir / "encoder.json") || !fs::exists(dir / "vocab.bpe")) {
      FAIL("GPT-2's tokenizer files are missing from " << dir.string() << ": run tools/fetch_tokenizer.sh");
    }
    return cscrub::io::Tokenizer::load(dir);
  }();
  return tokenizer;
}

// `cscrub tokenize ARGS`, with CSCRUB_MODEL unset unless `environment` sets it.
cscrub::test::CommandResult tokenize(const std::string& args, const std::string& environment = "") {
  return run_command("env -u CSCRUB_MODEL " + environment + " " + shell_quote(cscrub::test::cli_path().string()) +
                     " tokenize " + args);
}

std::vector<int32_t> parse_ids(const std::string& line) {
  std::istringstream in(line);
  std::vector<int32_t> ids;
  for (int32_t id = 0; in >> id;) ids.push_back(id);
  return ids;
}

}  // namespace

TEST_CASE("cscrub tokenize prints the ids of the text", "[tokenize]") {
  const std::string model = shell_quote(cscrub::test::bundled_model_dir().string());
  for (const std::string text : {"When Mary and John went to the store, John gave a drink to Mary",
                                 "  leading and trailing spaces \n", "<|endoftext|>", "caf\u00e9 \U0001F44D\U0001F3FD",
                                 "it's 1,000 o'clock!"}) {
    INFO(text);
    const auto result = tokenize("--model " + model + " " + shell_quote(text));
    REQUIRE(result.exit_code == 0);
    REQUIRE(!result.output.empty());
    CHECK(result.output.back() == '\n');
    CHECK(parse_ids(result.output) == bundled_tokenizer().encode(text));
  }
  // The empty text has no tokens: an empty line.
  const auto empty = tokenize("--model " + model + " ''");
  CHECK(empty.exit_code == 0);
  CHECK(empty.output == "\n");
}

TEST_CASE("cscrub tokenize --json gives ids and each token's text", "[tokenize]") {
  const std::string text = "Hello \U0001F9D1\u200D\U0001F4BB world's";  // the emoji is split inside its bytes
  const auto result = tokenize("--json --model " + shell_quote(cscrub::test::bundled_model_dir().string()) + " " +
                               shell_quote(text));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  const auto json = nlohmann::json::parse(result.output);
  const std::vector<int32_t> ids = json.at("ids").get<std::vector<int32_t>>();
  const auto tokens = json.at("tokens").get<std::vector<std::string>>();
  CHECK(ids == bundled_tokenizer().encode(text));
  REQUIRE(tokens.size() == ids.size());
  const std::string replacement = "\uFFFD";
  bool emoji_split = false;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string bytes = bundled_tokenizer().token_text(ids[i]);
    if (tokens[i] != bytes) {
      // Only a token holding part of the emoji differs: its bytes are not UTF-8 on their own.
      CHECK(tokens[i].find(replacement) != std::string::npos);
      emoji_split = true;
    }
  }
  CHECK(emoji_split);
  CHECK(tokens.front() == "Hello");
  CHECK(tokens.back() == "'s");
}

TEST_CASE("cscrub tokenize --model defaults to CSCRUB_MODEL else the bundled model", "[tokenize]") {
  const std::string text = "The bundled model's tokenizer";
  const auto expected = bundled_tokenizer().encode(text);
  const auto by_default = tokenize(shell_quote(text));
  INFO(by_default.output);
  REQUIRE(by_default.exit_code == 0);
  CHECK(parse_ids(by_default.output) == expected);

  // Hugging Face file names in another directory, chosen through the environment.
  const fs::path other = cscrub::test::scratch_dir("tokenize-cli-env");
  fs::copy_file(cscrub::test::bundled_model_dir() / "encoder.json", other / "vocab.json");
  fs::copy_file(cscrub::test::bundled_model_dir() / "vocab.bpe", other / "merges.txt");
  const auto from_environment = tokenize(shell_quote(text), "CSCRUB_MODEL=" + shell_quote(other.string()));
  REQUIRE(from_environment.exit_code == 0);
  CHECK(parse_ids(from_environment.output) == expected);

  // --model wins over the environment.
  const fs::path empty = cscrub::test::scratch_dir("tokenize-cli-empty");
  const auto overridden = tokenize("--model " + shell_quote(other.string()) + " " + shell_quote(text),
                                   "CSCRUB_MODEL=" + shell_quote(empty.string()));
  CHECK(overridden.exit_code == 0);
}

TEST_CASE("cscrub tokenize errors", "[tokenize]") {
  SECTION("a model directory without tokenizer files names it and hints at fetch_tokenizer.sh") {
    const fs::path empty = cscrub::test::scratch_dir("tokenize-cli-no-files");
    const auto result = tokenize("--model " + shell_quote(empty.string()) + " hello");
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Catch::Contains("no tokenizer files in " + empty.string()) &&
                                  Catch::Contains("hint: run tools/fetch_tokenizer.sh " + empty.string()));
  }
  SECTION("text that is not UTF-8") {
    const auto result = tokenize("--model " + shell_quote(cscrub::test::bundled_model_dir().string()) +
                                 " \"$(printf 'ok\\377')\"");
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Catch::Contains("not valid UTF-8") && Catch::Contains("offset 2"));
  }
  SECTION("no text") {
    const auto result = tokenize("");
    CHECK(result.exit_code != 0);
    CHECK_THAT(result.output, Catch::Contains("TEXT"));
  }
}
