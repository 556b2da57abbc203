// Command-line tests' shared fixtures: the built binary run through the shell with its output kept for a
// failing assertion, and random model directories that tokenize text as GPT-2 does.
#pragma once
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "../io/random_model.hpp"
#include "test_paths.hpp"

namespace cscrub::test {

// Runs `command` (a whole shell command line); a failing assertion after it shows the command and its output.
inline CommandResult logged_run(const std::string& command) {
  CommandResult result = run_command(command);
  UNSCOPED_INFO("$ " << command << "\n" << result.output);
  return result;
}

// The built binary's path, quoted for the shell: the start of a command line.
inline std::string cli() { return shell_quote(cli_path().string()); }

// `cscrub ARGUMENTS`.
inline CommandResult run_cscrub(const std::string& arguments) {
  return logged_run(cli() + " " + arguments);
}

// A random model (GPT-2's vocabulary of 50,257 unless `options` says otherwise) in scratch_dir(`name`)/model,
// with the bundled model's GPT-2 tokenizer files, so that commands take text prompts and generated tasks.
inline std::filesystem::path random_model_with_gpt2_tokenizer(const std::string& name, RandomModelOptions options) {
  namespace fs = std::filesystem;
  const fs::path bundled = bundled_model_dir();
  if (!fs::exists(bundled / "encoder.json") || !fs::exists(bundled / "vocab.bpe"))
    FAIL("GPT-2's tokenizer files are missing from " << bundled.string() << ": run tools/fetch_tokenizer.sh");
  const fs::path model = scratch_dir(name) / "model";
  make_random_model(model, options);
  fs::copy_file(bundled / "encoder.json", model / "encoder.json");
  fs::copy_file(bundled / "vocab.bpe", model / "vocab.bpe");
  return model;
}

}  // namespace cscrub::test
