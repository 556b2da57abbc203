// GPT-2's parameters in the Hugging Face layout (Conv1D weights are input-major: y = x · W + b).
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cscrub/engine/config.hpp"
#include "cscrub/engine/matmul.hpp"
#include "cscrub/engine/tensor.hpp"

namespace cscrub::engine {

struct LayerWeights {
  RowVector ln1_weight, ln1_bias;  // [D]
  RowMatrix qkv_weight;            // [D, 3D]: columns q | k | v, each split into heads of d_head
  RowVector qkv_bias;              // [3D]
  RowMatrix out_weight;            // [D, D]: rows h * d_head .. (h+1) * d_head - 1 belong to head h
  RowVector out_bias;              // [D]
  RowVector ln2_weight, ln2_bias;  // [D]
  RowMatrix fc_weight;             // [D, d_mlp]
  RowVector fc_bias;               // [d_mlp]
  RowMatrix proj_weight;           // [d_mlp, D]
  RowVector proj_bias;             // [D]
};

struct Weights {
  ModelConfig config;
  RowMatrix token_embedding;     // wte [V, D]; also the (tied) unembedding
  RowMatrix position_embedding;  // wpe [n_ctx, D]
  std::vector<LayerWeights> layers;
  RowVector ln_final_weight, ln_final_bias;  // [D]
  // The arithmetic of every product with these weights (forward passes, components, logits).
  MatmulKernel matmul = fastest_matmul_kernel();
};

// The bytes of every tensor of a model of this shape, in float32 (what Weights holds).
uint64_t weight_bytes(const ModelConfig& config);

// Allocates every tensor with the shape `config` implies (values uninitialised).
Weights allocate_weights(const ModelConfig& config);

// One tensor as the Hugging Face checkpoint names it (without any `transformer.` prefix).
struct TensorSlot {
  std::string name;                 // e.g. "h.3.attn.c_attn.weight"
  std::vector<int64_t> shape;       // as stored in the checkpoint: [D] or [rows, cols]
  std::span<float> data;            // row-major storage inside Weights
};

// The single list of GPT-2's tensors: loading, saving and checking all walk it.
std::vector<TensorSlot> tensor_slots(Weights& weights);

}  // namespace cscrub::engine
