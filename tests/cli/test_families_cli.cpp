// Every command on a GPT-Neo-shaped and a Pythia-shaped model: random weights of the shapes in
// models/gpt-neo-125m and models/pythia-160m (12 layers, 12 heads; a narrow d_model), GPT-2's tokenizer (as
// vocab files for GPT-Neo, as a tokenizer.json for the Pythia-shaped one), and the worked hypotheses of
// hypotheses/gpt-neo-125m and hypotheses/pythia-160m checked, run and compared on them.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../io/random_model.hpp"
#include "cscrub/io/bpe_byte_level.hpp"
#include "cscrub/io/tokenizer_files.hpp"
#include "test_paths.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using cscrub::test::CommandResult;
using cscrub::test::shell_quote;

namespace {

fs::path bundled_tokenizer(const std::string& file) {
  const fs::path path = cscrub::test::bundled_model_dir() / file;
  if (!fs::exists(path)) FAIL(path.string() << " is missing: run tools/fetch_tokenizer.sh");
  return path;
}

// GPT-2's vocabulary and merges as a Hugging Face tokenizer.json.
void write_tokenizer_json(const fs::path& path) {
  nlohmann::json merges = nlohmann::json::array();
  for (const auto& rule : cscrub::io::read_merge_rules(bundled_tokenizer("vocab.bpe")))
    merges.push_back({cscrub::io::bytes_to_byte_level(rule.left), cscrub::io::bytes_to_byte_level(rule.right)});
  const nlohmann::json tokenizer = {
      {"added_tokens", {{{"id", 50256}, {"content", "<|endoftext|>"}, {"special", true}, {"normalized", false}}}},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}}},
      {"model", {{"type", "BPE"}, {"vocab", nlohmann::json::parse(std::ifstream(bundled_tokenizer("encoder.json")))},
                 {"merges", merges}}}};
  std::ofstream(path) << tokenizer.dump();
}

struct Family {
  std::string name;     // models/<name> and hypotheses/<name>
  std::string family;   // make_random_model.py --family
  std::string extra;
};

const fs::path& model_dir(const Family& family) {
  static std::map<std::string, fs::path> made;
  if (auto found = made.find(family.name); found != made.end()) return found->second;
  const fs::path model = cscrub::test::scratch_dir("cli-" + family.name) / "model";
  cscrub::test::RandomModelOptions options{.family = family.family, .layers = 12, .heads = 12, .d_model = 96,
      .vocab = 50257, .n_ctx = 64, .seed = 31, .extra = family.extra};
  cscrub::test::make_random_model(model, options);
  if (family.family == "gpt_neox") {
    write_tokenizer_json(model / "tokenizer.json");
  } else {
    fs::copy_file(bundled_tokenizer("encoder.json"), model / "encoder.json");
    fs::copy_file(bundled_tokenizer("vocab.bpe"), model / "vocab.bpe");
  }
  return made.emplace(family.name, model).first->second;
}

CommandResult run_cli(const std::string& arguments) {
  const std::string command = shell_quote(cscrub::test::cli_path().string()) + " " + arguments + " 2>&1";
  CommandResult result = cscrub::test::run_command(command);
  INFO("$ cscrub " << arguments << "\n" << result.output);
  CHECK(result.exit_code == 0);
  return result;
}

std::string hypothesis(const Family& family, const std::string& file) {
  return shell_quote((cscrub::test::source_dir() / "hypotheses" / family.name / "ioi" / file).string());
}

}  // namespace

TEST_CASE("families: every command runs on GPT-Neo- and Pythia-shaped models", "[cli][families]") {
  const Family family = GENERATE(Family{"gpt-neo-125m", "gpt_neo", "--window 4"},
                                 Family{"pythia-160m", "gpt_neox", "--rotary-pct 0.25"});
  const std::string base = family.name == "gpt-neo-125m" ? "mlp_composition.toml" : "parallel_blocks.toml";
  const std::string variant = family.name == "gpt-neo-125m" ? "heads_only.toml" : "no_query_mlps.toml";
  INFO(family.name);
  const std::string model = " --model " + shell_quote(model_dir(family).string());
  const fs::path out = cscrub::test::scratch_dir("cli-out-" + family.name);

  CHECK_THAT(run_cli("check " + hypothesis(family, base) + model).output, Contains("components per class"));
  run_cli("graph " + hypothesis(family, base) + model + " --svg " + shell_quote((out / "graph.svg").string()));
  CHECK(fs::file_size(out / "graph.svg") > 1000);

  const CommandResult run = run_cli("run " + hypothesis(family, base) + model + " --n 40 --seeds 2 --json " +
                                    shell_quote((out / "run.json").string()));
  CHECK_THAT(run.output, Contains("scrubbed") && Contains("recovered"));
  CHECK_THAT(run.output, !Contains(" nan") && !Contains("-nan") && !Contains(" inf"));
  const CommandResult compare = run_cli("compare " + hypothesis(family, base) + " " + hypothesis(family, variant) + model +
                                        " --n 40 --seeds 2");
  CHECK_THAT(compare.output, Contains(variant.substr(0, variant.size() - 5)));
  run_cli("rerun " + shell_quote((out / "run.json").string()));

  CHECK_THAT(run_cli("patch --task ioi --n 16 --kind head --quiet --top 3" + model).output, Contains("(12 layers x 12 heads)"));
  run_cli("patch --task ioi --n 16 --kind path --receivers 11.2:q --position END --quiet --top 3" + model);
  CHECK_THAT(run_cli("attribute --task ioi --n 16 --quiet --top 3" + model).output, Contains("mlp"));
  run_cli("attention --head 11.3 --task ioi --n 4 --index 0" + model);
  CHECK_THAT(run_cli("forward --text " + shell_quote("When Mary and John went to the store,") + model).output,
             Contains("top 10 next tokens"));
}

TEST_CASE("families: a parallel block's MLP does not read its own layer's heads", "[cli][families]") {
  const Family pythia{"pythia-160m", "gpt_neox", "--rotary-pct 0.25"};
  const fs::path dir = cscrub::test::scratch_dir("cli-parallel-edge");
  std::ofstream(dir / "edge.toml") << R"([model]
layers = 12
heads = 12
[nodes.head]
heads = ["5.1"]
feature = "io_name"
[nodes.mlp]
mlps = [5]
feature = "io_name"
parents = ["head"]
[output]
parents = ["mlp"]
)";
  const std::string command = shell_quote(cscrub::test::cli_path().string()) + " check " +
                              shell_quote((dir / "edge.toml").string()) + " --model ";
  CommandResult parallel = cscrub::test::run_command(command + shell_quote(model_dir(pythia).string()) + " 2>&1");
  INFO(parallel.output);
  CHECK(parallel.exit_code == 1);
  CHECK_THAT(parallel.output, Contains("edge head -> mlp is not an edge of the model: 5.1 does not come before mlp 5") &&
                                  Contains("parallel blocks the MLP reads the layer's input"));
  // The same edge in GPT-2's sequential blocks is fine.
  const CommandResult sequential = cscrub::test::run_command(command + shell_quote(model_dir({"gpt-neo-125m", "gpt_neo", "--window 4"}).string()) + " 2>&1");
  INFO(sequential.output);
  CHECK(sequential.exit_code == 0);
}
