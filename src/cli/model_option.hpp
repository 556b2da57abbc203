// What every command that runs the model shares: the `--model DIR` and `--matmul KERNEL` options.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace cscrub::cli {

// Adds `--model DIR` to `command`, storing into `dir`; the default is io::default_model_dir()
// ($CSCRUB_MODEL, else the bundled model).
CLI::Option* add_model_option(CLI::App& command, std::string& dir);

// Adds `--matmul KERNEL` to a command that runs the model, storing into `choice`: auto (the fastest kernel
// this machine runs), fp32-fma or amx-split-bf16; the default is $CSCRUB_MATMUL, else auto.
CLI::Option* add_matmul_option(CLI::App& command, std::string& choice);

}  // namespace cscrub::cli
