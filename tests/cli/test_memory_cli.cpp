// `cscrub run --max-memory`: the estimate is printed and written, a run over the limit is refused before
// the model is loaded with a message naming the estimate and the limit, the suggested --n fits, and the
// numbers do not depend on the batch size, the threads or the number of seeds.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "json_file.hpp"
#include "test_paths.hpp"

using namespace cscrub::test;

namespace {

CommandResult cscrub_command(const std::string& arguments) {
  return run_command(shell_quote(cli_path().string()) + " " + arguments + " --quiet");
}

std::string hypothesis(const std::string& name) {
  return shell_quote((source_dir() / "hypotheses" / "gpt2-ioi-mini" / name).string());
}

// --max-memory takes GiB.
std::string gib(uint64_t bytes) { return std::to_string(static_cast<double>(bytes) / (1 << 30)); }

}  // namespace

TEST_CASE("cscrub run prints and writes its memory estimate", "[cli][memory]") {
  const auto dir = scratch_dir("memory-estimate");
  const auto json_path = dir / "run.json";
  const auto result = cscrub_command("run " + hypothesis("ioi.toml") + " --n 60 --seeds 1 --max-memory 4 --json " +
                                     shell_quote(json_path.string()));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("memory: estimated peak") && Catch::Contains("activation cache") &&
                                Catch::Contains("limit 4.00 GiB (--max-memory)"));
  const nlohmann::json memory = read_json_file(json_path)["memory"];
  CHECK(memory["limit_bytes"] == uint64_t{4} << 30);
  const auto& parts = memory["parts_bytes"];
  for (const char* part : {"program", "weights", "model_file_while_loading", "clean_cache", "scrub_batch"})
    CHECK(parts[part].get<uint64_t>() > 0);
  // The bundled checkpoint is float32: the weights take what the file holds, less its header.
  const auto file_size = std::filesystem::file_size(bundled_model_dir() / "model.safetensors");
  CHECK(parts["weights"].get<uint64_t>() <= file_size);
  CHECK(parts["weights"].get<uint64_t>() > file_size - (64 << 10));
  CHECK(memory["estimated_peak_bytes"].get<uint64_t>() >= parts["program"].get<uint64_t>() +
                                                              parts["weights"].get<uint64_t>() +
                                                              parts["clean_cache"].get<uint64_t>());
}

TEST_CASE("cscrub run refuses a run over --max-memory before loading the model", "[cli][memory][errors]") {
  // A model directory whose checkpoint is not one: loading it fails, so a refusal must come first.
  const auto dir = scratch_dir("memory-refusal");
  const auto model = dir / "model";
  std::filesystem::create_directories(model);
  for (const char* name : {"config.json", "encoder.json", "vocab.bpe"})
    std::filesystem::copy_file(bundled_model_dir() / name, model / name);
  std::ofstream(model / "model.safetensors") << "not a checkpoint";
  const std::string base = "run " + hypothesis("ioi.toml") + " --model " + shell_quote(model.string()) + " --n 100";

  const auto unlimited = cscrub_command(base);
  INFO(unlimited.output);
  CHECK(unlimited.exit_code == 1);
  CHECK_THAT(unlimited.output, Catch::Contains("model.safetensors"));

  const auto refused = cscrub_command(base + " --max-memory 0.01");
  INFO(refused.output);
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.output, Catch::Contains("this run would need about") &&
                                 Catch::Contains("more than the --max-memory limit of 10.2 MiB") &&
                                 Catch::Contains("activation cache would need") && Catch::Contains("100 prompts"));
  CHECK_THAT(refused.output, !Catch::Contains("not a checkpoint") && !Catch::Contains("safetensors"));
  // Not even two prompts fit beside the weights: the advice is to raise the limit.
  CHECK_THAT(refused.output, Catch::Contains("even --n 2 would need") && Catch::Contains("raise --max-memory"));
}

TEST_CASE("the --n that cscrub suggests fits in the limit", "[cli][memory]") {
  const auto dir = scratch_dir("memory-suggestion");
  const std::string base = "run " + hypothesis("ioi.toml") + " --seeds 1";
  // The estimate of a large run, without running it (a limit of one byte refuses everything).
  const auto probe = cscrub_command(base + " --n 1000 --max-memory 0.000000001");
  REQUIRE(probe.exit_code == 1);
  std::smatch numbers;
  const std::regex estimate_pattern("would need about ([0-9.]+) MiB.*activation cache would need ([0-9.]+) MiB");
  REQUIRE(std::regex_search(probe.output, numbers, estimate_pattern));
  const double peak_mib = std::stod(numbers[1]), cache_mib = std::stod(numbers[2]);
  INFO(probe.output);
  REQUIRE(cache_mib > 20);  // the cache dominates what grows with --n

  // Room for about half the cache: refused, with a smaller --n.
  const uint64_t limit = static_cast<uint64_t>((peak_mib - cache_mib / 2) * (1 << 20));
  const auto refused = cscrub_command(base + " --n 1000 --max-memory " + gib(limit));
  INFO(refused.output);
  REQUIRE(refused.exit_code == 1);
  CHECK_THAT(refused.output, Catch::Contains("a hypothesis that caches fewer activations") &&
                                 Catch::Contains("raise --max-memory"));
  std::smatch suggested;
  REQUIRE(std::regex_search(refused.output, suggested, std::regex("use --n ([0-9]+) or fewer")));
  const int n = std::stoi(suggested[1]);
  CHECK(n > 250);
  CHECK(n < 1000);

  const auto json_path = dir / "fits.json";
  const auto fits = cscrub_command(base + " --n " + std::to_string(n) + " --max-memory " + gib(limit) + " --json " +
                                   shell_quote(json_path.string()));
  INFO(fits.output);
  REQUIRE(fits.exit_code == 0);
  CHECK(read_json_file(json_path)["memory"]["estimated_peak_bytes"].get<uint64_t>() <= limit);
}

TEST_CASE("cscrub run: same numbers with any batch size and threads, and seed 1 of 3 is the only seed of 1",
          "[cli][memory][determinism]") {
  const auto dir = scratch_dir("memory-determinism");
  const std::string base = "run " + hypothesis("ioi.toml") + " --n 80 --seed 2";
  auto run = [&](const std::string& options, const std::string& name) {
    const auto result = cscrub_command(base + " " + options + " --json " + shell_quote((dir / name).string()));
    INFO(result.output);
    REQUIRE(result.exit_code == 0);
    return read_json_file(dir / name);
  };
  const nlohmann::json small = run("--seeds 3 --batch-size 3 --threads 1", "small.json");
  const nlohmann::json large = run("--seeds 3 --batch-size 64 --threads 2", "large.json");
  for (const char* key : {"model_value", "baseline_value", "baseline_value_ci95", "scrubbed_value",
                          "scrubbed_value_ci95", "recovered", "recovered_ci95", "recovered_per_seed"})
    CHECK(small[key] == large[key]);
  // The working memory followed the batch.
  CHECK(small["memory"]["parts_bytes"]["scrub_batch"].get<uint64_t>() <
        large["memory"]["parts_bytes"]["scrub_batch"].get<uint64_t>());

  const nlohmann::json one_seed = run("--seeds 1 --batch-size 5", "one.json");
  CHECK(one_seed["model_value"] == large["model_value"]);
  REQUIRE(one_seed["recovered_per_seed"].size() == 1);
  CHECK(one_seed["recovered_per_seed"][0] == large["recovered_per_seed"][0]);
  CHECK(large["recovered_per_seed"][1] != large["recovered_per_seed"][0]);
  // Seeds do not change the estimate: they are streamed, not held.
  CHECK(one_seed["memory"]["parts_bytes"]["clean_cache"] == large["memory"]["parts_bytes"]["clean_cache"]);
}
