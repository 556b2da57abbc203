#include "cscrub/app/model_choice.hpp"

#include <array>

#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"

namespace cscrub::app {

engine::MatmulKernel matmul_kernel_for(const std::string& choice) {
  if (choice == "auto") return engine::fastest_matmul_kernel();
  const std::optional<engine::MatmulKernel> kernel = engine::matmul_kernel_named(choice);
  // The choice may come from $CSCRUB_MATMUL: the messages name both.
  if (!kernel)
    throw Error("--matmul (or $CSCRUB_MATMUL) " + choice + ": unknown kernel", "use auto, fp32-fma or amx-split-bf16");
  if (*kernel == engine::MatmulKernel::amx_split_bf16 && !engine::amx_usable())
    throw Error("--matmul (or $CSCRUB_MATMUL) amx-split-bf16: this CPU has no AMX-BF16 tiles, or the operating "
                "system does not grant them",
                "use --matmul fp32-fma (or auto)");
  return *kernel;
}

std::optional<io::Tokenizer> load_tokenizer_if_present(const std::filesystem::path& model_dir) {
  // Hugging Face's tokenizer.json, and the Hugging Face and the OpenAI names of GPT-2's two files (see
  // io::Tokenizer::load).
  constexpr std::array<const char*, 5> kTokenizerFiles = {"tokenizer.json", "vocab.json", "merges.txt", "encoder.json",
                                                          "vocab.bpe"};
  for (const char* name : kTokenizerFiles)
    if (std::filesystem::exists(model_dir / name)) return io::Tokenizer::load(model_dir);
  return std::nullopt;
}

LoadedModel load_model_and_tokenizer(const std::string& dir, const std::string& matmul) {
  const engine::MatmulKernel kernel = matmul_kernel_for(matmul);
  LoadedModel model{
      .dir = dir, .weights = io::load_weights(dir), .tokenizer_if_present = load_tokenizer_if_present(dir)};
  model.weights.matmul = kernel;
  return model;
}

const io::Tokenizer& LoadedModel::tokenizer() const {
  if (!tokenizer_if_present)
    throw Error(dir.string() + " has no tokenizer files, and prompts need one",
                "add tokenizer.json, or vocab.json + merges.txt (or encoder.json + vocab.bpe), e.g. with "
                "tools/fetch_tokenizer.sh");
  return *tokenizer_if_present;
}

}  // namespace cscrub::app
