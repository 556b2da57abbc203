#include "cscrub/engine/components.hpp"

#include <cassert>

#include "cscrub/error.hpp"
#include "ops.hpp"
#include "suffix_attention.hpp"
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

RowMatrix head_z(const Weights& weights, int layer, int head, const SuffixRows& rows, const HeadStreams& streams) {
  const ModelConfig& config = weights.config;
  const LayerWeights& lw = weights.layers[static_cast<size_t>(layer)];
  const int d_model = config.d_model, d_head = config.d_head(), length = rows.length();
  const bool every_port_given = streams.q != nullptr && streams.k != nullptr && streams.v != nullptr;
  check_suffix_rows(config, rows, !every_port_given);
  for (const RowMatrix* stream : {streams.q, streams.k, streams.v})
    if (stream != nullptr && (stream->rows() != rows.rows() || stream->cols() != d_model))
      throw Error("head_z: a stream of " + std::to_string(stream->rows()) + " x " + std::to_string(stream->cols()) +
                  " values for " + std::to_string(rows.rows()) + " rows of d_model " + std::to_string(d_model));

  // Each port's values at the suffix rows: projected from its stream (ports sharing a stream share its ln_1),
  // or read from the cache.
  RowMatrix normalized[3], projected[3];
  const ops::RotaryTable rotary(rows.positions, config.rotary_dims, config.rotary_base);
  const RowMatrix* port_streams[3] = {streams.q, streams.k, streams.v};
  struct PortRows {
    const float* first;  // suffix row 0 of sequence 0 (cached: of the sequence's cache sequence, added below)
    Eigen::Index stride;
    bool cached;
  } ports[3];
  for (int port = 0; port < 3; ++port) {
    const Eigen::Index column = static_cast<Eigen::Index>(port) * d_model + static_cast<Eigen::Index>(head) * d_head;
    if (port_streams[port] == nullptr) {
      ports[port] = {rows.cache->layers[static_cast<size_t>(layer)].data() + column, 3 * d_model, true};
      continue;
    }
    int shared = -1;
    for (int earlier = 0; earlier < port && shared < 0; ++earlier)
      if (port_streams[earlier] == port_streams[port]) shared = earlier;
    if (shared < 0) normalized[port] = ln1(lw, config, *port_streams[port]);
    const RowMatrix& input = normalized[shared < 0 ? port : shared];
    projected[port] = head_projection(weights, layer, input, static_cast<int>(column));
    if (port < 2 && config.rotary_dims > 0)  // queries and keys rotated at their positions, as the cached ones
      ops::rotate_rows(projected[port], 1, d_head, rotary, length, rows.start);
    ports[port] = {projected[port].data(), d_head, false};
  }
  // Row r of sequence i of a port.
  auto port_row = [&](int port, int sequence, int r) {
    const PortRows& p = ports[port];
    const Eigen::Index row = p.cached ? static_cast<Eigen::Index>(rows.cache_sequence[static_cast<size_t>(sequence)]) *
                                                rows.positions + rows.start + r
                                      : static_cast<Eigen::Index>(sequence) * length + r;
    return p.first + row * p.stride;
  };

  RowMatrix z(rows.rows(), d_head);
#pragma omp parallel if (ops::worth_parallel_attention(rows.sequences, rows.positions, d_head))
  {
    SuffixAttention attention(rows.positions, d_head, {config.attention_scale(layer), config.attention_window(layer)});
#pragma omp for schedule(static)
    for (int sequence = 0; sequence < rows.sequences; ++sequence) {
      attention.gather(rows, layer, head, sequence, {port_row(1, sequence, 0), ports[1].stride},
                       {port_row(2, sequence, 0), ports[2].stride});
      for (int r = 0; r < length; ++r)
        attention.attend(port_row(0, sequence, r), rows.start + r,
                         z.row(static_cast<Eigen::Index>(sequence) * length + r).data());
    }
  }
  return z;
}

RowMatrix attention_output(const Weights& weights, int layer, const RowMatrix& z) {
  const LayerWeights& lw = weights.layers[static_cast<size_t>(layer)];
  RowMatrix out(z.rows(), weights.config.d_model);
  ops::linear(weights.matmul, z, lw.out_weight, &lw.out_bias, out);
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
