// Test fixtures: random model directories of each family made by tools/make_random_model.py, and runs of
// tools/reference_forward.py (the PyTorch reference) on them.
#pragma once
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "test_paths.hpp"

namespace cscrub::test {

struct RandomModelOptions {
  std::string family = "gpt2";  // gpt2, gpt_neo, gpt_neox
  int layers = 2;
  int heads = 4;
  int d_model = 64;
  int vocab = 97;
  int n_ctx = 32;
  std::string dtype = "F32";
  bool prefix = false;
  bool lm_head = false;
  bool buffers = false;
  int seed = 0;
  std::string extra = "";  // more options of make_random_model.py, e.g. "--sequential --rotary-pct 0.5"

  std::string describe() const {
    return family + ": " + std::to_string(layers) + " layers x " + std::to_string(heads) + " heads, d_model " + std::to_string(d_model) +
           ", vocab " + std::to_string(vocab) + ", n_ctx " + std::to_string(n_ctx) + ", " + dtype +
           (prefix ? ", transformer. prefix" : "") + (lm_head ? ", lm_head" : "") + (buffers ? ", buffers" : "") +
           ", seed " + std::to_string(seed) + (extra.empty() ? "" : ", " + extra);
  }
};

// Writes the model into `dir` (created by the script); fails the test if the script fails.
inline void make_random_model(const std::filesystem::path& dir, const RandomModelOptions& options) {
  std::string command = std::string(system_python()) + " " + shell_quote((source_dir() / "tools" / "make_random_model.py").string()) +
                        " " + shell_quote(dir.string()) + " --layers " + std::to_string(options.layers) + " --heads " +
                        std::to_string(options.heads) + " --d-model " + std::to_string(options.d_model) + " --vocab " +
                        std::to_string(options.vocab) + " --n-ctx " + std::to_string(options.n_ctx) + " --dtype " +
                        options.dtype + " --seed " + std::to_string(options.seed) + " --family " + options.family +
                        " " + options.extra;
  if (options.prefix) command += " --prefix";
  if (options.lm_head) command += " --lm-head";
  if (options.buffers) command += " --buffers";
  const CommandResult result = run_command(command);
  INFO(command << "\n" << result.output);
  REQUIRE(result.exit_code == 0);
}

// Runs the PyTorch reference: logits.npy and <hook>.npy into `out_dir`; `extra` is appended verbatim
// (e.g. "--patch blocks.1.attn.hook_z:2:3:src.npy" or "--hooks logits").
inline void run_reference(const std::filesystem::path& model_dir, const std::filesystem::path& tokens_npy,
                          const std::filesystem::path& out_dir, const std::string& extra = {}) {
  const std::string command = std::string(system_python()) + " " +
                              shell_quote((source_dir() / "tools" / "reference_forward.py").string()) + " --model " +
                              shell_quote(model_dir.string()) + " --tokens " + shell_quote(tokens_npy.string()) +
                              " --out " + shell_quote(out_dir.string()) + " " + extra;
  const CommandResult result = run_command(command);
  INFO(command << "\n" << result.output);
  REQUIRE(result.exit_code == 0);
}

}  // namespace cscrub::test
