// libFuzzer target: config.json. read_config must accept only shapes it can describe, and load_weights
// (with a fixed 1-layer model.safetensors from fuzz/data/tiny_model) must refuse every config the file
// does not match without first allocating what the config asks for. Only cscrub::Error may escape.
#include <cmath>

#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "fuzz_support.hpp"

namespace fs = std::filesystem;
using namespace cscrub;

namespace {

const fs::path& model_dir() { return fuzz::tiny_model_dir_with("model.safetensors"); }

void check_config(const engine::ModelConfig& config) {
  fuzz::require(config.n_layer > 0 && config.n_head > 0 && config.d_model > 0 && config.n_ctx > 0 &&
                    config.vocab_size > 0 && config.d_mlp > 0,
                "every size is positive");
  fuzz::require(config.d_model % config.n_head == 0, "n_head divides n_embd");
  fuzz::require(config.layer_norm_epsilon > 0.0f && std::isfinite(config.layer_norm_epsilon),
                "layer_norm_epsilon is a positive finite float");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path& dir = model_dir();
  const fs::path path = dir / "config.json";
  fuzz::write_file(path, data, size);
  try {
    check_config(io::read_config(path));
  } catch (const Error& error) {
    fuzz::require(std::string_view(error.what()).starts_with(path.string()), "config errors name the file");
  }
  try {
    const engine::Weights weights = io::load_weights(dir);
    check_config(weights.config);
  } catch (const Error&) {
  }
  return 0;
}
