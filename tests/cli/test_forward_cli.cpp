// `cscrub forward` run as users run it: the built binary on random model directories, its output checked
// against the PyTorch reference, and every bad invocation ending in a clear message and exit code 1.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <numeric>
#include <regex>
#include <sstream>

#include "../io/random_model.hpp"
#include "cscrub/engine/matmul.hpp"
#include "cscrub/io/npy.hpp"
#include "test_paths.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using cscrub::test::CommandResult;
using cscrub::test::shell_quote;

namespace {

CommandResult run_cli(const std::string& arguments, const std::string& environment = "") {
  const std::string command = environment + (environment.empty() ? "" : " ") +
                              shell_quote(cscrub::test::cli_path().string()) + " forward " + arguments;
  CommandResult result = cscrub::test::run_command(command);
  UNSCOPED_INFO("$ " << command << "\n" << result.output);
  return result;
}

struct TopRow {
  int rank;
  int id;
  double logit;
  double probability;
  std::string token;
};

// The rows of every "top k next tokens" table in the output, in order.
std::vector<TopRow> top_rows(const std::string& output) {
  static const std::regex row(R"(^\s+(\d+)\s+(\d+)\s+(-?[\d.]+)\s+([\d.]+)(?:\s+(".*"))?\s*$)");
  std::vector<TopRow> rows;
  std::istringstream lines(output);
  std::string line;
  std::smatch match;
  while (std::getline(lines, line))
    if (std::regex_match(line, match, row))
      rows.push_back({std::stoi(match[1]), std::stoi(match[2]), std::stod(match[3]), std::stod(match[4]), match[5]});
  return rows;
}

std::vector<float> floats_of(const cscrub::io::NpyArray& array) {
  REQUIRE(std::holds_alternative<std::vector<float>>(array.values));
  return std::get<std::vector<float>>(array.values);
}

// A model without tokenizer files, its reference logits for a [2, 6] batch, and that batch.
struct Fixture {
  fs::path dir;
  fs::path model;
  fs::path tokens_npy;       // int64 [2, 6]
  std::vector<float> logits;  // reference [2, 6, 97]
  static constexpr int kBatch = 2, kPositions = 6, kVocab = 97;
};

const Fixture& fixture() {
  static const Fixture made = [] {
    Fixture f;
    f.dir = cscrub::test::scratch_dir("cli-forward");
    f.model = f.dir / "model";
    // 2 layers, 4 heads, d_model 64, vocab 97, n_ctx 32
    cscrub::test::RandomModelOptions options{.dtype = "BF16", .seed = 31};
    cscrub::test::make_random_model(f.model, options);
    // int64, as numpy writes token ids by default.
    const std::string code = "import numpy as np; np.save('tokens.npy', np.array([[5, 17, 3, 96, 40, 2], "
                             "[0, 1, 2, 3, 4, 5]], dtype=np.int64))";
    const auto result = cscrub::test::run_command("cd " + shell_quote(f.dir.string()) + " && " +
                                                  cscrub::test::system_python() + " -c " + shell_quote(code));
    REQUIRE(result.exit_code == 0);
    f.tokens_npy = f.dir / "tokens.npy";
    cscrub::test::run_reference(f.model, f.tokens_npy, f.dir / "reference", "--hooks");
    f.logits = floats_of(cscrub::io::read_npy(f.dir / "reference" / "logits.npy"));
    return f;
  }();
  return made;
}

float reference_logit(const Fixture& f, int sequence, int position, int token) {
  return f.logits[(static_cast<size_t>(sequence) * Fixture::kPositions + position) * Fixture::kVocab + token];
}

void check_logits_file(const fs::path& path, const std::vector<int64_t>& shape, int sequences, bool last_only) {
  const Fixture& f = fixture();
  const cscrub::io::NpyArray array = cscrub::io::read_npy(path);
  CHECK(array.shape == shape);
  const std::vector<float> values = floats_of(array);
  const int positions = last_only ? 1 : Fixture::kPositions;
  REQUIRE(values.size() == static_cast<size_t>(sequences) * positions * Fixture::kVocab);
  double worst = 0;
  for (int b = 0; b < sequences; ++b)
    for (int p = 0; p < positions; ++p)
      for (int t = 0; t < Fixture::kVocab; ++t) {
        const float expected = reference_logit(f, b, last_only ? Fixture::kPositions - 1 : p, t);
        worst = std::max(worst, std::abs(static_cast<double>(values[(static_cast<size_t>(b) * positions + p) * Fixture::kVocab + t]) - expected));
      }
  INFO(path << ": max |diff| from the reference " << worst);
  CHECK(worst < 1e-3);
}

}  // namespace

TEST_CASE("cli forward: top-k of token ids, without tokenizer files, matches the reference", "[cli][forward]") {
  const Fixture& f = fixture();
  const CommandResult result = run_cli("--model " + shell_quote(f.model.string()) + " --tokens 5,17,3,96,40,2 --top-k 4");
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Contains("input: 6 tokens: [5, 17, 3, 96, 40, 2]"));
  const std::vector<TopRow> rows = top_rows(result.output);
  REQUIRE(rows.size() == 4);

  // The reference's four largest logits at the last position, with softmax probabilities.
  std::vector<int> order(Fixture::kVocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return reference_logit(f, 0, 5, a) > reference_logit(f, 0, 5, b); });
  double partition = 0;
  for (int t = 0; t < Fixture::kVocab; ++t) partition += std::exp(static_cast<double>(reference_logit(f, 0, 5, t)));
  for (size_t r = 0; r < rows.size(); ++r) {
    INFO("rank " << r + 1);
    CHECK(rows[r].rank == static_cast<int>(r + 1));
    CHECK(rows[r].id == order[r]);
    CHECK(rows[r].logit == Approx(reference_logit(f, 0, 5, order[r])).margin(2e-4));
    CHECK(rows[r].probability == Approx(std::exp(reference_logit(f, 0, 5, order[r])) / partition).margin(2e-5));
    CHECK(rows[r].token.empty());  // no tokenizer: ids only
  }
}

TEST_CASE("cli forward: --logits-out shapes and values for ids, 1-D and 2-D .npy", "[cli][forward]") {
  const Fixture& f = fixture();
  const std::string model = "--model " + shell_quote(f.model.string());
  const fs::path out = cscrub::test::scratch_dir("cli-forward-logits");

  SECTION("batch from a [2, 6] int64 .npy: [batch, pos, vocab]; both sequences reported") {
    const CommandResult result = run_cli(model + " --tokens-npy " + shell_quote(f.tokens_npy.string()) +
                                         " --top-k 2 --logits-out " + shell_quote((out / "all.npy").string()));
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.output, Contains("sequence 0: 6 tokens: [5, 17, 3, 96, 40, 2]"));
    CHECK_THAT(result.output, Contains("sequence 1: 6 tokens: [0, 1, 2, 3, 4, 5]"));
    CHECK(top_rows(result.output).size() == 4);
    check_logits_file(out / "all.npy", {2, 6, 97}, 2, false);
  }
  SECTION("--last-only: [batch, 1, vocab]") {
    const CommandResult result = run_cli(model + " --tokens-npy " + shell_quote(f.tokens_npy.string()) +
                                         " --last-only --logits-out " + shell_quote((out / "last.npy").string()));
    REQUIRE(result.exit_code == 0);
    check_logits_file(out / "last.npy", {2, 1, 97}, 2, true);
  }
  SECTION("one sequence from --tokens: [pos, vocab], and [1, vocab] with --last-only") {
    REQUIRE(run_cli(model + " --tokens 5,17,3,96,40,2 --logits-out " + shell_quote((out / "one.npy").string())).exit_code == 0);
    check_logits_file(out / "one.npy", {6, 97}, 1, false);
    REQUIRE(run_cli(model + " --tokens 5,17,3,96,40,2 --last-only --logits-out " + shell_quote((out / "one_last.npy").string()))
                .exit_code == 0);
    check_logits_file(out / "one_last.npy", {1, 97}, 1, true);
  }
  SECTION("a 1-D int32 .npy is one sequence") {
    const std::vector<int32_t> ids = {5, 17, 3, 96, 40, 2};
    cscrub::io::write_npy(out / "ids.npy", ids, std::vector<int64_t>{6});
    REQUIRE(run_cli(model + " --tokens-npy " + shell_quote((out / "ids.npy").string()) + " --logits-out " +
                    shell_quote((out / "from_1d.npy").string()))
                .exit_code == 0);
    check_logits_file(out / "from_1d.npy", {6, 97}, 1, false);
  }
}

TEST_CASE("cli forward: --repeat reports throughput, --model defaults to $CSCRUB_MODEL", "[cli][forward]") {
  const Fixture& f = fixture();
  const CommandResult result =
      run_cli("--tokens 1,2,3 --repeat 3", "CSCRUB_MODEL=" + shell_quote(f.model.string()) + " OMP_NUM_THREADS=1");
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Contains("model: " + f.model.string()));
  CHECK(std::regex_search(result.output, std::regex(R"(repeat: 3 forwards of 1 x 3 tokens in [\d.]+ s: [\d.]+ ms per forward, \d+ tokens/s)")));
}

TEST_CASE("cli forward: --matmul (and $CSCRUB_MATMUL) choose the products' kernel, each matching the reference",
          "[cli][forward]") {
  const Fixture& f = fixture();
  const std::string model =
      "--model " + shell_quote(f.model.string()) + " --tokens-npy " + shell_quote(f.tokens_npy.string());
  const fs::path out = cscrub::test::scratch_dir("cli-forward-matmul");
  std::vector<std::string> kernels = {"fp32-fma"};
  if (cscrub::engine::amx_usable()) kernels.push_back("amx-split-bf16");
  for (const std::string& kernel : kernels) {
    INFO(kernel);
    const fs::path logits = out / (kernel + ".npy");
    const CommandResult flag = run_cli(model + " --matmul " + kernel + " --logits-out " + shell_quote(logits.string()));
    REQUIRE(flag.exit_code == 0);
    CHECK_THAT(flag.output, Contains("products " + kernel));
    check_logits_file(logits, {2, 6, 97}, 2, false);
    const CommandResult environment = run_cli(model, "CSCRUB_MATMUL=" + kernel);
    REQUIRE(environment.exit_code == 0);
    CHECK_THAT(environment.output, Contains("products " + kernel));
  }
  const CommandResult automatic = run_cli(model + " --matmul auto");
  REQUIRE(automatic.exit_code == 0);
  CHECK_THAT(automatic.output,
             Contains(std::string("products ") + (cscrub::engine::amx_usable() ? "amx-split-bf16" : "fp32-fma")));

  const CommandResult unknown = run_cli(model + " --matmul bf16");
  CHECK(unknown.exit_code == 1);
  CHECK_THAT(unknown.output, Contains("cscrub: error: --matmul (or $CSCRUB_MATMUL) bf16: unknown kernel") &&
                                 Contains("use auto, fp32-fma or amx-split-bf16"));
  if (!cscrub::engine::amx_usable()) {
    const CommandResult refused = run_cli(model + " --matmul amx-split-bf16");
    CHECK(refused.exit_code == 1);
    CHECK_THAT(refused.output, Contains("this CPU has no AMX-BF16 tiles"));
  }
}

TEST_CASE("cli forward: --text with the model's tokenizer, token texts in the table", "[cli][forward]") {
  // A tiny byte-level BPE (the 256 byte tokens plus four merges) on a 260-token random model.
  const fs::path dir = cscrub::test::scratch_dir("cli-forward-text");
  cscrub::test::RandomModelOptions options{.vocab = 260, .seed = 32};
  cscrub::test::make_random_model(dir, options);
  const std::string code = R"(
import json
bs = list(range(ord('!'), ord('~') + 1)) + list(range(0xa1, 0xad)) + list(range(0xae, 0x100))
cs, n = bs[:], 0
for b in range(256):
    if b not in bs:
        bs.append(b); cs.append(256 + n); n += 1
char = dict(zip(bs, map(chr, cs)))
vocab = {char[b]: b for b in range(256)}
merges = [('h', 'e'), ('l', 'l'), ('he', 'll'), (char[32], 'w')]
for i, (a, b) in enumerate(merges):
    vocab[a + b] = 256 + i
json.dump(vocab, open('vocab.json', 'w'))
open('merges.txt', 'w').write('#version: 0.2\n' + ''.join(a + ' ' + b + '\n' for a, b in merges))
)";
  REQUIRE(cscrub::test::run_command("cd " + shell_quote(dir.string()) + " && " + cscrub::test::system_python() +
                                    " -c " + shell_quote(code))
              .exit_code == 0);
  const CommandResult result = run_cli("--model " + shell_quote(dir.string()) + " --text 'hell w' --top-k 260");
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Contains("input: 2 tokens: [258, 259]"));
  CHECK_THAT(result.output, Contains("text: \"hell w\""));
  const std::vector<TopRow> rows = top_rows(result.output);
  REQUIRE(rows.size() == 260);
  double total = 0;
  for (const TopRow& row : rows) {
    total += row.probability;
    if (row.id == 258) CHECK(row.token == "\"hell\"");
    if (row.id == 259) CHECK(row.token == "\" w\"");
    if (row.id == 10) CHECK(row.token == "\"\\n\"");
    if (row.id == 200) CHECK(row.token == "\"\\xc8\"");  // a lone byte of a multi-byte character
  }
  CHECK(total == Approx(1.0).margin(1e-3));

  const CommandResult empty = run_cli("--model " + shell_quote(dir.string()) + " --text ''");
  CHECK(empty.exit_code == 1);
  CHECK_THAT(empty.output, Contains("--text is empty"));
}

TEST_CASE("cli forward: bad invocations fail with a clear message", "[cli][forward]") {
  const Fixture& f = fixture();
  const std::string model = "--model " + shell_quote(f.model.string()) + " ";
  const fs::path dir = cscrub::test::scratch_dir("cli-forward-errors");
  cscrub::io::write_npy(dir / "floats.npy", std::vector<float>{1, 2}, std::vector<int64_t>{2});
  cscrub::io::write_npy(dir / "empty.npy", std::vector<int32_t>{}, std::vector<int64_t>{2, 0});
  cscrub::io::write_npy(dir / "long.npy", std::vector<int32_t>(40, 1), std::vector<int64_t>{40});

  struct Case {
    std::string arguments;
    std::string message;  // also the section's name: it must not change between runs of the test case
  };
  const std::vector<Case> cases = {
      {model, "forward: no input"},
      {model + "--tokens 1,2 --text hi", "--text and --tokens both given"},
      {model + "--tokens 1 --tokens-npy " + shell_quote(f.tokens_npy.string()), "--tokens and --tokens-npy both given"},
      {model + "--tokens 1,x,3", "--tokens: 'x' (item 2) is not a token id"},
      {model + "--tokens 1,,3", "--tokens: '' (item 2) is not a token id"},
      {model + "--tokens -4", "--tokens: '-4' (item 1) is not a token id"},
      {model + "--tokens 99999999999", "--tokens: '99999999999' (item 1) is not a token id"},
      {model + "--tokens 3,97", "token id 97 at index 1 is outside the vocabulary (0-96)"},
      {model + "--tokens ''", "--tokens: '' (item 1) is not a token id"},
      {model + "--text hello", "--text needs a tokenizer"},
      {model + "--tokens 1 --top-k 0", "--top-k must be at least 1"},
      {model + "--tokens-npy " + shell_quote((dir / "floats.npy").string()), "token ids must be int32 or int64"},
      {model + "--tokens-npy " + shell_quote((dir / "empty.npy").string()), "holds no tokens"},
      {model + "--tokens-npy " + shell_quote((dir / "long.npy").string()), "longer than the model's context (32)"},
      {model + "--tokens-npy " + shell_quote((dir / "absent.npy").string()), "absent.npy: cannot open"},
      {"--model " + shell_quote((dir / "no-model").string()) + " --tokens 1", "config.json: cannot open"},
      {model + "--tokens 1 --logits-out " + shell_quote((dir / "no-dir" / "x.npy").string()), "no-dir does not exist"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION("expect: " << c.message) {
      const CommandResult result = run_cli(c.arguments);
      CHECK(result.exit_code == 1);
      CHECK_THAT(result.output, Contains("cscrub: error: ") && Contains(c.message));
    }
  }
  SECTION("unknown option: CLI11's usage error, non-zero") {
    const CommandResult result = run_cli(model + "--tokens 1 --topk 3");
    CHECK(result.exit_code != 0);
    CHECK_THAT(result.output, Contains("--topk"));
  }
}
