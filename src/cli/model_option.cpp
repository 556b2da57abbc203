#include "model_option.hpp"

#include <array>

#include "cscrub/io/model_dir.hpp"

namespace cscrub::cli {

CLI::Option* add_model_option(CLI::App& command, std::string& dir) {
  dir = io::default_model_dir().string();
  return command.add_option("--model", dir, "model directory (config.json, model.safetensors, tokenizer files)")
      ->type_name("DIR")
      ->capture_default_str();
}

std::optional<io::Tokenizer> load_tokenizer_if_present(const std::filesystem::path& model_dir) {
  // The Hugging Face and the OpenAI names of the two files (see io::Tokenizer::load).
  constexpr std::array<const char*, 4> kTokenizerFiles = {"vocab.json", "merges.txt", "encoder.json", "vocab.bpe"};
  for (const char* name : kTokenizerFiles)
    if (std::filesystem::exists(model_dir / name)) return io::Tokenizer::load(model_dir);
  return std::nullopt;
}

}  // namespace cscrub::cli
