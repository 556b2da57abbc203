// Allocation of a model's parameters and the one list of its tensors per family (names and shapes as in the
// Hugging Face checkpoint, and where each lands in Weights), which loading, saving and checking all walk.
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
  weights.position_embedding.resize(config.learned_positions ? config.n_ctx : 0, d);
  weights.layers.resize(config.n_layer);
  for (LayerWeights& layer : weights.layers) {
    layer.ln1_weight.resize(d);
    layer.ln1_bias.resize(d);
    layer.qkv_weight.resize(d, 3 * d);
    layer.qkv_bias.resize(3 * d);
    if (!config.qkv_bias) layer.qkv_bias.setZero();
    layer.out_weight.resize(d, d);
    layer.out_bias.resize(d);
    if (!config.attn_out_bias) layer.out_bias.setZero();
    layer.ln2_weight.resize(d);
    layer.ln2_bias.resize(d);
    layer.fc_weight.resize(d, mlp);
    layer.fc_bias.resize(mlp);
    layer.proj_weight.resize(mlp, d);
    layer.proj_bias.resize(d);
  }
  weights.ln_final_weight.resize(d);
  weights.ln_final_bias.resize(d);
  if (!config.tied_unembedding) weights.unembedding.resize(config.vocab_size, d);
  // The products walk weight matrices down their rows (one row of a panel per k), a new 4 KiB page at
  // almost every step: with 2 MiB pages the TLB keeps up (measured: packing them was ~8% of a GPT-2
  // forward before).
  advise_huge_pages(weights.token_embedding);
  if (!config.tied_unembedding) advise_huge_pages(weights.unembedding);
  for (LayerWeights& layer : weights.layers)
    for (RowMatrix* matrix : {&layer.qkv_weight, &layer.out_weight, &layer.fc_weight, &layer.proj_weight})
      advise_huge_pages(*matrix);
  return weights;
}

uint64_t parameter_count(const ModelConfig& config) {
  const uint64_t d = static_cast<uint64_t>(config.d_model), mlp = static_cast<uint64_t>(config.d_mlp);
  const uint64_t per_layer = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * mlp + mlp) + (mlp * d + d);
  const uint64_t vocab = static_cast<uint64_t>(config.vocab_size) * (config.tied_unembedding ? 1 : 2);
  const uint64_t positions = config.learned_positions ? static_cast<uint64_t>(config.n_ctx) : 0;
  uint64_t layers = 0, count = 0;
  if (__builtin_mul_overflow(per_layer, static_cast<uint64_t>(config.n_layer), &layers) ||
      __builtin_add_overflow(layers, (vocab + positions + 2) * d, &count))
    return UINT64_MAX;
  return count;
}

uint64_t weight_bytes(const ModelConfig& config) {
  const uint64_t count = parameter_count(config);
  return count > UINT64_MAX / sizeof(float) ? UINT64_MAX : sizeof(float) * count;
}

int64_t TensorSlot::element_count() const {
  int64_t count = 1;
  for (int64_t extent : shape) count *= extent;
  return count;
}

std::optional<std::span<float>> TensorSlot::contiguous() const {
  if (transposed || !columns.empty()) return std::nullopt;
  if (shape.size() == 2 && target_stride != shape[1]) return std::nullopt;
  return std::span<float>(target, static_cast<size_t>(element_count()));
}

namespace {

// Calls visit(stored index, destination pointer) for every element, in stored order.
template <typename Visit>
void for_each_element(const TensorSlot& slot, Visit&& visit) {
  const int64_t rows = slot.shape.size() == 2 ? slot.shape[0] : 1;
  const int64_t cols = slot.shape.back();
  auto column = [&](int64_t r) { return slot.columns.empty() ? r : static_cast<int64_t>(slot.columns[static_cast<size_t>(r)]); };
  if (slot.shape.size() == 1) {
    for (int64_t i = 0; i < cols; ++i) visit(i, slot.target + column(i));
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float* destination = slot.transposed ? slot.target + c * slot.target_stride + column(r)
                                           : slot.target + r * slot.target_stride + c;
      visit(r * cols + c, destination);
    }
  }
}

}  // namespace

void TensorSlot::write(std::span<const float> stored) const {
  assert(static_cast<int64_t>(stored.size()) == element_count());
  for_each_element(*this, [&](int64_t i, float* destination) { *destination = stored[static_cast<size_t>(i)]; });
}

void TensorSlot::read(std::span<float> stored) const {
  assert(static_cast<int64_t>(stored.size()) == element_count());
  for_each_element(*this, [&](int64_t i, const float* destination) { stored[static_cast<size_t>(i)] = *destination; });
}

namespace {

TensorSlot vector_slot(std::string name, RowVector& vector, std::vector<int> columns = {}) {
  return {std::move(name), {vector.size()}, vector.data(), vector.size(), false, std::move(columns)};
}

// A matrix stored as Weights keep it.
TensorSlot matrix_slot(std::string name, RowMatrix& matrix) {
  return {std::move(name), {matrix.rows(), matrix.cols()}, matrix.data(), matrix.cols(), false, {}};
}

// An nn.Linear weight [out, in] into columns [first, first + out) of an [in, *] matrix, or into the columns
// `columns` lists.
TensorSlot linear_slot(std::string name, RowMatrix& matrix, int64_t out, int64_t first = 0, std::vector<int> columns = {}) {
  return {std::move(name), {out, matrix.rows()}, matrix.data() + first, matrix.cols(), true, std::move(columns)};
}

// GPT-NeoX's fused query_key_value output is viewed as [heads, 3, d_head]: stored row h*3*d_head + part*d_head + i
// is column part*d_model + h*d_head + i of q | k | v.
std::vector<int> per_head_qkv_columns(const ModelConfig& config) {
  const int d_head = config.d_head();
  std::vector<int> columns;
  columns.reserve(static_cast<size_t>(3 * config.d_model));
  for (int h = 0; h < config.n_head; ++h)
    for (int part = 0; part < 3; ++part)
      for (int i = 0; i < d_head; ++i) columns.push_back(part * config.d_model + h * d_head + i);
  return columns;
}

void add_gpt2_layer(std::vector<TensorSlot>& slots, const std::string& p, LayerWeights& layer) {
  slots.push_back(vector_slot(p + "ln_1.weight", layer.ln1_weight));
  slots.push_back(vector_slot(p + "ln_1.bias", layer.ln1_bias));
  slots.push_back(matrix_slot(p + "attn.c_attn.weight", layer.qkv_weight));
  slots.push_back(vector_slot(p + "attn.c_attn.bias", layer.qkv_bias));
  slots.push_back(matrix_slot(p + "attn.c_proj.weight", layer.out_weight));
  slots.push_back(vector_slot(p + "attn.c_proj.bias", layer.out_bias));
  slots.push_back(vector_slot(p + "ln_2.weight", layer.ln2_weight));
  slots.push_back(vector_slot(p + "ln_2.bias", layer.ln2_bias));
  slots.push_back(matrix_slot(p + "mlp.c_fc.weight", layer.fc_weight));
  slots.push_back(vector_slot(p + "mlp.c_fc.bias", layer.fc_bias));
  slots.push_back(matrix_slot(p + "mlp.c_proj.weight", layer.proj_weight));
  slots.push_back(vector_slot(p + "mlp.c_proj.bias", layer.proj_bias));
}

void add_gpt_neo_layer(std::vector<TensorSlot>& slots, const std::string& p, LayerWeights& layer, const ModelConfig& config) {
  const int d = config.d_model;
  slots.push_back(vector_slot(p + "ln_1.weight", layer.ln1_weight));
  slots.push_back(vector_slot(p + "ln_1.bias", layer.ln1_bias));
  slots.push_back(linear_slot(p + "attn.attention.q_proj.weight", layer.qkv_weight, d, 0));
  slots.push_back(linear_slot(p + "attn.attention.k_proj.weight", layer.qkv_weight, d, d));
  slots.push_back(linear_slot(p + "attn.attention.v_proj.weight", layer.qkv_weight, d, 2 * d));
  slots.push_back(linear_slot(p + "attn.attention.out_proj.weight", layer.out_weight, d));
  slots.push_back(vector_slot(p + "attn.attention.out_proj.bias", layer.out_bias));
  slots.push_back(vector_slot(p + "ln_2.weight", layer.ln2_weight));
  slots.push_back(vector_slot(p + "ln_2.bias", layer.ln2_bias));
  slots.push_back(linear_slot(p + "mlp.c_fc.weight", layer.fc_weight, config.d_mlp));
  slots.push_back(vector_slot(p + "mlp.c_fc.bias", layer.fc_bias));
  slots.push_back(linear_slot(p + "mlp.c_proj.weight", layer.proj_weight, d));
  slots.push_back(vector_slot(p + "mlp.c_proj.bias", layer.proj_bias));
}

void add_gpt_neox_layer(std::vector<TensorSlot>& slots, const std::string& p, LayerWeights& layer,
                        const ModelConfig& config, const std::vector<int>& qkv_columns) {
  const int d = config.d_model;
  slots.push_back(vector_slot(p + "input_layernorm.weight", layer.ln1_weight));
  slots.push_back(vector_slot(p + "input_layernorm.bias", layer.ln1_bias));
  slots.push_back(linear_slot(p + "attention.query_key_value.weight", layer.qkv_weight, 3 * d, 0, qkv_columns));
  if (config.qkv_bias) slots.push_back(vector_slot(p + "attention.query_key_value.bias", layer.qkv_bias, qkv_columns));
  slots.push_back(linear_slot(p + "attention.dense.weight", layer.out_weight, d));
  if (config.attn_out_bias) slots.push_back(vector_slot(p + "attention.dense.bias", layer.out_bias));
  slots.push_back(vector_slot(p + "post_attention_layernorm.weight", layer.ln2_weight));
  slots.push_back(vector_slot(p + "post_attention_layernorm.bias", layer.ln2_bias));
  slots.push_back(linear_slot(p + "mlp.dense_h_to_4h.weight", layer.fc_weight, config.d_mlp));
  slots.push_back(vector_slot(p + "mlp.dense_h_to_4h.bias", layer.fc_bias));
  slots.push_back(linear_slot(p + "mlp.dense_4h_to_h.weight", layer.proj_weight, d));
  slots.push_back(vector_slot(p + "mlp.dense_4h_to_h.bias", layer.proj_bias));
}

}  // namespace

std::string unembedding_name(Family family) { return family == Family::gpt_neox ? "embed_out.weight" : "lm_head.weight"; }

std::vector<TensorSlot> tensor_slots(Weights& weights) {
  const ModelConfig& config = weights.config;
  std::vector<TensorSlot> slots;
  slots.reserve(5 + 13 * weights.layers.size());
  const bool neox = config.family == Family::gpt_neox;
  slots.push_back(matrix_slot(neox ? "embed_in.weight" : "wte.weight", weights.token_embedding));
  if (config.learned_positions) slots.push_back(matrix_slot("wpe.weight", weights.position_embedding));
  const std::vector<int> qkv_columns = neox ? per_head_qkv_columns(config) : std::vector<int>{};
  for (size_t l = 0; l < weights.layers.size(); ++l) {
    const std::string index = std::to_string(l);
    switch (config.family) {
      case Family::gpt2: add_gpt2_layer(slots, "h." + index + ".", weights.layers[l]); break;
      case Family::gpt_neo: add_gpt_neo_layer(slots, "h." + index + ".", weights.layers[l], config); break;
      case Family::gpt_neox: add_gpt_neox_layer(slots, "layers." + index + ".", weights.layers[l], config, qkv_columns); break;
    }
  }
  slots.push_back(vector_slot(neox ? "final_layer_norm.weight" : "ln_f.weight", weights.ln_final_weight));
  slots.push_back(vector_slot(neox ? "final_layer_norm.bias" : "ln_f.bias", weights.ln_final_bias));
  if (!config.tied_unembedding) slots.push_back(matrix_slot(unembedding_name(config.family), weights.unembedding));
  return slots;
}

}  // namespace cscrub::engine
