// The backward pass: the gradient of a scalar metric, summed over the batch, with respect to the activations of
// a forward pass (no weight gradients). It runs like the forward (free functions over Eigen matrices, one
// workspace, the same matrix-product kernels, products of the activation gradients with the transposed weights)
// and keeps its results the same bits whatever the thread count or the other sequences of the batch.
//
// A forward_for_backward() fills a BackwardTape with what the backward reads (llm.c's choice, trimmed): the
// residual stream at each stage, q/k/v and the MLP pre-activations; attention patterns, layer-norm statistics
// and GELU outputs are recomputed. The caller turns the logits into a metric and its gradient with respect to
// those logits (engine/logit_metrics.hpp), and backward() carries that gradient down to the embeddings.
//
// Each way the families' forwards differ (config.hpp) is mirrored in one place: the layer's attention rule (score
// scale, key window: ops::attention_rule, shared with the forward; ops::causal_attention_backward), the rotary
// embedding (ops::rotate_rows_back, the transpose rotation, on the q/k gradients), the activation
// (ops::activate_backward), the MLP's input in parallel blocks and the untied unembedding (backward.cpp).
#pragma once
#include <cstdint>
#include <memory>

#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/hooks.hpp"
#include "cscrub/engine/tensor.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::engine {

struct TapeStorage;

// What a forward keeps for the backward: per layer the residual stream entering the block and between its
// attention and MLP, q/k/v and the MLP's pre-activation, and the final residual stream (rows x (9 d_model + ...)
// floats per layer for GPT-2, see backward_tape_bytes). Reused by the next forward_for_backward of the same
// shape, like ForwardScratch.
class BackwardTape {
 public:
  BackwardTape();
  ~BackwardTape();
  BackwardTape(BackwardTape&&) noexcept;
  BackwardTape& operator=(BackwardTape&&) noexcept;

  // The batch shape of the forward that filled it; 0 before one did.
  int batch() const;
  int positions() const;

  // The engine's own access (forward.cpp, backward.cpp).
  TapeStorage& storage_for(const ModelConfig& config, int rows);
  const TapeStorage* storage() const { return storage_.get(); }

 private:
  std::unique_ptr<TapeStorage> storage_;
};

// forward_into's pass (the same logits, bit for bit) that also fills `tape`. Its last block runs for every row
// (the backward needs them all). `interventions` may read any hook point and overwrite the embeddings or the
// residual stream: the backward then differentiates the model's computation at the values recorded. (An
// overwritten q, k, v, pattern, z, result or MLP activation is recorded only where the tape keeps it, and is not
// itself differentiated.) Throws cscrub::Error if `interventions` wants a head's or MLP's own input
// (hook_q_input, ..., hook_mlp_in): the backward reads the shared residual stream.
void forward_for_backward(const Weights& weights, const TokenBatch& tokens, const LogitRequest& request,
                          RowMatrix& logits, BackwardTape& tape, Interventions* interventions = nullptr,
                          ForwardScratch* scratch = nullptr);

// Receives the gradients of the inputs of the discovery graph's destinations (EAP-IG and MIB: each head's own
// q, k and v input, each MLP's input, the final residual stream) as the backward produces them, from the last
// layer down, so that a caller can use each layer's before the next overwrites it.
class DestinationGradients {
 public:
  virtual ~DestinationGradients() = default;
  // d metric / d (the final residual stream, ln_f's input): [batch * positions, d_model]. Called first.
  virtual void final_residual(const RowMatrix& gradient) = 0;
  // Layer `layer`'s destinations, [(3 n_head + 1) * rows, d_model] with rows = batch * positions: block i (rows
  // i * rows to (i + 1) * rows - 1) is the gradient with respect to destination i of the layer in EAP-IG's order:
  // the q input of every head, then the k inputs, the v inputs, and last the MLP's input (hook_mlp_in).
  virtual void layer_inputs(int layer, const RowMatrix& gradients) = 0;
};

struct BackwardWorkspace;

// The backward's buffers, for a caller that runs many (see ForwardScratch).
class BackwardScratch {
 public:
  BackwardScratch();
  ~BackwardScratch();
  BackwardScratch(BackwardScratch&&) noexcept;
  BackwardScratch& operator=(BackwardScratch&&) noexcept;

  BackwardWorkspace& workspace(const ModelConfig& config, int rows, bool per_head_inputs);

 private:
  std::unique_ptr<BackwardWorkspace> workspace_;
};

// Whether backward() offers the gradient of `site` to its `gradients`: hook_embed, hook_pos_embed,
// hook_resid_pre, hook_q_input, hook_k_input, hook_v_input, attn.hook_q, attn.hook_k, attn.hook_v,
// attn.hook_rot_q, attn.hook_rot_k (rotary models), attn.hook_z,
// attn.hook_result, hook_attn_out, hook_resid_mid, hook_mlp_in, mlp.hook_pre, mlp.hook_post, hook_mlp_out,
// hook_resid_post (the final residual stream is the last layer's hook_resid_post).
bool has_gradient(Site site);

// The gradient of metric = Σ logit_gradient ∘ logits, i.e. `logit_gradient` holds d metric / d logits for the
// rows and columns `request` asks for (shaped as forward_for_backward's logits for it), with respect to the
// activations of the forward `tape` holds. `gradients` is asked once per hook point that has_gradient() and
// visited with each wanted gradient, contiguous in the hook's layout ([batch, pos, ...]); changing it changes
// nothing. `destinations`, when given, receives the discovery graph's destination gradients. Throws
// cscrub::Error for a tape that holds no forward or a gradient of the wrong shape.
void backward(const Weights& weights, const BackwardTape& tape, const LogitRequest& request,
              const RowMatrix& logit_gradient, Interventions* gradients = nullptr,
              DestinationGradients* destinations = nullptr, BackwardScratch* scratch = nullptr);

// Memory, for estimates before a run: the tape of `rows` rows, and the backward's workspace (its buffers and
// its products' packing on `threads` threads; the destination blocks when per-head inputs are wanted).
uint64_t backward_tape_bytes(const ModelConfig& config, int rows);
uint64_t backward_workspace_bytes(const ModelConfig& config, MatmulKernel kernel, int rows, int threads,
                                  bool per_head_inputs);
// Floating-point work of one backward (multiply-adds counted as 2), for benchmarks: the products with the
// transposed weights, the attention gradients and the pattern recomputed, every row of every block.
double backward_flops(const ModelConfig& config, int batch, int positions);

}  // namespace cscrub::engine
