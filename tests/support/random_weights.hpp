// Small random weights of any family made in C++ (no files), for engine tests that need no PyTorch.
#pragma once
#include <random>

#include "cscrub/engine/weights.hpp"

namespace cscrub::test {

inline engine::Weights random_weights(const engine::ModelConfig& config, unsigned seed) {
  engine::Weights weights = engine::allocate_weights(config);
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values;
  for (const engine::TensorSlot& slot : engine::tensor_slots(weights)) {
    const bool norm = slot.name.find("ln_") != std::string::npos || slot.name.find("layernorm") != std::string::npos ||
                      slot.name.find("layer_norm") != std::string::npos;
    const bool layer_norm_weight = norm && slot.name.ends_with(".weight");
    const bool embedding = slot.name.starts_with("w") || slot.name.starts_with("embed") || slot.name.starts_with("lm_head");
    const float scale = embedding ? 0.5f : (slot.shape.size() == 1 ? 0.1f : 0.15f);
    values.resize(static_cast<size_t>(slot.element_count()));
    for (float& value : values) value = (layer_norm_weight ? 1.0f : 0.0f) + scale * normal(generator);
    slot.write(values);
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

// small_config's shape as GPT-Neo computes: unscaled scores, a local layer of 3 keys between global ones, no
// q/k/v biases.
inline engine::ModelConfig small_gpt_neo_config() {
  engine::ModelConfig config = small_config();
  config.family = engine::Family::gpt_neo;
  config.scale_by_sqrt_d_head = false;
  config.qkv_bias = false;
  config.key_window = {0, 3, 0};
  return config;
}

// small_config's shape as Pythia computes: rotary q/k on a quarter of each head, parallel attention and MLP,
// exact GELU, an untied unembedding, no position embedding.
inline engine::ModelConfig small_gpt_neox_config() {
  engine::ModelConfig config = small_config();
  config.family = engine::Family::gpt_neox;
  config.activation = engine::ActivationFunction::gelu_erf;
  config.rotary_dims = 4;
  config.learned_positions = false;
  config.parallel_attn_mlp = true;
  config.tied_unembedding = false;
  return config;
}

// small_config as each family computes it: GPT-2, GPT-Neo, Pythia.
inline std::vector<engine::ModelConfig> small_configs_of_every_family() {
  return {small_config(), small_gpt_neo_config(), small_gpt_neox_config()};
}

inline std::vector<int32_t> random_tokens(int count, int vocab, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  for (auto& token : tokens) token = pick(generator);
  return tokens;
}

}  // namespace cscrub::test
