#include "model_option.hpp"

#include <cstdlib>

#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"

namespace cscrub::cli {

CLI::Option* add_model_option(CLI::App& command, std::string& dir) {
  // Without $CSCRUB_MODEL and bundled files the option has no default: a command that is not given --model
  // then says why, when it runs (--help must still work).
  try {
    dir = io::default_model_dir().string();
  } catch (const Error& error) {
    command.parse_complete_callback([&command, message = std::string(error.what()), hint = error.hint()] {
      if (command.count("--model") == 0) throw Error(message, "give --model DIR, or " + hint);
    });
  }
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

}  // namespace cscrub::cli
