// Single components of the model evaluated on residual-stream inputs of one's choosing: what the
// scrubber needs to recompute one head or one MLP when its inputs come from different prompts.
// Residual inputs are [batch * pos, d_model] row-major (see tensor.hpp).
#pragma once
#include <cstdint>
#include <span>

#include "cscrub/engine/tensor.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::engine {

// Head `head` of layer `layer`, its query, key and value read from (possibly) different residual
// streams (each goes through ln_1 first). Returns the head's output z · W_O[head], [batch * pos, d_model],
// without the attention output bias (a constant the residual keeps). Causal attention with the layer's rule
// (score scale, key window) and, in rotary models, q and k rotated by position.
RowMatrix head_output(const Weights& weights, int layer, int head, int batch, int positions,
                      const RowMatrix& resid_for_q, const RowMatrix& resid_for_k, const RowMatrix& resid_for_v);

// A head's output from its hook_z values: z [batch * pos, d_head] -> [batch * pos, d_model].
RowMatrix head_output_from_z(const Weights& weights, int layer, int head, const RowMatrix& z);

// The MLP of `layer` (ln_2, c_fc, activation, c_proj incl. bias) applied to a residual stream: resid_mid, or
// resid_pre in a parallel block (config.parallel_attn_mlp).
RowMatrix mlp_output(const Weights& weights, int layer, const RowMatrix& resid);

// ln_final then the unembedding, restricted to `token_ids` (all of the vocabulary when empty).
// resid_rows: [rows, d_model] -> [rows, |token_ids| or vocab].
RowMatrix unembed(const Weights& weights, const RowMatrix& resid_rows, std::span<const int32_t> token_ids);

}  // namespace cscrub::engine
