// What the GPT-Neo and GPT-NeoX config.json fuzz targets share: the fuzzed config.json sits next to a fixed
// tiny model.safetensors of the family (fuzz/data/tiny_gpt_neo, tiny_gpt_neox). read_config must accept only
// shapes it can describe (windows per layer, rotary dimensions in pairs within a head); load_weights must refuse
// every config the weights do not match without allocating what the config asks for; and a model that loads
// must compute finite logits (a config accepted with weights it cannot drive would crash or poison the forward).
#pragma once
#include <cmath>
#include <vector>

#include "cscrub/engine/forward.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "fuzz_support.hpp"

namespace cscrub::fuzz {

inline void check_family_config(const engine::ModelConfig& config) {
  require(config.n_layer > 0 && config.n_head > 0 && config.d_model > 0 && config.n_ctx > 0 && config.vocab_size > 0 &&
              config.d_mlp > 0,
          "every size is positive");
  require(config.d_model % config.n_head == 0, "the heads divide the width");
  require(int64_t{config.n_layer} * (config.n_head + 1) <= 2048, "at most 2048 heads and MLPs");
  require(config.layer_norm_epsilon > 0.0f && std::isfinite(config.layer_norm_epsilon),
          "the epsilon is positive and finite");
  require(config.key_window.empty() || config.key_window.size() == static_cast<size_t>(config.n_layer),
          "a key window per layer, or none");
  for (int window : config.key_window) require(window >= 0, "key windows are 0 (global) or positive");
  require(config.rotary_dims >= 0 && config.rotary_dims % 2 == 0 && config.rotary_dims <= config.d_head(),
          "rotary dimensions come in pairs within a head");
  require(config.rotary_base > 0.0 && std::isfinite(config.rotary_base), "the rotary base is positive and finite");
  if (config.family != engine::Family::gpt_neox)
    require(config.rotary_dims == 0 && config.learned_positions, "only GPT-NeoX rotates positions");
}

inline int fuzz_family_config(const char* model, const uint8_t* data, size_t size) {
  const std::filesystem::path& dir = model_dir_with(model, "model.safetensors");
  const std::filesystem::path path = dir / "config.json";
  write_file(path, data, size);
  try {
    check_family_config(io::read_config(path));
  } catch (const Error& error) {
    require(std::string_view(error.what()).starts_with(path.string()), "config errors name the file");
  }
  try {
    const engine::Weights weights = io::load_weights(dir);
    check_family_config(weights.config);
    const int positions = std::min(weights.config.n_ctx, 3);
    std::vector<int32_t> tokens;
    for (int position = 0; position < positions; ++position) tokens.push_back(position % weights.config.vocab_size);
    const engine::RowMatrix logits = engine::forward(weights, {tokens, 1, positions}, {});
    require(logits.rows() == positions && logits.cols() == weights.config.vocab_size, "a logit row per position");
    require(logits.allFinite(), "the logits of finite weights are finite");
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace cscrub::fuzz
