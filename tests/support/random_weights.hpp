// Small random GPT-2 weights made in C++ (no files), for engine tests that need no PyTorch.
#pragma once
#include <random>

#include "cscrub/engine/weights.hpp"

namespace cscrub::test {

inline engine::Weights random_weights(const engine::ModelConfig& config, unsigned seed) {
  engine::Weights weights = engine::allocate_weights(config);
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (engine::TensorSlot& slot : engine::tensor_slots(weights)) {
    const bool layer_norm_weight = slot.name.find("ln_") != std::string::npos && slot.name.ends_with(".weight");
    const float scale = slot.name.starts_with("w") ? 0.5f : (slot.shape.size() == 1 ? 0.1f : 0.15f);
    for (float& value : slot.data) value = (layer_norm_weight ? 1.0f : 0.0f) + scale * normal(generator);
  }
  return weights;
}

inline engine::ModelConfig small_config() {
  engine::ModelConfig config;
  config.n_layer = 3;
  config.n_head = 4;
  config.d_model = 64;
  config.d_mlp = 256;
  config.n_ctx = 32;
  config.vocab_size = 101;
  return config;
}

inline std::vector<int32_t> random_tokens(int count, int vocab, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  for (auto& token : tokens) token = pick(generator);
  return tokens;
}

}  // namespace cscrub::test
