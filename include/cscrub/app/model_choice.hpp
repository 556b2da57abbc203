// Choosing what runs the model, for the CLI and the Python module alike: the matrix-product kernel by name,
// a model directory's tokenizer when it has one, and both loaded together.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "cscrub/engine/matmul.hpp"
#include "cscrub/engine/weights.hpp"
#include "cscrub/io/tokenizer.hpp"

namespace cscrub::app {

// The kernel `choice` names ("auto": engine::fastest_matmul_kernel()). Throws cscrub::Error for an unknown
// name or a kernel this machine cannot run.
engine::MatmulKernel matmul_kernel_for(const std::string& choice);

// The tokenizer of `model_dir`, or nullopt if the directory has none of GPT-2's tokenizer files (a model
// can be run on token ids alone). Broken tokenizer files still throw cscrub::Error.
std::optional<io::Tokenizer> load_tokenizer_if_present(const std::filesystem::path& model_dir);

struct LoadedModel {
  std::filesystem::path dir;
  engine::Weights weights;
  std::optional<io::Tokenizer> tokenizer_if_present;  // a model can run on token ids alone
  // Throws cscrub::Error if the directory has no tokenizer files, which prompts made from text need.
  const io::Tokenizer& tokenizer() const;
};
// The weights (products in the kernel `matmul` names) and tokenizer, if any, of a model directory.
LoadedModel load_model_and_tokenizer(const std::string& dir, const std::string& matmul);

}  // namespace cscrub::app
