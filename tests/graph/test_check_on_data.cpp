// Claims checked on the prompts: a component claimed twice at one token, edges that reach no position of
// their child, [output] positions, indices outside a prompt. Each rule on a made-up task (positions P1 = 1
// and END = the last token, prompts of 6 and 7 tokens), then every bundled hypothesis on real IOI prompts.
#include <catch2/catch.hpp>
#include <filesystem>

#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "cscrub/graph/check_on_data.hpp"
#include "cscrub/graph/hypothesis_file.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/tokenizer.hpp"
#include "synthetic_prompts.hpp"
#include "test_paths.hpp"

namespace graph = cscrub::graph;
namespace data = cscrub::data;

namespace {

data::Dataset prompts_of_6_and_7_tokens() {
  data::Dataset dataset;
  dataset.schema = cscrub::test::synthetic_schema({"a"});
  std::mt19937 generator(5);
  for (int length : {6, 7})
    for (int i = 0; i < 4; ++i) {
      data::Example example = cscrub::test::random_prompt(generator, 50, length);
      example.features = {std::to_string(i % 2)};
      dataset.examples.push_back(example);
    }
  return dataset;
}

// The hypothesis in `text` (a file named claim.toml); its first problem on the prompts, or "".
std::string first_problem(const std::string& text, const data::Dataset& dataset = prompts_of_6_and_7_tokens()) {
  const graph::Hypothesis hypothesis = graph::read_hypothesis_text(text, "claim.toml");
  const auto problems = graph::find_problems_on_data(hypothesis, dataset);
  return problems.empty() ? std::string() : problems.front().to_string();
}

const char* kMover = R"(
[nodes.mover]
heads = ["1.0"]
positions = ["END"]
feature = "a"
)";

}  // namespace

TEST_CASE("a component claimed at a label and at an index that meet in some prompts is refused", "[graph][data]") {
  // END is token 5 in the 6-token prompts and 6 in the others: index 5 meets it in half of them.
  const std::string claims = std::string(kMover) + R"(parents = ["end", "five"]

[nodes.end]
embed = true
positions = ["END"]
feature = "a"

[nodes.five]
embed = true
positions = [5]
feature = "prompt"

[output]
parents = ["mover"]
)";
  CHECK_THAT(first_problem(claims), Catch::StartsWith("claim.toml:14:9: embed is claimed by two nodes at a common token in 4 "
                                                      "of 8 prompts: 'end' (claim.toml:8:1, END) and 'five' (5); first "
                                                      "in prompt 0 at token 5"));
  // Index 4 never meets END (in either length): allowed.
  std::string apart = claims;
  apart.replace(apart.find("positions = [5]"), 15, "positions = [4]");
  CHECK(first_problem(apart).empty());
}

TEST_CASE("an edge must reach its child's positions in every prompt", "[graph][data]") {
  const auto claim = [](const std::string& parent_positions, const std::string& ports) {
    return std::string(kMover) + "parents = [{ node = \"early\"" + ports + " }]\n\n[nodes.early]\nheads = [\"0.1\"]\n" +
           "positions = " + parent_positions + "\nfeature = \"a\"\n\n[output]\nparents = [\"mover\"]\n";
  };
  // q reads the child's own position only: token 3 is never END.
  CHECK_THAT(first_problem(claim("[3]", ", ports = [\"q\"]")),
             Catch::StartsWith("claim.toml:6:12: edge early -> mover reaches no position of mover through port 'q' in "
                               "every prompt (first: prompt 0, where early writes at 3 and mover reads at 5)"));
  // k and v read every earlier position: token 3 is before END.
  CHECK(first_problem(claim("[3]", ", ports = [\"k\", \"v\"]")).empty());
  // Listed ports must each reach; unlisted (all) ports need one.
  CHECK_THAT(first_problem(claim("[3]", ", ports = [\"k\", \"q\"]")), Catch::Contains("through port 'q'"));
  CHECK(first_problem(claim("[3]", "")).empty());
  // Token 5 is END in the 6-token prompts only.
  CHECK_THAT(first_problem(claim("[5]", ", ports = [\"q\"]")), Catch::Contains("in 4 of 8 prompts (first: prompt 4"));
  // A key after every position of the child reaches nothing: the child at P1 (1), the parent at END.
  const std::string later = R"(
[nodes.early_mover]
heads = ["1.0"]
positions = ["P1"]
feature = "a"
parents = [{ node = "late", ports = ["k"] }]

[nodes.late]
heads = ["0.1"]
positions = ["END"]
feature = "a"

[output]
parents = ["early_mover"]
)";
  CHECK_THAT(first_problem(later), Catch::Contains("edge late -> early_mover reaches no position of early_mover through "
                                                   "port 'k' in every prompt"));
}

TEST_CASE("the output is read at the answer position only", "[graph][data]") {
  const std::string parent = std::string(kMover) + "\n[output]\nparents = [\"mover\"]\n";
  CHECK(first_problem(parent).empty());
  CHECK(first_problem(parent + "positions = [\"END\"]\n").empty());
  // A parent that writes elsewhere reaches nothing the metric reads.
  std::string elsewhere = parent;
  elsewhere.replace(elsewhere.find("positions = [\"END\"]"), 19, "positions = [\"P1\"]");
  CHECK_THAT(first_problem(elsewhere), Catch::Contains("edge mover -> output reaches no position of output"));
  // An index that is the answer position in some prompts only.
  CHECK_THAT(first_problem(parent + "positions = [5]\n"),
             Catch::Contains("[output] positions (5) name tokens other than the answer position in prompt 4"));
}

TEST_CASE("an index outside some prompts is refused, naming the first", "[graph][data]") {
  const std::string claims = std::string(kMover) + "parents = [{ node = \"tail\", ports = [\"k\"] }]\n\n" +
                             "[nodes.tail]\nembed = true\npositions = [6]\nfeature = \"a\"\n\n[output]\nparents = [\"mover\"]\n";
  CHECK_THAT(first_problem(claims), Catch::StartsWith("claim.toml:10:13: node 'tail': position 6 is outside 4 of 8 "
                                                      "prompts (first: prompt 0, 6 tokens)"));
  const graph::Hypothesis hypothesis = graph::read_hypothesis_text(claims, "claim.toml");
  CHECK_THROWS_WITH(graph::validate_on_data(hypothesis, prompts_of_6_and_7_tokens()), Catch::Contains("position 6 is outside"));
}

TEST_CASE("every bundled hypothesis passes the checks on IOI prompts", "[graph][data][bundled]") {
  const auto tokenizer = cscrub::io::Tokenizer::load(cscrub::io::default_model_dir());
  const data::Dataset prompts = data::make_dataset("ioi", 200, 0, tokenizer);
  int checked = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(cscrub::test::source_dir() / "hypotheses")) {
    if (entry.path().extension() != ".toml") continue;
    const graph::Hypothesis hypothesis = graph::read_hypothesis_file(entry.path());
    const auto problems = graph::find_problems_on_data(hypothesis, prompts);
    INFO(entry.path().string() << ": " << (problems.empty() ? std::string() : problems.front().to_string()));
    CHECK(problems.empty());
    checked += 1;
  }
  CHECK(checked >= 12);
}
