// What every command that runs the model shares: the `--model DIR` option and loading the directory's
// tokenizer when it has one.
#pragma once
#include <CLI/CLI.hpp>
#include <filesystem>
#include <optional>
#include <string>

#include "cscrub/engine/matmul.hpp"
#include "cscrub/io/tokenizer.hpp"

namespace cscrub::cli {

// Adds `--model DIR` to `command`, storing into `dir`; the default is io::default_model_dir()
// ($CSCRUB_MODEL, else the bundled model).
CLI::Option* add_model_option(CLI::App& command, std::string& dir);

// Adds `--matmul KERNEL` to a command that runs the model, storing into `choice`: auto (the fastest kernel
// this machine runs), fp32-fma or amx-split-bf16; the default is $CSCRUB_MATMUL, else auto.
CLI::Option* add_matmul_option(CLI::App& command, std::string& choice);

// The kernel `choice` names ("auto": engine::fastest_matmul_kernel()). Throws cscrub::Error for an unknown
// name or a kernel this machine cannot run.
engine::MatmulKernel matmul_kernel_for(const std::string& choice);

// The tokenizer of `model_dir`, or nullopt if the directory has no tokenizer file (tokenizer.json, GPT-2's) (a model
// can be run on token ids alone). Broken tokenizer files still throw cscrub::Error.
std::optional<io::Tokenizer> load_tokenizer_if_present(const std::filesystem::path& model_dir);

}  // namespace cscrub::cli
