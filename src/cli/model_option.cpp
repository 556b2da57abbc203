#include "model_option.hpp"

#include <array>
#include <cstdlib>

#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"

namespace cscrub::cli {

CLI::Option* add_model_option(CLI::App& command, std::string& dir) {
  dir = io::default_model_dir().string();
  return command.add_option("--model", dir, "model directory (config.json, model.safetensors, tokenizer files)")
      ->type_name("DIR")
      ->capture_default_str();
}

CLI::Option* add_matmul_option(CLI::App& command, std::string& choice) {
  const char* from_environment = std::getenv("CSCRUB_MATMUL");
  choice = from_environment != nullptr && *from_environment != '\0' ? from_environment : "auto";
  return command
      .add_option("--matmul", choice,
                  "arithmetic of the model's matrix products: auto (the fastest here), fp32-fma, or amx-split-bf16 "
                  "(Intel AMX; as accurate as FP32); default $CSCRUB_MATMUL, else auto")
      ->type_name("KERNEL")
      ->capture_default_str();
}

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

}  // namespace cscrub::cli
