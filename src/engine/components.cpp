#include "cscrub/engine/components.hpp"

#include <cassert>

#include "ops.hpp"
#include "unembed_rows.hpp"

namespace cscrub::engine {
namespace {

// ln_1 of `resid` projected onto one head's columns of c_attn starting at `column`: [rows, d_head].
RowMatrix head_projection(const Weights& weights, int layer, const RowMatrix& normalized, int column) {
  const ModelConfig& config = weights.config;
  const LayerWeights& lw = weights.layers[layer];
  RowMatrix projected(normalized.rows(), config.d_head());
  const RowVector bias = lw.qkv_bias.segment(column, config.d_head());
  ops::linear(weights.matmul, normalized, lw.qkv_weight.middleCols(column, config.d_head()), &bias, projected);
  return projected;
}

RowMatrix ln1(const LayerWeights& lw, const ModelConfig& config, const RowMatrix& resid) {
  RowMatrix normalized(resid.rows(), resid.cols());
  ops::layer_norm(resid, config.layer_norm_epsilon, lw.ln1_weight, lw.ln1_bias, normalized);
  return normalized;
}

}  // namespace

RowMatrix head_output(const Weights& weights, int layer, int head, int batch, int positions,
                      const RowMatrix& resid_for_q, const RowMatrix& resid_for_k, const RowMatrix& resid_for_v) {
  const ModelConfig& config = weights.config;
  const LayerWeights& lw = weights.layers[layer];
  const int d_model = config.d_model, d_head = config.d_head();
  [[maybe_unused]] const int rows = batch * positions;
  assert(resid_for_q.rows() == rows && resid_for_k.rows() == rows && resid_for_v.rows() == rows);

  // Ports often share a residual stream: normalise each distinct one once.
  const RowMatrix normalized_q = ln1(lw, config, resid_for_q);
  const RowMatrix normalized_k = &resid_for_k == &resid_for_q ? normalized_q : ln1(lw, config, resid_for_k);
  const RowMatrix normalized_v = &resid_for_v == &resid_for_q   ? normalized_q
                                 : &resid_for_v == &resid_for_k ? normalized_k
                                                                : ln1(lw, config, resid_for_v);
  RowMatrix q = head_projection(weights, layer, normalized_q, head * d_head);
  RowMatrix k = head_projection(weights, layer, normalized_k, d_model + head * d_head);
  const RowMatrix v = head_projection(weights, layer, normalized_v, 2 * d_model + head * d_head);
  if (config.rotary_dims > 0) {
    const ops::RotaryTable rotary(positions, config.rotary_dims, config.rotary_base);
    ops::rotate_rows(q, 1, d_head, rotary, positions);
    ops::rotate_rows(k, 1, d_head, rotary, positions);
  }
  const ops::AttentionRule rule{config.attention_scale(layer), config.attention_window(layer)};

  RowMatrix z = RowMatrix::Zero(q.rows(), d_head);
  const Eigen::OuterStride<> stride(d_head);
#pragma omp parallel if (ops::worth_parallel_attention(batch, positions, d_head))
  {
    ops::AttentionWorkspace workspace(positions, d_head);
    RowMatrix scores(positions, positions);
#pragma omp for schedule(static)
    for (int b = 0; b < batch; ++b) {
      const size_t offset = static_cast<size_t>(b) * positions * d_head;
      ops::StridedMap q_b(q.data() + offset, positions, d_head, stride);
      ops::StridedMap k_b(k.data() + offset, positions, d_head, stride);
      ops::StridedMap v_b(v.data() + offset, positions, d_head, stride);
      ops::MutableStridedMap z_b(z.data() + offset, positions, d_head, stride);
      ops::causal_attention(q_b, k_b, v_b, rule, scores, z_b, workspace);
    }
  }
  RowMatrix out(z.rows(), d_model);
  ops::linear(weights.matmul, z, lw.out_weight.middleRows(head * d_head, d_head), nullptr, out);
  return out;
}

RowMatrix head_output_from_z(const Weights& weights, int layer, int head, const RowMatrix& z) {
  const ModelConfig& config = weights.config;
  RowMatrix out(z.rows(), config.d_model);
  ops::linear(weights.matmul, z, weights.layers[layer].out_weight.middleRows(head * config.d_head(), config.d_head()),
              nullptr, out);
  return out;
}

RowMatrix mlp_output(const Weights& weights, int layer, const RowMatrix& resid) {
  const ModelConfig& config = weights.config;
  const LayerWeights& lw = weights.layers[layer];
  RowMatrix normalized(resid.rows(), resid.cols());
  ops::layer_norm(resid, config.layer_norm_epsilon, lw.ln2_weight, lw.ln2_bias, normalized);
  RowMatrix hidden(normalized.rows(), config.d_mlp);
  ops::linear(weights.matmul, normalized, lw.fc_weight, &lw.fc_bias, hidden);
  ops::activate(config.activation, hidden);
  RowMatrix out(normalized.rows(), config.d_model);
  ops::linear(weights.matmul, hidden, lw.proj_weight, &lw.proj_bias, out);
  return out;
}

RowMatrix unembed(const Weights& weights, const RowMatrix& resid_rows, std::span<const int32_t> token_ids) {
  const ModelConfig& config = weights.config;
  RowMatrix normalized(resid_rows.rows(), resid_rows.cols());
  ops::layer_norm(resid_rows, config.layer_norm_epsilon, weights.ln_final_weight, weights.ln_final_bias, normalized);
  RowMatrix logits;
  unembed_rows(weights, normalized, token_ids, logits);
  return logits;
}

}  // namespace cscrub::engine
