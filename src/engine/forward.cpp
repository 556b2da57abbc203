// The batched forward pass. Activations are [rows, width] row-major with rows = batch * pos. Every family runs
// this one pass; where they differ it reads a field of ModelConfig (see config.hpp): the attention rule per
// layer (score scale, key window), rotary q/k, parallel attention and MLP, the activation, learned positions,
// the unembedding.
#include "cscrub/engine/forward.hpp"

#include <omp.h>

#include <algorithm>
#include <string>

#include "cscrub/engine/huge_pages.hpp"
#include "cscrub/engine/resume.hpp"
#include "cscrub/error.hpp"
#include "hook_sink.hpp"
#include "ops.hpp"
#include "suffix_attention.hpp"
#include "unembed_rows.hpp"

namespace cscrub::engine {

namespace {

// What a block's products (q/k/v, MLP in and out; the attention output is smaller) pack, at most, per buffer.
gemm::PackingSizes block_packing(const ModelConfig& config, MatmulKernel kernel, int rows, int threads) {
  gemm::PackingSizes largest{0, 0};
  const int d = config.d_model, d_mlp = config.d_mlp;
  for (const auto& [depth, columns] : {std::pair{d, 3 * d}, std::pair{d, d_mlp}, std::pair{d_mlp, d}}) {
    const gemm::PackingSizes sizes =
        gemm::packing_sizes(kernel, gemm::Layout::k_by_n, true, rows, depth, columns, threads);
    largest = {std::max(largest.left, sizes.left), std::max(largest.right, sizes.right)};
  }
  return largest;
}

}  // namespace

// Buffers reused by every layer; every entry is written before it is read.
struct ForwardWorkspace {
  ForwardWorkspace(const ModelConfig& config, MatmulKernel kernel, int rows)
      : residual(rows, config.d_model),
        normalized(residual.rows(), config.d_model),
        qkv(residual.rows(), 3 * config.d_model),
        z(residual.rows(), config.d_model),
        attn_out(residual.rows(), config.d_model),
        mlp_hidden(residual.rows(), config.d_mlp),
        mlp_out(residual.rows(), config.d_model),
        scale(static_cast<size_t>(residual.rows()), 1.0f) {
    for (RowMatrix* buffer : {&residual, &normalized, &qkv, &z, &attn_out, &mlp_hidden, &mlp_out})
      advise_huge_pages(*buffer);
    // Sized for the largest product up front: growing later would allocate (and fault in) twice.
    const gemm::PackingSizes sizes = block_packing(config, kernel, rows, omp_get_max_threads());
    packing.left(sizes.left);
    packing.right(sizes.right);
  }
  bool fits(const ModelConfig& config, int rows) const {
    return residual.rows() == rows && residual.cols() == config.d_model && mlp_hidden.cols() == config.d_mlp;
  }
  RowMatrix residual, normalized, qkv, z, attn_out, mlp_hidden, mlp_out;
  std::vector<float> scale;
  gemm::PackingBuffers packing;
};

ForwardScratch::ForwardScratch() = default;
ForwardScratch::~ForwardScratch() = default;
ForwardScratch::ForwardScratch(ForwardScratch&&) noexcept = default;
ForwardScratch& ForwardScratch::operator=(ForwardScratch&&) noexcept = default;

ForwardWorkspace& ForwardScratch::workspace(const ModelConfig& config, MatmulKernel kernel, int rows) {
  if (!workspace_ || !workspace_->fits(config, rows)) {
    workspace_.reset();  // the old buffers go before the new ones come
    workspace_ = std::make_unique<ForwardWorkspace>(config, kernel, rows);
  }
  return *workspace_;
}

namespace {

// Layer norm of `x` into `out`, exposing the scale and normalized hooks when they are wanted.
void layer_norm_with_hooks(const RowMatrix& x, float epsilon, const RowVector& weight, const RowVector& bias,
                           Site scale_site, Site normalized_site, int layer, const HookSink& hooks,
                           std::vector<float>& scale, RowMatrix& out) {
  if (!hooks.wants(scale_site, layer) && !hooks.wants(normalized_site, layer)) {
    ops::layer_norm(x, epsilon, weight, bias, out);
    return;
  }
  ops::layer_norm_scale(x, epsilon, scale);
  hooks.offer(scale_site, layer, scale.data());
  ops::layer_norm_normalize(x, scale, out);
  ops::apply_affine(out, weight, bias, out);
  hooks.offer(normalized_site, layer, out.data());
}

// Exposes q, k or v (columns [offset, offset + d_model) of qkv) as a contiguous [batch, pos, head, d_head].
void offer_qkv_part(Site site, int layer, int offset, RowMatrix& qkv, const HookSink& hooks) {
  if (!hooks.wants(site, layer)) return;
  const int d_model = static_cast<int>(qkv.cols() / 3);
  RowMatrix part = qkv.middleCols(offset, d_model);
  hooks.visit(site, layer, part.data());
  qkv.middleCols(offset, d_model) = part;
}

ops::AttentionRule attention_rule(const ModelConfig& config, int layer) {
  return {config.attention_scale(layer), config.attention_window(layer)};
}

void attention(const ModelConfig& config, int batch, int positions, int layer, const HookSink& hooks,
               const RowMatrix& qkv, RowMatrix& z) {
  const int heads = config.n_head, d_head = config.d_head(), d_model = config.d_model;
  const ops::AttentionRule rule = attention_rule(config, layer);
  const int pairs = batch * heads;
  const Eigen::OuterStride<> qkv_stride(3 * d_model), z_stride(d_model);
  auto views = [&](int pair) {
    const int b = pair / heads, h = pair % heads;
    const float* base = qkv.data() + static_cast<size_t>(b) * positions * 3 * d_model + h * d_head;
    return std::tuple{ops::StridedMap(base, positions, d_head, qkv_stride),
                      ops::StridedMap(base + d_model, positions, d_head, qkv_stride),
                      ops::StridedMap(base + 2 * d_model, positions, d_head, qkv_stride),
                      ops::MutableStridedMap(z.data() + static_cast<size_t>(b) * positions * d_model + h * d_head,
                                             positions, d_head, z_stride)};
  };
  const bool expose = hooks.wants(Site::attn_scores, layer) || hooks.wants(Site::attn_pattern, layer);
  const bool parallel = ops::worth_parallel_attention(pairs, positions, d_head);
  if (!expose) {
#pragma omp parallel if (parallel)
    {
      ops::AttentionWorkspace workspace(positions, d_head);
      RowMatrix scores(positions, positions);
#pragma omp for schedule(static)
      for (int pair = 0; pair < pairs; ++pair) {
        auto [q, k, v, z_out] = views(pair);
        ops::causal_attention(q, k, v, rule, scores, z_out, workspace);
      }
    }
    return;
  }
  // [batch, head, query, key]: pair-major, so pair p's matrix starts at p * positions².
  RowMatrix all_scores(static_cast<Eigen::Index>(pairs) * positions, positions);
  auto pair_block = [&](int pair) { return all_scores.middleRows(static_cast<Eigen::Index>(pair) * positions, positions); };
#pragma omp parallel if (parallel)
  {
    ops::AttentionWorkspace workspace(positions, d_head);
#pragma omp for schedule(static)
    for (int pair = 0; pair < pairs; ++pair) {
      auto [q, k, v, z_out] = views(pair);
      ops::attention_scores(q, k, rule, pair_block(pair), workspace);
    }
  }
  hooks.offer(Site::attn_scores, layer, all_scores.data());
#pragma omp parallel for schedule(static) if (parallel)
  for (int pair = 0; pair < pairs; ++pair) ops::causal_softmax(rule, pair_block(pair));
  hooks.offer(Site::attn_pattern, layer, all_scores.data());
#pragma omp parallel if (parallel)
  {
    ops::AttentionWorkspace workspace(positions, d_head);
#pragma omp for schedule(static)
    for (int pair = 0; pair < pairs; ++pair) {
      auto [q, k, v, z_out] = views(pair);
      ops::mix_values(pair_block(pair), v, z_out, workspace);
    }
  }
}

// attention() for the suffix rows of a resumed pass: each query row attends to the earlier positions' keys and
// values in the cache and to the suffix rows' own, as attend_row does for the whole sequence.
void attention_after_prefix(const ModelConfig& config, int layer, const SuffixRows& suffix, const RowMatrix& qkv,
                            RowMatrix& z) {
  const int heads = config.n_head, d_head = config.d_head(), d_model = config.d_model, length = suffix.length();
  const int pairs = suffix.sequences * heads;
  const Eigen::Index stride = 3 * d_model;
#pragma omp parallel if (ops::worth_parallel_attention(pairs, suffix.positions, d_head))
  {
    SuffixAttention attention(suffix.positions, d_head, attention_rule(config, layer));
#pragma omp for schedule(static)
    for (int pair = 0; pair < pairs; ++pair) {
      const int sequence = pair / heads, h = pair % heads;
      const Eigen::Index first_row = static_cast<Eigen::Index>(sequence) * length;
      const float* keys = qkv.row(first_row).data() + key_column(d_model, d_head, h);
      attention.gather(suffix, layer, h, sequence, {keys, stride}, {keys + d_model, stride});
      for (int r = 0; r < length; ++r)
        attention.attend(qkv.row(first_row + r).data() + h * d_head, suffix.start + r,
                         z.row(first_row + r).data() + h * d_head);
    }
  }
}

// attn_out = z · W_O + b_O, or, when hook_result is wanted, the sum of the (possibly patched) per-head
// results plus b_O.
void attention_output(const LayerWeights& weights, const ModelConfig& config, MatmulKernel kernel, int layer,
                      const HookSink& hooks, const RowMatrix& z, RowMatrix& attn_out, gemm::PackingBuffers& packing) {
  if (!hooks.wants(Site::attn_result, layer)) {
    ops::linear(kernel, z, weights.out_weight, &weights.out_bias, attn_out, &packing);
    return;
  }
  const int heads = config.n_head, d_head = config.d_head(), d_model = config.d_model;
  // result [rows, head, d_model] stored as [rows, head * d_model].
  RowMatrix result(z.rows(), static_cast<Eigen::Index>(heads) * d_model);
  for (int h = 0; h < heads; ++h)
    ops::linear(kernel, z.middleCols(h * d_head, d_head), weights.out_weight.middleRows(h * d_head, d_head), nullptr,
                result.middleCols(static_cast<Eigen::Index>(h) * d_model, d_model), &packing);
  hooks.visit(Site::attn_result, layer, result.data());
  attn_out.setZero();
  for (int h = 0; h < heads; ++h) attn_out += result.middleCols(static_cast<Eigen::Index>(h) * d_model, d_model);
  attn_out.rowwise() += weights.out_bias;
}

// The MLP of `layer` on the residual stream in w.residual (ln_2, c_fc, activation, c_proj) into w.mlp_out.
void run_mlp(const Weights& weights, int layer, const HookSink& hooks, ForwardWorkspace& w) {
  const ModelConfig& config = weights.config;
  const LayerWeights& lw = weights.layers[layer];
  layer_norm_with_hooks(w.residual, config.layer_norm_epsilon, lw.ln2_weight, lw.ln2_bias, Site::ln2_scale,
                        Site::ln2_normalized, layer, hooks, w.scale, w.normalized);
  ops::linear(weights.matmul, w.normalized, lw.fc_weight, &lw.fc_bias, w.mlp_hidden, &w.packing);
  hooks.offer(Site::mlp_pre, layer, w.mlp_hidden.data());
  ops::activate(config.activation, w.mlp_hidden);
  hooks.offer(Site::mlp_post, layer, w.mlp_hidden.data());
  ops::linear(weights.matmul, w.mlp_hidden, lw.proj_weight, &lw.proj_bias, w.mlp_out, &w.packing);
  hooks.offer(Site::mlp_out, layer, w.mlp_out.data());
}

// Rotates the queries and keys in qkv (rotary models), each row at its position in its sequence: row r at
// first_position + r % positions (a resumed pass's rows start at its suffix's first position).
void rotate_queries_and_keys(const ModelConfig& config, const ops::RotaryTable& rotary, int positions,
                             int first_position, RowMatrix& qkv) {
  const int d_model = config.d_model;
  ops::rotate_rows(qkv.leftCols(d_model), config.n_head, config.d_head(), rotary, positions, first_position);
  ops::rotate_rows(qkv.middleCols(d_model, d_model), config.n_head, config.d_head(), rotary, positions, first_position);
}

// One block over w.residual: `batch` whole sequences of `positions` tokens, or, for a resumed pass (no hooks),
// the rows of `suffix` (then `positions` is its length).
void run_block(const Weights& weights, int layer, int batch, int positions, const ops::RotaryTable& rotary,
               const HookSink& hooks, ForwardWorkspace& w, const SuffixRows* suffix = nullptr) {
  const ModelConfig& config = weights.config;
  const LayerWeights& lw = weights.layers[layer];
  const int d_model = config.d_model;

  hooks.offer(Site::resid_pre, layer, w.residual.data());
  layer_norm_with_hooks(w.residual, config.layer_norm_epsilon, lw.ln1_weight, lw.ln1_bias, Site::ln1_scale,
                        Site::ln1_normalized, layer, hooks, w.scale, w.normalized);
  ops::linear(weights.matmul, w.normalized, lw.qkv_weight, &lw.qkv_bias, w.qkv, &w.packing);
  if (hooks.active()) {
    offer_qkv_part(Site::attn_q, layer, 0, w.qkv, hooks);
    offer_qkv_part(Site::attn_k, layer, d_model, w.qkv, hooks);
    offer_qkv_part(Site::attn_v, layer, 2 * d_model, w.qkv, hooks);
  }
  if (config.rotary_dims > 0) {
    rotate_queries_and_keys(config, rotary, positions, suffix != nullptr ? suffix->start : 0, w.qkv);
    if (hooks.active()) {
      offer_qkv_part(Site::attn_rot_q, layer, 0, w.qkv, hooks);
      offer_qkv_part(Site::attn_rot_k, layer, d_model, w.qkv, hooks);
    }
  }
  if (suffix != nullptr)
    attention_after_prefix(config, layer, *suffix, w.qkv, w.z);
  else
    attention(config, batch, positions, layer, hooks, w.qkv, w.z);
  hooks.offer(Site::attn_z, layer, w.z.data());
  attention_output(lw, config, weights.matmul, layer, hooks, w.z, w.attn_out, w.packing);
  hooks.offer(Site::attn_out, layer, w.attn_out.data());
  // A parallel block's MLP reads the block's input, which w.residual still holds.
  if (config.parallel_attn_mlp) run_mlp(weights, layer, hooks, w);
  ops::add_in_place(w.residual, w.attn_out);
  hooks.offer(Site::resid_mid, layer, w.residual.data());
  if (!config.parallel_attn_mlp) run_mlp(weights, layer, hooks, w);
  ops::add_in_place(w.residual, w.mlp_out);
  hooks.offer(Site::resid_post, layer, w.residual.data());
}

// The MLP of layer `lw` (ln_2 included) on the top `rows` rows of w.residual, into the top rows of w.mlp_out:
// run_mlp's arithmetic without hooks.
void mlp_for_top_rows(const Weights& weights, const LayerWeights& lw, Eigen::Index rows, ForwardWorkspace& w) {
  const ModelConfig& config = weights.config;
  ops::layer_norm(w.residual.topRows(rows), config.layer_norm_epsilon, lw.ln2_weight, lw.ln2_bias,
                  w.normalized.topRows(rows));
  ops::linear(weights.matmul, w.normalized.topRows(rows), lw.fc_weight, &lw.fc_bias, w.mlp_hidden.topRows(rows),
              &w.packing);
  ops::activate(config.activation, w.mlp_hidden.topRows(rows));
  ops::linear(weights.matmul, w.mlp_hidden.topRows(rows), lw.proj_weight, &lw.proj_bias, w.mlp_out.topRows(rows),
              &w.packing);
}

// Moves the rows `kept` (increasing) of w.normalized and w.residual to their top, in order: kept[i] >= i, so
// moving rows up in order overwrites only rows already moved.
void move_rows_up(std::span<const int> kept, ForwardWorkspace& w) {
  for (size_t i = 0; i < kept.size(); ++i) {
    const auto row = static_cast<Eigen::Index>(i);
    w.normalized.row(row) = w.normalized.row(kept[i]);
    w.residual.row(row) = w.residual.row(kept[i]);
  }
}

// The last block when nothing is hooked and only the rows `kept` (increasing) need logits: keys and values
// are needed for every row, but the queries, the attention output, the residual stream and the MLP only for
// the kept rows (a sixteenth of them for last-position logits over 16 tokens). Row for row this is
// run_block's arithmetic (products, layer norms and GELU treat rows and columns independently; attend_row
// matches the batched attention), so the logits are the same. Leaves the kept rows' residual stream in the
// top rows of w.residual. For a resumed pass, `positions` is the suffix length and the rows are `suffix`'s.
void run_last_block_for_rows(const Weights& weights, int positions, std::span<const int> kept,
                             const ops::RotaryTable& rotary, ForwardWorkspace& w, const SuffixRows* suffix = nullptr) {
  const ModelConfig& config = weights.config;
  const int layer = config.n_layer - 1;
  const LayerWeights& lw = weights.layers[layer];
  const int d_model = config.d_model, heads = config.n_head, d_head = config.d_head();
  ops::layer_norm(w.residual, config.layer_norm_epsilon, lw.ln1_weight, lw.ln1_bias, w.normalized);
  const RowVector key_value_bias = lw.qkv_bias.tail(2 * d_model);
  ops::linear(weights.matmul, w.normalized, lw.qkv_weight.rightCols(2 * d_model), &key_value_bias,
              w.qkv.rightCols(2 * d_model), &w.packing);
  const int first_position = suffix != nullptr ? suffix->start : 0;
  if (config.rotary_dims > 0)
    ops::rotate_rows(w.qkv.middleCols(d_model, d_model), heads, d_head, rotary, positions, first_position);
  const auto rows = static_cast<Eigen::Index>(kept.size());
  move_rows_up(kept, w);
  auto queries = w.mlp_out.topRows(rows);  // free until the MLP
  const RowVector query_bias = lw.qkv_bias.head(d_model);
  ops::linear(weights.matmul, w.normalized.topRows(rows), lw.qkv_weight.leftCols(d_model), &query_bias, queries,
              &w.packing);
  if (config.rotary_dims > 0)
    for (Eigen::Index i = 0; i < rows; ++i)
      ops::rotate_row(queries.row(i).data(), heads, d_head, rotary,
                      first_position + kept[static_cast<size_t>(i)] % positions);

  const ops::AttentionRule rule = attention_rule(config, layer);
  const int pairs = static_cast<int>(rows) * heads;
  const Eigen::OuterStride<> qkv_stride(3 * d_model);
  if (suffix == nullptr) {
#pragma omp parallel if (ops::worth_parallel_attention(pairs, positions, d_head))
    {
      ops::AttentionWorkspace workspace(positions, d_head);
#pragma omp for schedule(static)
      for (int pair = 0; pair < pairs; ++pair) {
        const int i = pair / heads, h = pair % heads, row = kept[static_cast<size_t>(i)];
        const int sequence = row / positions, position = row % positions;
        const float* keys = w.qkv.data() + static_cast<size_t>(sequence) * positions * 3 * d_model + d_model + h * d_head;
        ops::attend_row(queries.row(i).data() + h * d_head, ops::StridedMap(keys, position + 1, d_head, qkv_stride),
                        ops::StridedMap(keys + d_model, position + 1, d_head, qkv_stride), position, rule, workspace,
                        w.z.row(i).data() + h * d_head);
      }
    }
  } else {
    // A resumed pass: the kept rows are the sequences' last suffix rows, their earlier keys partly cached.
#pragma omp parallel if (ops::worth_parallel_attention(pairs, suffix->positions, d_head))
    {
      SuffixAttention attention(suffix->positions, d_head, rule);
#pragma omp for schedule(static)
      for (int pair = 0; pair < pairs; ++pair) {
        const int i = pair / heads, h = pair % heads, row = kept[static_cast<size_t>(i)];
        const int sequence = row / positions, position = suffix->start + row % positions;
        const float* keys = w.qkv.row(static_cast<Eigen::Index>(sequence) * positions).data() +
                            key_column(d_model, d_head, h);
        attention.gather(*suffix, layer, h, sequence, {keys, qkv_stride.outer()}, {keys + d_model, qkv_stride.outer()});
        attention.attend(queries.row(i).data() + h * d_head, position, w.z.row(i).data() + h * d_head);
      }
    }
  }

  auto residual = w.residual.topRows(rows);
  ops::linear(weights.matmul, w.z.topRows(rows), lw.out_weight, &lw.out_bias, w.attn_out.topRows(rows), &w.packing);
  if (config.parallel_attn_mlp) mlp_for_top_rows(weights, lw, rows, w);  // reads the block's input, as run_block's
  ops::add_in_place(residual, w.attn_out.topRows(rows));
  if (!config.parallel_attn_mlp) mlp_for_top_rows(weights, lw, rows, w);
  ops::add_in_place(residual, w.mlp_out.topRows(rows));
}

void embed(const Weights& weights, const TokenBatch& tokens, const HookSink& hooks, RowMatrix& residual) {
  const int rows = tokens.batch * tokens.positions;
  const int d_model = weights.config.d_model;
  const bool positions = weights.config.learned_positions;
  const bool expose = hooks.wants(Site::embed) || (positions && hooks.wants(Site::pos_embed));
  if (!expose) {
    for (int r = 0; r < rows; ++r) {
      residual.row(r) = weights.token_embedding.row(tokens.tokens[r]);
      if (positions) residual.row(r) += weights.position_embedding.row(r % tokens.positions);
    }
    return;
  }
  RowMatrix token_part(rows, d_model);
  for (int r = 0; r < rows; ++r) token_part.row(r) = weights.token_embedding.row(tokens.tokens[r]);
  hooks.offer(Site::embed, -1, token_part.data());
  if (!positions) {
    residual.topRows(rows) = token_part;
    return;
  }
  RowMatrix position_part(rows, d_model);
  for (int r = 0; r < rows; ++r) position_part.row(r) = weights.position_embedding.row(r % tokens.positions);
  hooks.offer(Site::pos_embed, -1, position_part.data());
  residual.topRows(rows) = token_part + position_part;
}

// The rows whose logits are requested, in output order.
std::vector<int> logit_rows(const TokenBatch& tokens, const LogitRequest& request) {
  std::vector<int> rows;
  switch (request.positions) {
    case LogitRequest::Positions::none: break;
    case LogitRequest::Positions::all:
      for (int r = 0; r < tokens.batch * tokens.positions; ++r) rows.push_back(r);
      break;
    case LogitRequest::Positions::last:
      for (int b = 0; b < tokens.batch; ++b) rows.push_back(b * tokens.positions + tokens.positions - 1);
      break;
    case LogitRequest::Positions::per_row:
      if (static_cast<int>(request.row_positions.size()) != tokens.batch)
        throw Error("logit request: " + std::to_string(request.row_positions.size()) + " positions for " +
                    std::to_string(tokens.batch) + " sequences");
      for (int b = 0; b < tokens.batch; ++b) {
        const int p = request.row_positions[b];
        if (p < 0 || p >= tokens.positions)
          throw Error("logit request: position " + std::to_string(p) + " outside the sequence of " +
                      std::to_string(tokens.positions) + " tokens");
        rows.push_back(b * tokens.positions + p);
      }
      break;
  }
  return rows;
}

}  // namespace

void check_tokens(const ModelConfig& config, const TokenBatch& tokens) {
  if (tokens.batch <= 0 || tokens.positions <= 0) throw Error("empty token batch");
  if (tokens.tokens.size() != static_cast<size_t>(tokens.batch) * tokens.positions)
    throw Error("token batch holds " + std::to_string(tokens.tokens.size()) + " ids, expected " +
                std::to_string(tokens.batch) + " x " + std::to_string(tokens.positions));
  if (tokens.positions > config.n_ctx)
    throw Error("sequence of " + std::to_string(tokens.positions) + " tokens is longer than the model's context (" +
                    std::to_string(config.n_ctx) + ")",
                "shorten the prompt");
  for (size_t i = 0; i < tokens.tokens.size(); ++i) {
    if (tokens.tokens[i] < 0 || tokens.tokens[i] >= config.vocab_size)
      throw Error("token id " + std::to_string(tokens.tokens[i]) + " at index " + std::to_string(i) +
                  " is outside the vocabulary (0-" + std::to_string(config.vocab_size - 1) + ")");
  }
}

RowMatrix forward(const Weights& weights, const TokenBatch& tokens, const LogitRequest& request,
                  Interventions* interventions, ForwardScratch* scratch) {
  RowMatrix logits;
  forward_into(weights, tokens, request, logits, interventions, scratch);
  return logits;
}

void forward_into(const Weights& weights, const TokenBatch& tokens, const LogitRequest& request, RowMatrix& logits,
                  Interventions* interventions, ForwardScratch* scratch) {
  const ModelConfig& config = weights.config;
  check_tokens(config, tokens);
  for (int32_t id : request.token_ids) {
    if (id < 0 || id >= config.vocab_size)
      throw Error("logit request: token id " + std::to_string(id) + " is outside the vocabulary");
  }
  const HookSink hooks(interventions, config, tokens.batch, tokens.positions);
  ForwardScratch own_scratch;
  ForwardWorkspace& w =
      (scratch != nullptr ? *scratch : own_scratch).workspace(config, weights.matmul, tokens.batch * tokens.positions);
  const std::vector<int> rows = logit_rows(tokens, request);
  auto selected_rows_of = [&](const RowMatrix& final_rows) {
    RowMatrix selected(static_cast<Eigen::Index>(rows.size()), config.d_model);
    for (size_t i = 0; i < rows.size(); ++i) selected.row(static_cast<Eigen::Index>(i)) = final_rows.row(rows[i]);
    return selected;
  };

  const ops::RotaryTable rotary(tokens.positions, config.rotary_dims, config.rotary_base);
  embed(weights, tokens, hooks, w.residual);
  const bool prune_last_block = !hooks.active() && rows.size() < static_cast<size_t>(w.residual.rows());
  const int full_layers = config.n_layer - (prune_last_block ? 1 : 0);
  for (int layer = 0; layer < full_layers; ++layer)
    run_block(weights, layer, tokens.batch, tokens.positions, rotary, hooks, w);
  if (prune_last_block) {
    run_last_block_for_rows(weights, tokens.positions, rows, rotary, w);
    RowMatrix selected = w.residual.topRows(static_cast<Eigen::Index>(rows.size()));
    ops::layer_norm(selected, config.layer_norm_epsilon, weights.ln_final_weight, weights.ln_final_bias, selected);
    unembed_rows(weights, selected, request.token_ids, logits, &w.packing);
    return;
  }

  const bool expose_final = hooks.wants(Site::ln_final_scale) || hooks.wants(Site::ln_final_normalized);
  if (!expose_final) {
    // Only the requested rows need the final layer norm.
    RowMatrix selected = selected_rows_of(w.residual);
    ops::layer_norm(selected, config.layer_norm_epsilon, weights.ln_final_weight, weights.ln_final_bias, selected);
    unembed_rows(weights, selected, request.token_ids, logits, &w.packing);
    return;
  }
  layer_norm_with_hooks(w.residual, config.layer_norm_epsilon, weights.ln_final_weight, weights.ln_final_bias,
                        Site::ln_final_scale, Site::ln_final_normalized, -1, hooks, w.scale, w.normalized);
  unembed_rows(weights, selected_rows_of(w.normalized), request.token_ids, logits, &w.packing);
}

void resume_forward(const Weights& weights, const ResumePoint& point, const SuffixRows& rows,
                    const RowMatrix& residual, RowMatrix& final_rows, ForwardScratch* scratch) {
  const ModelConfig& config = weights.config;
  check_suffix_rows(config, rows, false);
  if (point.layer < 0 || point.layer > config.n_layer)
    throw Error("resume_forward: layer " + std::to_string(point.layer) + " outside 0-" + std::to_string(config.n_layer));
  if (point.stage == ResumePoint::Stage::mlp && config.parallel_attn_mlp)
    throw Error("resume_forward: a parallel block's MLP reads the block's input, not resid_mid; resume at the next layer");
  if (residual.rows() != rows.rows() || residual.cols() != config.d_model)
    throw Error("resume_forward: the residual stream has " + std::to_string(residual.rows()) + " x " +
                std::to_string(residual.cols()) + " values for " + std::to_string(rows.rows()) + " rows of d_model " +
                std::to_string(config.d_model));
  const int length = rows.length();
  std::vector<int> last_rows(static_cast<size_t>(rows.sequences));
  for (int i = 0; i < rows.sequences; ++i) last_rows[static_cast<size_t>(i)] = i * length + length - 1;
  final_rows.resize(rows.sequences, config.d_model);
  if (point.layer == config.n_layer) {
    for (int i = 0; i < rows.sequences; ++i) final_rows.row(i) = residual.row(last_rows[static_cast<size_t>(i)]);
    return;
  }
  ForwardScratch own_scratch;
  ForwardWorkspace& w = (scratch != nullptr ? *scratch : own_scratch).workspace(config, weights.matmul, rows.rows());
  w.residual = residual;
  const HookSink no_hooks(nullptr, config, rows.sequences, length);
  const ops::RotaryTable rotary(rows.positions, config.rotary_dims, config.rotary_base);
  const int last = config.n_layer - 1;
  int layer = point.layer;
  if (point.stage == ResumePoint::Stage::mlp) {
    const LayerWeights& lw = weights.layers[static_cast<size_t>(layer)];
    const Eigen::Index mlp_rows = layer == last ? rows.sequences : rows.rows();
    if (layer == last) move_rows_up(last_rows, w);  // only the last positions reach the logits
    mlp_for_top_rows(weights, lw, mlp_rows, w);
    ops::add_in_place(w.residual.topRows(mlp_rows), w.mlp_out.topRows(mlp_rows));
    if (layer == last) {
      final_rows = w.residual.topRows(rows.sequences);
      return;
    }
    ++layer;
  }
  for (; layer < last; ++layer) run_block(weights, layer, rows.sequences, length, rotary, no_hooks, w, &rows);
  run_last_block_for_rows(weights, length, last_rows, rotary, w, &rows);
  final_rows = w.residual.topRows(rows.sequences);
}

double forward_flops(const ModelConfig& config, int batch, int positions, int logit_rows, int logit_columns) {
  const double d = config.d_model, m = config.d_mlp, tokens = static_cast<double>(batch) * positions;
  const double projections = 2.0 * tokens * (d * 3 * d + d * d + 2 * d * m);
  // Causal attention: scores and value mixing, each ~ positions/2 keys per query.
  const double attention = 2.0 * 2.0 * tokens * (positions + 1) / 2.0 * d;
  return config.n_layer * (projections + attention) + 2.0 * logit_rows * d * logit_columns;
}

uint64_t forward_packing_bytes(const ModelConfig& config, MatmulKernel kernel, int rows, int threads) {
  const gemm::PackingSizes sizes = block_packing(config, kernel, rows, threads);
  return sizeof(float) * (sizes.left + sizes.right);
}

double skipped_last_block_flops(const ModelConfig& config, int batch, int positions, int logit_rows) {
  const double d = config.d_model, m = config.d_mlp;
  const double skipped_rows = static_cast<double>(batch) * positions - logit_rows;
  if (skipped_rows <= 0) return 0.0;
  // Their queries, attention (as forward_flops counts it), attention output and MLP.
  const double attention = 2.0 * 2.0 * (positions + 1) / 2.0 * d;
  return skipped_rows * (2.0 * (2 * d * d + 2 * d * m) + attention);
}

}  // namespace cscrub::engine
