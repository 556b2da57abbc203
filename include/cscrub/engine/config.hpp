// The hyper-parameters of a GPT-2-architecture model (what config.json says).
#pragma once

namespace cscrub::engine {

struct ModelConfig {
  int n_layer = 0;
  int n_head = 0;
  int d_model = 0;
  int n_ctx = 0;       // maximum sequence length (n_positions)
  int vocab_size = 0;
  int d_mlp = 0;       // n_inner, 4 * d_model unless config.json says otherwise; 0: attention-only
  float layer_norm_epsilon = 1e-5f;

  int d_head() const { return d_model / n_head; }
  // Every MLP is a constant (its output bias): n_inner = 0.
  bool attention_only() const { return d_mlp == 0; }
};

}  // namespace cscrub::engine
