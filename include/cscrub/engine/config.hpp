// The hyper-parameters of a model (what config.json says). GPT-2, GPT-Neo and GPT-NeoX (Pythia) are one
// pre-LN transformer; each way they differ is a field here, read by the forward pass, the components, the
// memory estimate and (to mirror it) the backward pass. The defaults are GPT-2's.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace cscrub::engine {

// Which checkpoint layout the weights come in (tensor names, nn.Linear or Conv1D, fused q/k/v): the loader's
// business only. The arithmetic is in ModelConfig's other fields.
enum class Family : uint8_t { gpt2, gpt_neo, gpt_neox };
std::string_view to_string(Family family);  // "gpt2", "gpt_neo", "gpt_neox" (config.json's model_type)

enum class ActivationFunction : uint8_t {
  gelu_tanh,  // gelu_new, gelu_pytorch_tanh, gelu_fast: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  gelu_erf,   // gelu: 0.5 x (1 + erf(x / sqrt(2)))
};
std::string_view to_string(ActivationFunction activation);

struct ModelConfig {
  Family family = Family::gpt2;
  int n_layer = 0;
  int n_head = 0;
  int d_model = 0;
  int n_ctx = 0;       // maximum sequence length (n_positions, max_position_embeddings)
  int vocab_size = 0;
  // n_inner / intermediate_size, 4 * d_model unless config.json says otherwise; 0 (GPT-2's n_inner only):
  // attention-only.
  int d_mlp = 0;
  float layer_norm_epsilon = 1e-5f;

  ActivationFunction activation = ActivationFunction::gelu_tanh;
  // Attention scores are q·k times attention_scale(layer): 1/sqrt(d_head) if scale_by_sqrt_d_head (GPT-2's
  // scale_attn_weights; GPT-Neo has none), also 1/(layer + 1) if scale_by_inverse_layer (Stanford CRFM).
  bool scale_by_sqrt_d_head = true;
  bool scale_by_inverse_layer = false;
  // Per layer, how many keys a query sees (itself included): 0 for every earlier key (global attention), W for
  // GPT-Neo's local layers (keys at distance < W). Empty: every layer global.
  std::vector<int> key_window;
  // Rotary position embedding (GPT-NeoX) on the first rotary_dims dimensions of each head's q and k (0: none),
  // pairing dimension i with i + rotary_dims/2, at inverse frequencies rotary_base^(-2i/rotary_dims).
  int rotary_dims = 0;
  double rotary_base = 10000.0;
  bool learned_positions = true;  // a position embedding (wpe) is added to the token embedding
  // GPT-NeoX's use_parallel_residual: x + attn(ln1(x)) + mlp(ln2(x)): the MLP reads the block's input, not
  // the residual stream after attention.
  bool parallel_attn_mlp = false;
  // Which biases the checkpoint has (absent ones are zeros in Weights, so the forward adds nothing; a backward
  // pass computes no gradient for them).
  bool qkv_bias = true;
  bool attn_out_bias = true;
  // Logits use the token embedding (tied) or a separate unembedding matrix [vocab, d_model] (untied).
  bool tied_unembedding = true;

  int d_head() const { return d_model / n_head; }
  float attention_scale(int layer) const;
  int attention_window(int layer) const;  // 0: global
  // Every MLP is a constant (its output bias): n_inner = 0, no hidden units.
  bool attention_only() const { return d_mlp == 0; }
};

}  // namespace cscrub::engine
