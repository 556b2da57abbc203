// Allocation of GPT-2's parameters and the one list of its tensors (names and shapes as in the Hugging
// Face checkpoint), which loading, saving and checking all walk.
#include "cscrub/engine/weights.hpp"

#include <cassert>

#include "cscrub/engine/huge_pages.hpp"

namespace cscrub::engine {

Weights allocate_weights(const ModelConfig& config) {
  assert(config.n_layer > 0 && config.n_head > 0 && config.d_model > 0 && config.d_mlp >= 0);
  assert(config.n_ctx > 0 && config.vocab_size > 0 && config.d_model % config.n_head == 0);
  const int d = config.d_model;
  const int mlp = config.d_mlp;
  Weights weights;
  weights.config = config;
  weights.token_embedding.resize(config.vocab_size, d);
  weights.position_embedding.resize(config.n_ctx, d);
  weights.layers.resize(config.n_layer);
  for (LayerWeights& layer : weights.layers) {
    layer.ln1_weight.resize(d);
    layer.ln1_bias.resize(d);
    layer.qkv_weight.resize(d, 3 * d);
    layer.qkv_bias.resize(3 * d);
    layer.out_weight.resize(d, d);
    layer.out_bias.resize(d);
    layer.ln2_weight.resize(d);
    layer.ln2_bias.resize(d);
    layer.fc_weight.resize(d, mlp);
    layer.fc_bias.resize(mlp);
    layer.proj_weight.resize(mlp, d);
    layer.proj_bias.resize(d);
  }
  weights.ln_final_weight.resize(d);
  weights.ln_final_bias.resize(d);
  // The products walk weight matrices down their rows (one row of a panel per k), a new 4 KiB page at
  // almost every step: with 2 MiB pages the TLB keeps up (measured: packing them was ~8% of a GPT-2
  // forward before).
  advise_huge_pages(weights.token_embedding);
  for (LayerWeights& layer : weights.layers)
    for (RowMatrix* matrix : {&layer.qkv_weight, &layer.out_weight, &layer.fc_weight, &layer.proj_weight})
      advise_huge_pages(*matrix);
  return weights;
}

namespace {

TensorSlot vector_slot(std::string name, RowVector& vector) {
  return {std::move(name), {vector.size()}, std::span<float>(vector.data(), static_cast<size_t>(vector.size()))};
}

TensorSlot matrix_slot(std::string name, RowMatrix& matrix) {
  return {std::move(name),
          {matrix.rows(), matrix.cols()},
          std::span<float>(matrix.data(), static_cast<size_t>(matrix.size()))};
}

}  // namespace

std::vector<TensorSlot> tensor_slots(Weights& weights) {
  std::vector<TensorSlot> slots;
  slots.reserve(4 + 12 * weights.layers.size());
  slots.push_back(matrix_slot("wte.weight", weights.token_embedding));
  slots.push_back(matrix_slot("wpe.weight", weights.position_embedding));
  for (size_t l = 0; l < weights.layers.size(); ++l) {
    LayerWeights& layer = weights.layers[l];
    const std::string prefix = "h." + std::to_string(l) + ".";
    slots.push_back(vector_slot(prefix + "ln_1.weight", layer.ln1_weight));
    slots.push_back(vector_slot(prefix + "ln_1.bias", layer.ln1_bias));
    slots.push_back(matrix_slot(prefix + "attn.c_attn.weight", layer.qkv_weight));
    slots.push_back(vector_slot(prefix + "attn.c_attn.bias", layer.qkv_bias));
    slots.push_back(matrix_slot(prefix + "attn.c_proj.weight", layer.out_weight));
    slots.push_back(vector_slot(prefix + "attn.c_proj.bias", layer.out_bias));
    slots.push_back(vector_slot(prefix + "ln_2.weight", layer.ln2_weight));
    slots.push_back(vector_slot(prefix + "ln_2.bias", layer.ln2_bias));
    slots.push_back(matrix_slot(prefix + "mlp.c_fc.weight", layer.fc_weight));
    slots.push_back(vector_slot(prefix + "mlp.c_fc.bias", layer.fc_bias));
    slots.push_back(matrix_slot(prefix + "mlp.c_proj.weight", layer.proj_weight));
    slots.push_back(vector_slot(prefix + "mlp.c_proj.bias", layer.proj_bias));
  }
  slots.push_back(vector_slot("ln_f.weight", weights.ln_final_weight));
  slots.push_back(vector_slot("ln_f.bias", weights.ln_final_bias));
  return slots;
}

}  // namespace cscrub::engine
