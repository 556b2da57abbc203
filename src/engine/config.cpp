#include "cscrub/engine/config.hpp"

#include <cmath>

namespace cscrub::engine {

std::string_view to_string(Family family) {
  switch (family) {
    case Family::gpt2: return "gpt2";
    case Family::gpt_neo: return "gpt_neo";
    case Family::gpt_neox: return "gpt_neox";
  }
  return "?";
}

std::string_view to_string(ActivationFunction activation) {
  switch (activation) {
    case ActivationFunction::gelu_tanh: return "gelu (tanh approximation)";
    case ActivationFunction::gelu_erf: return "gelu (exact, erf)";
  }
  return "?";
}

float ModelConfig::attention_scale(int layer) const {
  // One factor, computed in double and rounded once: Hugging Face divides twice in float (by sqrt(d_head), then
  // by layer + 1), which differs by at most an ulp.
  double scale = 1.0;
  if (scale_by_sqrt_d_head) scale /= std::sqrt(static_cast<double>(d_head()));
  if (scale_by_inverse_layer) scale /= static_cast<double>(layer + 1);
  return static_cast<float>(scale);
}

int ModelConfig::attention_window(int layer) const {
  return key_window.empty() ? 0 : key_window[static_cast<size_t>(layer)];
}

}  // namespace cscrub::engine
