// --dataset on patch, attribute, attention, discover, faithfulness, run and compare: a saved dataset gives what the
// same prompts generated give, and lines written by hand ({"text", "answer", "distractor"}) run everywhere.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cscrub/io/npy.hpp"
#include "json_file.hpp"
#include "test_paths.hpp"

namespace fs = std::filesystem;
using namespace cscrub::test;

namespace {

CommandResult cscrub_command(const std::string& arguments) {
  const std::string command = shell_quote(cli_path().string()) + " " + arguments;
  CommandResult result = run_command(command);
  UNSCOPED_INFO("$ " << command << "\n" << result.output);
  return result;
}

std::vector<float> npy_values(const fs::path& path) {
  const cscrub::io::NpyArray array = cscrub::io::read_npy(path);
  REQUIRE(std::holds_alternative<std::vector<float>>(array.values));
  return std::get<std::vector<float>>(array.values);
}

std::string quoted(const fs::path& path) { return shell_quote(path.string()); }

// The lines of `cscrub dataset` rewritten in the hand-written form: the text, the answer's and distractor's texts,
// the task, its positions but END, its features and the group.
void write_simple_form(const fs::path& generated, const fs::path& simple) {
  std::ifstream in(generated);
  std::ofstream out(simple);
  for (std::string text; std::getline(in, text);) {
    const nlohmann::ordered_json line = nlohmann::ordered_json::parse(text);
    nlohmann::ordered_json positions = line["positions"];
    positions.erase("END");
    out << nlohmann::ordered_json{{"text", line["text"]},
                                  {"answer", line["answer_text"]},
                                  {"distractor", line["distractor_text"]},
                                  {"task", line["task"]},
                                  {"positions", positions},
                                  {"features", line["features"]},
                                  {"group", line["group"]}}
               .dump()
        << "\n";
  }
}

}  // namespace

TEST_CASE("dataset option: attribute and attention on a saved dataset equal the same prompts generated", "[cli][dataset-option]") {
  const fs::path dir = scratch_dir("dataset-option");
  REQUIRE(cscrub_command("dataset ioi --n 40 --seed 2 --out " + quoted(dir / "ioi.jsonl")).exit_code == 0);

  REQUIRE(cscrub_command("attribute --n 40 --seed 2 --quiet --out-npy " + quoted(dir / "generated.npy")).exit_code == 0);
  const auto from_file = cscrub_command("attribute --dataset " + quoted(dir / "ioi.jsonl") + " --quiet --out-npy " +
                                        quoted(dir / "file.npy"));
  REQUIRE(from_file.exit_code == 0);
  CHECK_THAT(from_file.output, Catch::Contains("prompts: 40 prompts of " + (dir / "ioi.jsonl").string()));
  CHECK(npy_values(dir / "file.npy") == npy_values(dir / "generated.npy"));

  REQUIRE(cscrub_command("attention --head 0.1 --index 7 --n 40 --seed 2 --out-npy " + quoted(dir / "a.npy")).exit_code == 0);
  REQUIRE(cscrub_command("attention --head 0.1 --index 7 --dataset " + quoted(dir / "ioi.jsonl") + " --out-npy " +
                         quoted(dir / "b.npy"))
              .exit_code == 0);
  CHECK(npy_values(dir / "a.npy") == npy_values(dir / "b.npy"));
  // --n takes the file's first prompts.
  REQUIRE(cscrub_command("attribute --dataset " + quoted(dir / "ioi.jsonl") + " --n 10 --quiet --out-npy " +
                         quoted(dir / "first10.npy"))
              .exit_code == 0);
  REQUIRE(run_command("head -n 10 " + quoted(dir / "ioi.jsonl") + " > " + quoted(dir / "ioi10.jsonl")).exit_code == 0);
  REQUIRE(cscrub_command("attribute --dataset " + quoted(dir / "ioi10.jsonl") + " --quiet --out-npy " +
                         quoted(dir / "ten.npy"))
              .exit_code == 0);
  CHECK(npy_values(dir / "first10.npy") == npy_values(dir / "ten.npy"));
}

TEST_CASE("dataset option: patch pairs a saved dataset's prompts within their groups, as it does generated ones",
          "[cli][dataset-option]") {
  const fs::path dir = scratch_dir("dataset-option-patch");
  REQUIRE(cscrub_command("dataset induction --n 40 --seed 1 --out " + quoted(dir / "induction.jsonl")).exit_code == 0);
  REQUIRE(cscrub_command("patch --task induction --n 40 --seed 1 --quiet --out-npy " + quoted(dir / "generated.npy"))
              .exit_code == 0);
  REQUIRE(cscrub_command("patch --dataset " + quoted(dir / "induction.jsonl") + " --seed 1 --quiet --out-npy " +
                         quoted(dir / "file.npy"))
              .exit_code == 0);
  CHECK(npy_values(dir / "file.npy") == npy_values(dir / "generated.npy"));
}

TEST_CASE("dataset option: hand-written lines of a task score a hypothesis as its generated lines do", "[cli][dataset-option]") {
  const fs::path dir = scratch_dir("dataset-option-run");
  const std::string hypothesis = quoted(source_dir() / "hypotheses" / "gpt2-ioi-mini" / "ioi.toml");
  REQUIRE(cscrub_command("dataset ioi --n 40 --seed 4 --out " + quoted(dir / "ioi.jsonl")).exit_code == 0);
  write_simple_form(dir / "ioi.jsonl", dir / "simple.jsonl");
  for (const char* file : {"ioi.jsonl", "simple.jsonl"})
    REQUIRE(cscrub_command("run " + hypothesis + " --dataset " + quoted(dir / file) + " --seeds 2 --quiet --json " +
                           quoted(dir / (std::string(file) + ".json")))
                .exit_code == 0);
  nlohmann::json full = read_json_file(dir / "ioi.jsonl.json"), simple = read_json_file(dir / "simple.jsonl.json");
  // The same prompts (the provenance's content hash says so), so the same numbers.
  CHECK(full["provenance"]["dataset"]["content_sha256"] == simple["provenance"]["dataset"]["content_sha256"]);
  for (const char* key : {"model_value", "baseline_value", "scrubbed_value", "recovered", "recovered_ci95"})
    CHECK(full[key] == simple[key]);
}

TEST_CASE("dataset option: custom lines run builtin hypotheses and compare, and name what a hypothesis lacks",
          "[cli][dataset-option]") {
  const fs::path dir = scratch_dir("dataset-option-custom");
  {
    std::ofstream out(dir / "mine.jsonl");
    for (const char* pair : {"Mary\", \"John", "John\", \"Mary", "Anna\", \"Mark", "Mark\", \"Anna"}) {
      const std::string names(pair);
      const std::string first = names.substr(0, names.find('"')), second = names.substr(names.rfind('"') + 1);
      out << "{\"text\": \"Then, " << first << " and " << second << " went to the store. " << second
          << " gave a drink to\", \"answer\": \" " << first << "\", \"distractor\": \" " << second << "\"}\n";
    }
  }
  const auto compared = cscrub_command("compare builtin:full builtin:none --dataset " + quoted(dir / "mine.jsonl") +
                                       " --seeds 1 --quiet --json " + quoted(dir / "compare.json"));
  REQUIRE(compared.exit_code == 0);
  const nlohmann::json result = read_json_file(dir / "compare.json");
  CHECK(result["provenance"]["dataset"]["task"] == "ioi");  // the hypotheses' task; the lines' is custom
  CHECK(result["n"] == 4);
  // builtin:full reproduces the model (% recovered is undefined on 4 prompts: model and baseline do not differ
  // significantly).
  CHECK(result["hypotheses"][0]["scrubbed_value"] == result["model_value"]["value"]);

  const auto lacking = cscrub_command("run " + quoted(source_dir() / "hypotheses" / "gpt2-ioi-mini" / "ioi.toml") +
                                      " --dataset " + quoted(dir / "mine.jsonl") + " --quiet");
  CHECK(lacking.exit_code == 1);
  CHECK_THAT(lacking.output, Catch::Contains("task 'custom' has no") && Catch::Contains("mine.jsonl gives positions END "
                                                                                         "and features none"));
  const auto patched = cscrub_command("patch --dataset " + quoted(dir / "mine.jsonl") + " --quiet --top 2");
  CHECK(patched.exit_code == 0);
  CHECK_THAT(patched.output, Catch::Contains("4 prompts of") && Catch::Contains("another prompt of its alignment group"));

  CHECK_THAT(cscrub_command("attribute --dataset " + quoted(dir / "mine.jsonl") + " --n 5").output,
             Catch::Contains("--n 5 is larger than the dataset"));
  CHECK_THAT(cscrub_command("patch --dataset " + quoted(dir / "mine.jsonl") + " --option order=abba").output,
             Catch::Contains("--option excludes --dataset"));
  CHECK_THAT(cscrub_command("attention --head 0.1 --index 4 --dataset " + quoted(dir / "mine.jsonl")).output,
             Catch::Contains("--index 4 is outside the 4 prompts"));
}

TEST_CASE("dataset option: discover and faithfulness pair a saved dataset's prompts as they pair generated ones",
          "[cli][dataset-option]") {
  const fs::path dir = scratch_dir("dataset-option-discover");
  const fs::path file = dir / "induction.jsonl";
  REQUIRE(cscrub_command("dataset induction --n 40 --seed 1 --out " + quoted(file)).exit_code == 0);
  REQUIRE(cscrub_command("discover --method eap --task induction --n 40 --seed 1 --quiet --out " +
                         quoted(dir / "generated.json"))
              .exit_code == 0);
  const auto discovered = cscrub_command("discover --method eap --dataset " + quoted(file) +
                                         " --seed 1 --quiet --out " + quoted(dir / "file.json"));
  REQUIRE(discovered.exit_code == 0);
  CHECK_THAT(discovered.output, Catch::Contains("prompts: 40 prompts of " + file.string()));
  const nlohmann::json generated = read_json_file(dir / "generated.json"),
                       from_file = read_json_file(dir / "file.json");
  CHECK(from_file["edges"] == generated["edges"]);
  CHECK(from_file["cscrub"]["pairs"] == 40);
  CHECK(from_file["cscrub"]["task"] == "induction");
  CHECK_THAT(from_file["cscrub"]["command"].get<std::string>(),
             Catch::EndsWith("--dataset " + file.string() + " --seed 1"));

  // faithfulness of one graph on the same pairs, from the file and generated: the same curves.
  const std::string faithfulness = "faithfulness " + quoted(dir / "generated.json") + " --sizes 0.1,1 --quiet --json ";
  REQUIRE(cscrub_command(faithfulness + quoted(dir / "curves-generated.json") + " --task induction --n 40 --seed 1")
              .exit_code == 0);
  const auto curves =
      cscrub_command(faithfulness + quoted(dir / "curves-file.json") + " --dataset " + quoted(file) + " --seed 1");
  REQUIRE(curves.exit_code == 0);
  CHECK_THAT(curves.output, Catch::Contains("pairs: 40 prompts of " + file.string()));
  const nlohmann::json from_generated = read_json_file(dir / "curves-generated.json"),
                       curves_of_file = read_json_file(dir / "curves-file.json");
  CHECK(curves_of_file["prompts"] == "40 prompts of " + file.string());
  CHECK(curves_of_file["pairs"] == 40);
  CHECK(curves_of_file["files"] == from_generated["files"]);
}

TEST_CASE("dataset option: discover's --n takes a dataset's first prompts, and the options it excludes are named",
          "[cli][dataset-option]") {
  const fs::path dir = scratch_dir("dataset-option-discover-n");
  const fs::path file = dir / "induction.jsonl";
  REQUIRE(cscrub_command("dataset induction --n 60 --seed 1 --out " + quoted(file)).exit_code == 0);
  REQUIRE(run_command("head -n 40 " + quoted(file) + " > " + quoted(dir / "first40.jsonl")).exit_code == 0);
  REQUIRE(cscrub_command("discover --method exact --dataset " + quoted(file) + " --n 40 --seed 1 --quiet --out " +
                         quoted(dir / "first.json"))
              .exit_code == 0);
  REQUIRE(cscrub_command("discover --method exact --dataset " + quoted(dir / "first40.jsonl") +
                         " --seed 1 --quiet --out " + quoted(dir / "forty.json"))
              .exit_code == 0);
  const nlohmann::json first = read_json_file(dir / "first.json");
  CHECK(first["edges"] == read_json_file(dir / "forty.json")["edges"]);
  CHECK_THAT(first["cscrub"]["command"].get<std::string>(), Catch::EndsWith(" --n 40 --seed 1"));

  const std::string dataset = " --dataset " + quoted(file);
  CHECK_THAT(cscrub_command("discover --method eap" + dataset + " --task ioi --out " + quoted(dir / "x.json")).output,
             Catch::Contains("--task excludes --dataset"));
  CHECK_THAT(cscrub_command("faithfulness " + quoted(dir / "first.json") + dataset + " --pairs " + quoted(file)).output,
             Catch::Contains("--dataset excludes --pairs"));
  CHECK_THAT(cscrub_command("faithfulness " + quoted(dir / "first.json") + dataset + " --n 61").output,
             Catch::Contains("--n 61 is larger than the dataset"));
  const auto overwrite = cscrub_command("discover --method eap" + dataset + " --out " + quoted(file));
  CHECK(overwrite.exit_code == 1);
  CHECK_THAT(overwrite.output, Catch::Contains("is the input"));
}
