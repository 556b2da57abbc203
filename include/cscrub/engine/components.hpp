// Single components of the model evaluated on residual-stream inputs of one's choosing: what the
// scrubber needs to recompute one head or one MLP when its inputs come from different prompts.
// Residual inputs are [batch * pos, d_model] row-major (see tensor.hpp).
#pragma once
#include <cstdint>
#include <span>

#include "cscrub/engine/resume.hpp"
#include "cscrub/engine/tensor.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::engine {

// Head `head` of layer `layer`, its query, key and value read from (possibly) different residual
// streams (each goes through ln_1 first). Returns the head's output z · W_O[head], [batch * pos, d_model],
// without the attention output bias (a constant the residual keeps). Causal attention with the layer's rule
// (score scale, key window) and, in rotary models, q and k rotated by position.
RowMatrix head_output(const Weights& weights, int layer, int head, int batch, int positions,
                      const RowMatrix& resid_for_q, const RowMatrix& resid_for_k, const RowMatrix& resid_for_v);

// The residual streams a head's query, key and value read at the suffix rows of a SuffixRows, each through
// ln_1 ([rows, d_model]); a port without a stream takes the cached value (the clean pass's q, k or v there).
struct HeadStreams {
  const RowMatrix* q = nullptr;
  const RowMatrix* k = nullptr;
  const RowMatrix* v = nullptr;
};

// Head `head` of layer `layer` at the suffix rows of `rows`: its z ([rows.rows(), d_head], hook_z's values of
// that head), with the keys and values of the positions before rows.start from rows.cache. Products, layer
// norm and attention as the forward computes them, so with the clean pass's streams the result is its hook_z
// bit for bit.
RowMatrix head_z(const Weights& weights, int layer, int head, const SuffixRows& rows, const HeadStreams& streams);

// The attention layer's output z · W_O + b_O (hook_attn_out) from every head's z side by side ([rows, d_model]),
// computed as the forward computes it.
RowMatrix attention_output(const Weights& weights, int layer, const RowMatrix& z);

// A head's output from its hook_z values: z [batch * pos, d_head] -> [batch * pos, d_model].
RowMatrix head_output_from_z(const Weights& weights, int layer, int head, const RowMatrix& z);

// The MLP of `layer` (ln_2, c_fc, activation, c_proj incl. bias) applied to a residual stream: resid_mid, or
// resid_pre in a parallel block (config.parallel_attn_mlp).
RowMatrix mlp_output(const Weights& weights, int layer, const RowMatrix& resid);

// ln_final then the unembedding, restricted to `token_ids` (all of the vocabulary when empty).
// resid_rows: [rows, d_model] -> [rows, |token_ids| or vocab].
RowMatrix unembed(const Weights& weights, const RowMatrix& resid_rows, std::span<const int32_t> token_ids);

}  // namespace cscrub::engine
