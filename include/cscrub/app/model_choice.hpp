// Choosing what runs the model, for the CLI and the Python module alike: the matrix-product kernel by name,
// and a model directory's tokenizer when it has one.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "cscrub/engine/matmul.hpp"
#include "cscrub/io/tokenizer.hpp"

namespace cscrub::app {

// The kernel `choice` names ("auto": engine::fastest_matmul_kernel()). Throws cscrub::Error for an unknown
// name or a kernel this machine cannot run.
engine::MatmulKernel matmul_kernel_for(const std::string& choice);

// The tokenizer of `model_dir`, or nullopt if the directory has none of GPT-2's tokenizer files (a model
// can be run on token ids alone). Broken tokenizer files still throw cscrub::Error.
std::optional<io::Tokenizer> load_tokenizer_if_present(const std::filesystem::path& model_dir);

}  // namespace cscrub::app
