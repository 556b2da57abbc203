// A model's parameters in one layout for every family (Conv1D's: weights are input-major, y = x · W + b).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
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
  RowMatrix token_embedding;     // wte / embed_in [V, D]; also the unembedding when tied
  RowMatrix position_embedding;  // wpe [n_ctx, D]; empty without learned positions (rotary models)
  std::vector<LayerWeights> layers;
  RowVector ln_final_weight, ln_final_bias;  // [D]
  RowMatrix unembedding;  // lm_head / embed_out [V, D] when untied; empty when tied
  // The arithmetic of every product with these weights (forward passes, components, logits).
  MatmulKernel matmul = fastest_matmul_kernel();

  // The rows logits are dot products with: [V, D] (logits = ln_final(x) · unembedding_rows()ᵀ, no bias).
  const RowMatrix& unembedding_rows() const { return config.tied_unembedding ? token_embedding : unembedding; }
};

// Allocates every tensor with the shape `config` implies (values uninitialised, but the biases the family's
// checkpoints do not have, which are zero).
Weights allocate_weights(const ModelConfig& config);

// How many floats Weights holds for `config` (saturating at UINT64_MAX; every size is at most 2^30): what a
// checkpoint must fill and what the memory estimate counts. Absent biases count (Weights keeps them as zeros).
uint64_t parameter_count(const ModelConfig& config);

// One tensor as the family's checkpoint names and stores it, and where its values live in Weights. Weights keep
// one layout for every family (Conv1D's input-major [in, out] matrices, q | k | v columns each split into heads),
// so that every family runs the same kernels; a checkpoint's nn.Linear [out, in] matrices are transposed into it
// and GPT-NeoX's per-head fused q/k/v rows are reordered.
struct TensorSlot {
  std::string name;            // without the family's prefix, e.g. "h.3.attn.c_attn.weight", "layers.0.attention.dense.weight"
  std::vector<int64_t> shape;  // as stored: [n] or [rows, cols]
  // The destination: a matrix of row stride target_stride starting at target. A stored [rows, cols] matrix lands
  // at (r, c), or at (c, r) when transposed; a vector in the destination's first row.
  float* target = nullptr;
  int64_t target_stride = 0;
  bool transposed = false;
  // Stored row r (a vector's element r) goes to destination column columns[r] (empty: column r).
  std::vector<int> columns;

  int64_t element_count() const;
  // The destination as one span in the stored order, when the layouts agree (the loader converts straight into it).
  std::optional<std::span<float>> contiguous() const;
  // Stored-order values (element_count() of them) into Weights, and back.
  void write(std::span<const float> stored) const;
  void read(std::span<float> stored) const;
};

// The single list of the family's tensors (config.family; the unembedding only when untied): loading, saving
// and checking all walk it.
std::vector<TensorSlot> tensor_slots(Weights& weights);

// The name under which a checkpoint of `family` may store the unembedding ("lm_head.weight", "embed_out.weight"):
// a slot when untied; when tied, a copy of the token embedding that the loader checks.
std::string unembedding_name(Family family);

}  // namespace cscrub::engine
