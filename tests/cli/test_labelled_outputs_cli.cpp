// Outputs that say what they hold: every .npy grid of patch, attribute, attention and forward comes with a
// sidecar FILE.npy.json naming its axes, their labels and what the values mean, and --json writes the same
// numbers with their labels; checked against the .npy, against each other (change = normalized x (clean -
// corrupted), the parts of a direct logit attribution add up to the logit difference) and against the tokens.
// Old option names (--out-npy, --logits-out, --cache-out) still work and write the same bytes.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_runs.hpp"
#include "cscrub/io/npy.hpp"
#include "test_paths.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using cscrub::test::CommandResult;
using cscrub::test::shell_quote;
using nlohmann::json;

namespace {

// A 2-layer, 4-head random model with GPT-2's vocabulary and tokenizer files.
const fs::path& model_dir() {
  static const fs::path dir = cscrub::test::random_model_with_gpt2_tokenizer(
      "cli-labelled", {.layers = 2, .heads = 4, .d_model = 32, .vocab = 50257, .n_ctx = 64, .seed = 9});
  return dir;
}

CommandResult run_cli(const std::string& arguments) {
  return cscrub::test::run_cscrub(arguments + " --model " + shell_quote(model_dir().string()));
}

std::string path_arg(const fs::path& path) { return shell_quote(path.string()); }

json read_json(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in);
  return json::parse(in);
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<float> floats_of(const fs::path& npy) {
  const cscrub::io::NpyArray array = cscrub::io::read_npy(npy);
  REQUIRE(std::holds_alternative<std::vector<float>>(array.values));
  return std::get<std::vector<float>>(array.values);
}

// The values of a {"axes", "labels", "values"} grid, row-major, NaN for null.
std::vector<double> grid_values(const json& grid) {
  std::vector<double> values;
  for (const json& row : grid.at("values"))
    for (const json& cell : row) values.push_back(cell.is_null() ? NAN : cell.get<double>());
  return values;
}

const std::vector<std::string> kLayers{"0", "1"}, kHeads{"0", "1", "2", "3"};

}  // namespace

TEST_CASE("cli patch: --npy's sidecar and --json name the axes and hold the .npy's numbers", "[cli][labelled]") {
  const fs::path out = cscrub::test::scratch_dir("cli-labelled-patch");
  const std::string common = "patch --task ioi --n 16 --seed 3 --kind head --top 3 --quiet ";
  const CommandResult result =
      run_cli(common + "--npy " + path_arg(out / "head.npy") + " --json " + path_arg(out / "head.json"));
  REQUIRE(result.exit_code == 0);

  const json sidecar = read_json(out / "head.npy.json");
  CHECK(sidecar.at("array") == "head.npy");
  CHECK(sidecar.at("dtype") == "float32");
  CHECK(sidecar.at("shape") == json({2, 4}));
  CHECK(sidecar.at("axes") == json({"layer", "head"}));
  CHECK(sidecar.at("labels").at("layer") == json(kLayers));
  CHECK(sidecar.at("labels").at("head") == json(kHeads));
  CHECK_THAT(sidecar.at("values").get<std::string>(),
             Contains("normalized effect: (patched − corrupted) / (clean − corrupted)"));
  CHECK_FALSE(sidecar.contains("nan"));

  const json results = read_json(out / "head.json");
  CHECK(results.at("command") == "patch");
  CHECK(results.at("n") == 16);
  CHECK(results.at("base") == "corrupted");
  const std::vector<float> array = floats_of(out / "head.npy");
  const std::vector<double> normalized = grid_values(results.at("normalized").at("grid"));
  const std::vector<double> change = grid_values(results.at("change").at("grid"));
  CHECK(results.at("normalized").at("grid").at("labels").at("head") == json(kHeads));
  REQUIRE(normalized.size() == array.size());
  REQUIRE(change.size() == array.size());
  const double clean = results.at("clean"), corrupted = results.at("corrupted");
  REQUIRE(std::fabs(clean - corrupted) > 1e-6);
  for (size_t i = 0; i < array.size(); ++i) {
    CHECK(normalized[i] == Approx(array[i]).margin(1e-6));
    CHECK(change[i] == Approx(normalized[i] * (clean - corrupted)).margin(1e-5));
  }
  // The table: the 3 strongest cells, ranked by |normalized|, named layer.head as the grid labels them.
  const json& strongest = results.at("strongest");
  REQUIRE(strongest.size() == 3);
  for (size_t i = 0; i + 1 < strongest.size(); ++i)
    CHECK(std::fabs(strongest[i].at("normalized").get<double>()) >=
          std::fabs(strongest[i + 1].at("normalized").get<double>()));
  const std::string first = strongest[0].at("cell");
  const size_t cell = static_cast<size_t>((first[0] - '0') * 4 + (first[2] - '0'));
  CHECK(strongest[0].at("normalized").get<double>() == Approx(normalized[cell]).margin(1e-9));

  // The old name writes the same array.
  REQUIRE(run_cli(common + "--out-npy " + path_arg(out / "old.npy")).exit_code == 0);
  CHECK(read_bytes(out / "old.npy") == read_bytes(out / "head.npy"));
}

TEST_CASE("cli patch: path patching's sidecar says what NaN means and --json writes null there", "[cli][labelled]") {
  const fs::path out = cscrub::test::scratch_dir("cli-labelled-path");
  REQUIRE(run_cli("patch --n 8 --kind path --receivers 1.2:q --position END --quiet --npy " + path_arg(out / "p.npy") +
                  " --json " + path_arg(out / "p.json"))
              .exit_code == 0);
  const json sidecar = read_json(out / "p.npy.json");
  CHECK_THAT(sidecar.at("nan").get<std::string>(), Contains("no path"));
  const json results = read_json(out / "p.json");
  CHECK_THAT(results.at("null_means").get<std::string>(), Contains("no path"));
  const json& rows = results.at("normalized").at("grid").at("values");
  REQUIRE(rows.size() == 2);
  for (int head = 0; head < 4; ++head) {
    CHECK(rows[0][head].is_number());
    CHECK(rows[1][head].is_null());  // layer 1 cannot reach a layer-1 receiver
  }
}

TEST_CASE("cli attribute: --json holds the heads grid of the .npy, and the parts add up to the logit difference",
          "[cli][labelled]") {
  const fs::path out = cscrub::test::scratch_dir("cli-labelled-attribute");
  REQUIRE(run_cli("attribute --n 12 --seed 4 --quiet --npy " + path_arg(out / "dla.npy") + " --json " +
                  path_arg(out / "dla.json"))
              .exit_code == 0);
  const json sidecar = read_json(out / "dla.npy.json");
  CHECK(sidecar.at("axes") == json({"layer", "head"}));
  CHECK_THAT(sidecar.at("values").get<std::string>(), Contains("direct logit attribution"));
  const json results = read_json(out / "dla.json");
  const std::vector<float> array = floats_of(out / "dla.npy");
  const std::vector<double> heads = grid_values(results.at("heads"));
  REQUIRE(heads.size() == array.size());
  double sum = 0;
  for (size_t i = 0; i < heads.size(); ++i) {
    CHECK(heads[i] == Approx(array[i]).margin(1e-6));
    sum += heads[i];
  }
  for (const json& mlp : results.at("mlps")) sum += mlp.get<double>();
  for (const json& bias : results.at("attention_biases")) sum += bias.get<double>();
  sum += results.at("token_embedding").get<double>() + results.at("position_embedding").get<double>() +
         results.at("final_bias").get<double>();
  CHECK(sum == Approx(results.at("logit_diff").get<double>()).margin(1e-3));
  CHECK(results.at("sum_of_parts").get<double>() == Approx(sum).margin(1e-6));
}

TEST_CASE("cli attention: the sidecar and --json label query and key with the prompt's tokens", "[cli][labelled]") {
  const fs::path out = cscrub::test::scratch_dir("cli-labelled-attention");
  const std::string text = "When Mary and John went to the store, John gave a drink to";
  REQUIRE(run_cli("attention --head 1.2 --text " + shell_quote(text) + " --npy " + path_arg(out / "a.npy") +
                  " --json " + path_arg(out / "a.json"))
              .exit_code == 0);
  const json sidecar = read_json(out / "a.npy.json");
  CHECK(sidecar.at("axes") == json({"query", "key"}));
  const json& labels = sidecar.at("labels").at("query");
  REQUIRE(labels.size() == 14);
  CHECK(labels[1] == " Mary");
  CHECK(labels[13] == " to");
  CHECK(sidecar.at("labels").at("key") == labels);

  const json results = read_json(out / "a.json");
  CHECK(results.at("head") == "1.2");
  CHECK(results.at("prompt") == text);
  CHECK(results.at("tokens").size() == 14);
  const std::vector<float> array = floats_of(out / "a.npy");
  const json& rows = results.at("pattern").at("values");
  REQUIRE(rows.size() == 14);
  for (size_t q = 0; q < 14; ++q)
    for (size_t k = 0; k < 14; ++k) CHECK(rows[q][k].get<double>() == Approx(array[q * 14 + k]).margin(1e-7));
}

TEST_CASE("cli forward: --npy's sidecar names the logits' axes and the tokens, and the old names remain",
          "[cli][labelled]") {
  const fs::path out = cscrub::test::scratch_dir("cli-labelled-forward");
  REQUIRE(run_cli("forward --text " + shell_quote("Hello there, world") + " --npy " + path_arg(out / "l.npy") +
                  " --cache blocks.0.hook_resid_post --npz " + path_arg(out / "c.npz"))
              .exit_code == 0);
  const json sidecar = read_json(out / "l.npy.json");
  CHECK(sidecar.at("axes") == json({"position", "token id"}));
  CHECK(sidecar.at("labels").at("position") == json({"Hello", " there", ",", " world"}));
  CHECK_FALSE(sidecar.at("labels").contains("token id"));  // 50,257 ids are not listed
  CHECK(sidecar.at("shape") == json({4, 50257}));

  REQUIRE(run_cli("forward --text " + shell_quote("Hello there, world") + " --logits-out " + path_arg(out / "old.npy") +
                  " --cache blocks.0.hook_resid_post --cache-out " + path_arg(out / "old.npz"))
              .exit_code == 0);
  CHECK(read_bytes(out / "old.npy") == read_bytes(out / "l.npy"));
  CHECK(read_bytes(out / "old.npz") == read_bytes(out / "c.npz"));

  REQUIRE(run_cli("forward --text " + shell_quote("Hello there, world") + " --last-only --npy " +
                  path_arg(out / "last.npy"))
              .exit_code == 0);
  CHECK(read_json(out / "last.npy.json").at("axes") == json({"last position", "token id"}));
}

TEST_CASE("cli: an error about an output names the option as typed, old name or new, and both at once are refused",
          "[cli][labelled]") {
  const fs::path out = cscrub::test::scratch_dir("cli-labelled-old-names");
  const std::string missing = path_arg(out / "no-such-directory" / "x.npy");
  for (const std::string spelling : {"--npy", "--out-npy"}) {
    const CommandResult result = run_cli("attribute --n 4 --quiet " + spelling + " " + missing);
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Contains("error: " + spelling + " "));
  }
  for (const std::string spelling : {"--npy", "--logits-out"}) {
    const CommandResult result = run_cli("forward --text hi " + spelling + " " + missing);
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.output, Contains("error: " + spelling + " "));
  }
  const CommandResult both = run_cli("attention --head 0.1 --index 0 --n 4 --npy " + path_arg(out / "a.npy") +
                                     " --out-npy " + path_arg(out / "b.npy"));
  CHECK(both.exit_code == 1);
  CHECK_THAT(both.output, Contains("--out-npy: is the old name of --npy: give one of them"));
  CHECK_FALSE(fs::exists(out / "a.npy"));
  CHECK_FALSE(fs::exists(out / "b.npy"));
  const CommandResult help = run_cli("compare --help");
  CHECK_THAT(help.output, Contains("--svg"));
  CHECK_THAT(help.output, !Contains("--plot"));  // accepted, but no longer offered
}
