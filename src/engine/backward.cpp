// The backward pass, block by block from the last, mirroring forward.cpp's run_block. Activation gradients are
// [rows, width] row-major like the activations (rows = batch * positions). Products with the weights run
// transposed (d_in = d_out · Wᵀ reads W [in, out] in place as the [N, K] factor) in the model's kernel.
#include "cscrub/engine/backward.hpp"

#include <omp.h>

#include <algorithm>
#include <string>

#include "cscrub/engine/huge_pages.hpp"
#include "cscrub/error.hpp"
#include "gemm.hpp"
#include "hook_sink.hpp"
#include "ops.hpp"
#include "tape.hpp"
#include "unembed_rows.hpp"

namespace cscrub::engine {

// Buffers reused by every layer; every entry is written before it is read.
struct BackwardWorkspace {
  BackwardWorkspace(const ModelConfig& config, int rows, bool per_head_inputs)
      : d_residual(rows, config.d_model),
        d_mid(rows, config.d_model),
        d_hidden(rows, config.d_mlp),
        d_normalized(rows, config.d_model),
        d_z(rows, config.d_model),
        d_qkv(rows, 3 * config.d_model),
        normalized(rows, config.d_model),
        inputs(per_head_inputs ? static_cast<Eigen::Index>(3 * config.n_head + 1) * rows : rows, config.d_model),
        scale(static_cast<size_t>(rows)),
        per_head_inputs(per_head_inputs) {
    for (RowMatrix* buffer : {&d_residual, &d_mid, &d_hidden, &d_normalized, &d_z, &d_qkv, &normalized, &inputs})
      advise_huge_pages(*buffer);
    if (per_head_inputs)
      for (int t = 0; t < omp_get_max_threads(); ++t) threads.push_back({RowMatrix(rows, config.d_model), {}});
  }
  bool fits(const ModelConfig& config, int rows, bool per_head) const {
    return d_residual.rows() == rows && d_residual.cols() == config.d_model && d_hidden.cols() == config.d_mlp &&
           per_head_inputs == per_head &&
           inputs.rows() == (per_head ? static_cast<Eigen::Index>(3 * config.n_head + 1) * rows : rows);
  }
  // d_residual: the gradient of the residual stream leaving the current block, then entering it.
  RowMatrix d_residual, d_mid, d_hidden, d_normalized, d_z, d_qkv;
  RowMatrix normalized;  // a layer norm's input, normalized (recomputed from the tape)
  // Per-head inputs: the layer's destination gradients (DestinationGradients' layout); else the MLP input's.
  RowMatrix inputs;
  std::vector<float> scale;
  bool per_head_inputs;
  gemm::PackingBuffers packing;
  // Per thread, for the heads' inputs computed side by side: a head's ln_1 output gradient and its packing.
  struct ThreadBuffers {
    RowMatrix d_normalized;
    gemm::PackingBuffers packing;
  };
  std::vector<ThreadBuffers> threads;
};

BackwardScratch::BackwardScratch() = default;
BackwardScratch::~BackwardScratch() = default;
BackwardScratch::BackwardScratch(BackwardScratch&&) noexcept = default;
BackwardScratch& BackwardScratch::operator=(BackwardScratch&&) noexcept = default;

BackwardWorkspace& BackwardScratch::workspace(const ModelConfig& config, int rows, bool per_head_inputs) {
  if (!workspace_ || !workspace_->fits(config, rows, per_head_inputs)) {
    workspace_.reset();
    workspace_ = std::make_unique<BackwardWorkspace>(config, rows, per_head_inputs);
  }
  return *workspace_;
}

namespace {

using ops::StridedMap;
using ops::MutableStridedMap;

// Hands gradients to the caller's Interventions as copies in the hook's layout: what the visitor does with them
// does not reach the backward.
class GradientSink {
 public:
  GradientSink(Interventions* gradients, const ModelConfig& config, int batch, int positions)
      : hooks_(gradients, config, batch, positions), heads_(config.n_head) {}

  bool wants(Site site, int layer) const { return hooks_.wants(site, layer); }

  // A [rows, width] gradient (or `columns` of it from `first`).
  void offer(Site site, int layer, const RowMatrix& gradient, Eigen::Index first = 0, Eigen::Index columns = -1) const {
    if (!wants(site, layer)) return;
    RowMatrix copy = gradient.middleCols(first, columns < 0 ? gradient.cols() : columns);
    hooks_.visit(site, layer, copy.data());
  }
  // hook_result: every head's result reaches the residual stream unchanged, so each has its gradient.
  void offer_per_head(Site site, int layer, const RowMatrix& gradient) const {
    if (!wants(site, layer)) return;
    RowMatrix copy(gradient.rows(), gradient.cols() * heads_);
    for (int h = 0; h < heads_; ++h) copy.middleCols(h * gradient.cols(), gradient.cols()) = gradient;
    hooks_.visit(site, layer, copy.data());
  }
  // hook_q_input (port 0), hook_k_input, hook_v_input from the destination blocks, as [rows, head, d_model].
  void offer_head_inputs(Site site, int layer, int port, const RowMatrix& blocks, Eigen::Index rows) const {
    if (!wants(site, layer)) return;
    const Eigen::Index width = blocks.cols();
    RowMatrix copy(rows, width * heads_);
    for (int h = 0; h < heads_; ++h)
      copy.middleCols(h * width, width) = blocks.middleRows((static_cast<Eigen::Index>(port) * heads_ + h) * rows, rows);
    hooks_.visit(site, layer, copy.data());
  }

 private:
  HookSink hooks_;
  int heads_;
};

// The gradient of the final layer norm's input from the requested rows' logit gradients; zero on other rows.
void final_layer_norm_backward(const Weights& weights, const TapeStorage& tape, const TokenBatch& shape,
                               const LogitRequest& request, const RowMatrix& logit_gradient, BackwardWorkspace& w) {
  const ModelConfig& config = weights.config;
  const std::vector<int> rows = requested_rows(shape, request);
  const auto count = static_cast<Eigen::Index>(rows.size());
  // d normalized = d logits · W_U, W_U = the unembedding's rows of the requested columns (all: [vocab, d_model]).
  RowMatrix d_normalized(count, config.d_model);
  if (request.token_ids.empty()) {
    ops::linear(weights.matmul, logit_gradient, weights.unembedding_rows(), nullptr, d_normalized, &w.packing);
  } else {
    RowMatrix unembedding(static_cast<Eigen::Index>(request.token_ids.size()), config.d_model);
    for (size_t j = 0; j < request.token_ids.size(); ++j)
      unembedding.row(static_cast<Eigen::Index>(j)) = weights.unembedding_rows().row(request.token_ids[j]);
    ops::linear(weights.matmul, logit_gradient, unembedding, nullptr, d_normalized, &w.packing);
  }
  RowMatrix selected(count, config.d_model);
  for (Eigen::Index i = 0; i < count; ++i) selected.row(i) = tape.residuals.back().row(rows[static_cast<size_t>(i)]);
  std::vector<float> scale(static_cast<size_t>(count));
  ops::layer_norm_scale(selected, config.layer_norm_epsilon, scale);
  ops::layer_norm_normalize(selected, scale, selected);
  RowMatrix d_selected(count, config.d_model);
  ops::layer_norm_backward(selected, scale, weights.ln_final_weight, d_normalized, d_selected);
  w.d_residual.setZero();
  // Rows requested twice (per_row) add up.
  for (Eigen::Index i = 0; i < count; ++i) w.d_residual.row(rows[static_cast<size_t>(i)]) += d_selected.row(i);
}

// ln's input gradient, d_in, from its output gradient `d_out`, for the stage `residual` of the tape.
void layer_norm_input_gradient(const RowMatrix& residual, float epsilon, const RowVector& weight, const ops::ConstRef& d_out,
                         ops::MutableRef d_in, BackwardWorkspace& w) {
  ops::layer_norm_scale(residual, epsilon, w.scale);
  ops::layer_norm_normalize(residual, w.scale, w.normalized);
  ops::layer_norm_backward(w.normalized, w.scale, weight, d_out, d_in);
}

// d_qkv from d_z, head by head over every sequence (the pattern recomputed from the tape's q and k, rotated in
// rotary models), under the layer's attention rule (score scale, key window). In rotary models d_qkv's q and k
// parts are then the gradients of the rotated q and k.
void attention_backward(const ModelConfig& config, int layer, int batch, int positions, const RowMatrix& qkv,
                        const RowMatrix& d_z, RowMatrix& d_qkv) {
  const int heads = config.n_head, d_head = config.d_head(), d_model = config.d_model;
  const ops::AttentionRule rule = ops::attention_rule(config, layer);
  const int pairs = batch * heads;
  const Eigen::OuterStride<> qkv_stride(3 * d_model), z_stride(d_model);
#pragma omp parallel if (ops::worth_parallel_attention(pairs, positions, d_head))
  {
    ops::AttentionGradientWorkspace workspace(positions, d_head);
#pragma omp for schedule(static)
    for (int pair = 0; pair < pairs; ++pair) {
      const int b = pair / heads, h = pair % heads;
      const size_t qkv_offset = static_cast<size_t>(b) * positions * 3 * d_model + static_cast<size_t>(h) * d_head;
      const size_t z_offset = static_cast<size_t>(b) * positions * d_model + static_cast<size_t>(h) * d_head;
      const float* q = qkv.data() + qkv_offset;
      float* d_q = d_qkv.data() + qkv_offset;
      ops::causal_attention_backward(
          StridedMap(q, positions, d_head, qkv_stride), StridedMap(q + d_model, positions, d_head, qkv_stride),
          StridedMap(q + 2 * d_model, positions, d_head, qkv_stride),
          StridedMap(d_z.data() + z_offset, positions, d_head, z_stride), rule,
          MutableStridedMap(d_q, positions, d_head, qkv_stride),
          MutableStridedMap(d_q + d_model, positions, d_head, qkv_stride),
          MutableStridedMap(d_q + 2 * d_model, positions, d_head, qkv_stride), workspace);
    }
  }
}

// The residual stream's gradient entering the block: d_mid plus what the heads' queries, keys and values send
// back through ln_1 (plus, in a parallel block, what the MLP sends back through ln_2: w.inputs' MLP block). Per
// head and port when wanted (the discovery graph's destinations): each head's slice of d_qkv through its columns
// of c_attn and ln_1, into w.inputs' blocks; otherwise all at once.
void attention_inputs_backward(const Weights& weights, int layer, const RowMatrix& residual_in,
                               const GradientSink& sink, DestinationGradients* destinations, BackwardWorkspace& w) {
  const ModelConfig& config = weights.config;
  const LayerWeights& lw = weights.layers[static_cast<size_t>(layer)];
  const int heads = config.n_head, d_head = config.d_head(), d_model = config.d_model;
  const auto rows = residual_in.rows();
  if (!w.per_head_inputs) {
    ops::linear_transposed(weights.matmul, w.d_qkv, lw.qkv_weight, w.d_normalized, &w.packing);
    layer_norm_input_gradient(residual_in, config.layer_norm_epsilon, lw.ln1_weight, w.d_normalized, w.d_residual, w);
    ops::add_in_place(w.d_residual, w.d_mid);
    if (config.parallel_attn_mlp) ops::add_in_place(w.d_residual, w.inputs);
    return;
  }
  ops::layer_norm_scale(residual_in, config.layer_norm_epsilon, w.scale);
  ops::layer_norm_normalize(residual_in, w.scale, w.normalized);
  // The 3 * heads (port, head) blocks side by side, each on one thread: one meeting of the threads per layer
  // rather than one per product and layer norm (a block's values do not depend on the thread it runs on).
  const int blocks = 3 * heads;
  const double work = static_cast<double>(rows) * d_head * d_model * blocks;
#pragma omp parallel for schedule(static) if (work >= (1 << 22) && w.threads.size() > 1)
  for (int block = 0; block < blocks; ++block) {
    BackwardWorkspace::ThreadBuffers& mine = w.threads[static_cast<size_t>(omp_get_thread_num())];
    const int column = (block / heads) * d_model + (block % heads) * d_head;
    ops::linear_transposed(weights.matmul, w.d_qkv.middleCols(column, d_head), lw.qkv_weight.middleCols(column, d_head),
                           mine.d_normalized, &mine.packing);
    ops::layer_norm_backward(w.normalized, w.scale, lw.ln1_weight, mine.d_normalized,
                             w.inputs.middleRows(static_cast<Eigen::Index>(block) * rows, rows));
  }
  if (destinations != nullptr) destinations->layer_inputs(layer, w.inputs);
  sink.offer_head_inputs(Site::q_input, layer, 0, w.inputs, rows);
  sink.offer_head_inputs(Site::k_input, layer, 1, w.inputs, rows);
  sink.offer_head_inputs(Site::v_input, layer, 2, w.inputs, rows);
  // d_residual = d_mid + the 3 * heads input gradients (and the MLP's in a parallel block), in block order.
  const int summed = blocks + (config.parallel_attn_mlp ? 1 : 0);
#pragma omp parallel for schedule(static) if (ops::worth_parallel_elements(rows, summed * residual_in.cols()))
  for (Eigen::Index r = 0; r < rows; ++r) {
    auto sum = w.d_residual.row(r);
    sum = w.d_mid.row(r);
    for (int block = 0; block < summed; ++block) sum += w.inputs.row(block * rows + r);
  }
}

// One block's backward: w.d_residual holds the gradient of the residual stream leaving the block (resid_post) on
// entry, and the gradient of the residual stream entering it (resid_pre) on return. run_block's steps in reverse,
// with each of its variations mirrored: the MLP's input (resid_mid, or resid_pre in a parallel block), the
// activation's derivative, the layer's attention rule, the rotary embedding (its transpose on the q/k gradients).
void block_backward(const Weights& weights, int layer, const TapeStorage& tape, const ops::RotaryTable& rotary,
                    const GradientSink& sink, DestinationGradients* destinations, BackwardWorkspace& w) {
  const ModelConfig& config = weights.config;
  const LayerWeights& lw = weights.layers[static_cast<size_t>(layer)];
  const auto stage = static_cast<size_t>(2 * layer);
  const RowMatrix& residual_in = tape.residuals[stage];
  const RowMatrix& residual_mid = tape.residuals[stage + 1];
  const auto rows = residual_in.rows();
  sink.offer(Site::resid_post, layer, w.d_residual);
  sink.offer(Site::mlp_out, layer, w.d_residual);

  // MLP: out = act(ln_2(in) · W_fc + b_fc) · W_proj + b_proj, in = resid_mid (or resid_pre in a parallel block).
  const RowMatrix& mlp_reads = config.parallel_attn_mlp ? residual_in : residual_mid;
  ops::linear_transposed(weights.matmul, w.d_residual, lw.proj_weight, w.d_hidden, &w.packing);
  sink.offer(Site::mlp_post, layer, w.d_hidden);
  ops::activate_backward(config.activation, tape.mlp_pre[static_cast<size_t>(layer)], w.d_hidden, w.d_hidden);
  sink.offer(Site::mlp_pre, layer, w.d_hidden);
  ops::linear_transposed(weights.matmul, w.d_hidden, lw.fc_weight, w.d_normalized, &w.packing);
  // The MLP's input gradient: the last destination block of the layer, or the only one.
  auto mlp_input = w.inputs.middleRows(w.per_head_inputs ? static_cast<Eigen::Index>(3 * config.n_head) * rows : 0, rows);
  layer_norm_input_gradient(mlp_reads, config.layer_norm_epsilon, lw.ln2_weight, w.d_normalized, mlp_input, w);
  if (sink.wants(Site::mlp_in, layer)) sink.offer(Site::mlp_in, layer, RowMatrix(mlp_input));
  // resid_mid feeds resid_post, and the MLP too in a sequential block; a parallel block's MLP input gradient
  // joins resid_pre's below.
  if (config.parallel_attn_mlp) w.d_mid = w.d_residual;
  else ops::add(w.d_residual, mlp_input, w.d_mid);
  sink.offer(Site::resid_mid, layer, w.d_mid);
  sink.offer(Site::attn_out, layer, w.d_mid);
  sink.offer_per_head(Site::attn_result, layer, w.d_mid);

  // Attention: out = z · W_O + b_O, z from q, k, v = ln_1(resid_pre) · W_qkv + b_qkv.
  ops::linear_transposed(weights.matmul, w.d_mid, lw.out_weight, w.d_z, &w.packing);
  sink.offer(Site::attn_z, layer, w.d_z);
  const int positions = static_cast<int>(rows / tape.batch);
  attention_backward(config, layer, tape.batch, positions, tape.qkv[static_cast<size_t>(layer)], w.d_z, w.d_qkv);
  if (config.rotary_dims > 0) {
    const int d_model = config.d_model;
    sink.offer(Site::attn_rot_q, layer, w.d_qkv, 0, d_model);
    sink.offer(Site::attn_rot_k, layer, w.d_qkv, d_model, d_model);
    // q = R q_before: d q_before = Rᵀ d q.
    ops::rotate_rows_back(w.d_qkv.leftCols(d_model), config.n_head, config.d_head(), rotary, positions);
    ops::rotate_rows_back(w.d_qkv.middleCols(d_model, d_model), config.n_head, config.d_head(), rotary, positions);
  }
  sink.offer(Site::attn_q, layer, w.d_qkv, 0, config.d_model);
  sink.offer(Site::attn_k, layer, w.d_qkv, config.d_model, config.d_model);
  sink.offer(Site::attn_v, layer, w.d_qkv, 2 * config.d_model, config.d_model);
  attention_inputs_backward(weights, layer, residual_in, sink, destinations, w);
  sink.offer(Site::resid_pre, layer, w.d_residual);
}

}  // namespace

bool has_gradient(Site site) {
  switch (site) {
    case Site::embed:
    case Site::pos_embed:
    case Site::resid_pre:
    case Site::q_input:
    case Site::k_input:
    case Site::v_input:
    case Site::attn_q:
    case Site::attn_k:
    case Site::attn_v:
    case Site::attn_rot_q:
    case Site::attn_rot_k:
    case Site::attn_z:
    case Site::attn_result:
    case Site::attn_out:
    case Site::resid_mid:
    case Site::mlp_in:
    case Site::mlp_pre:
    case Site::mlp_post:
    case Site::mlp_out:
    case Site::resid_post: return true;
    default: return false;
  }
}

void backward(const Weights& weights, const BackwardTape& tape, const LogitRequest& request,
              const RowMatrix& logit_gradient, Interventions* gradients, DestinationGradients* destinations,
              BackwardScratch* scratch) {
  const ModelConfig& config = weights.config;
  const TapeStorage* storage = tape.storage();
  if (storage == nullptr || storage->batch == 0) throw Error("backward: the tape holds no forward pass");
  const std::vector<int32_t> no_tokens(static_cast<size_t>(storage->batch) * storage->positions, 0);
  const TokenBatch shape{no_tokens, storage->batch, storage->positions};
  const auto logit_rows = static_cast<Eigen::Index>(requested_rows(shape, request).size());
  const Eigen::Index logit_columns =
      request.token_ids.empty() ? config.vocab_size : static_cast<Eigen::Index>(request.token_ids.size());
  if (logit_gradient.rows() != logit_rows || logit_gradient.cols() != logit_columns)
    throw Error("backward: the logit gradient is " + std::to_string(logit_gradient.rows()) + " x " +
                std::to_string(logit_gradient.cols()) + ", the request's logits " + std::to_string(logit_rows) + " x " +
                std::to_string(logit_columns));

  const GradientSink sink(gradients, config, storage->batch, storage->positions);
  bool per_head_inputs = destinations != nullptr;
  for (int layer = 0; layer < config.n_layer && !per_head_inputs; ++layer)
    for (const Site site : {Site::q_input, Site::k_input, Site::v_input})
      per_head_inputs = per_head_inputs || sink.wants(site, layer);
  BackwardScratch own_scratch;
  BackwardWorkspace& w = (scratch != nullptr ? *scratch : own_scratch)
                             .workspace(config, storage->batch * storage->positions, per_head_inputs);

  final_layer_norm_backward(weights, *storage, shape, request, logit_gradient, w);
  if (destinations != nullptr) destinations->final_residual(w.d_residual);
  const ops::RotaryTable rotary(storage->positions, config.rotary_dims, config.rotary_base);
  for (int layer = config.n_layer - 1; layer >= 0; --layer)
    block_backward(weights, layer, *storage, rotary, sink, destinations, w);
  // The embeddings are added into the first residual stream.
  sink.offer(Site::embed, -1, w.d_residual);
  if (config.learned_positions) sink.offer(Site::pos_embed, -1, w.d_residual);
}

uint64_t backward_tape_bytes(const ModelConfig& config, int rows) {
  const uint64_t per_row = static_cast<uint64_t>(2 * config.n_layer + 1) * config.d_model +
                           static_cast<uint64_t>(config.n_layer) * (3 * config.d_model + config.d_mlp);
  return sizeof(float) * per_row * static_cast<uint64_t>(rows);
}

uint64_t backward_workspace_bytes(const ModelConfig& config, MatmulKernel kernel, int rows, int threads,
                                  bool per_head_inputs) {
  const uint64_t d = config.d_model;
  const uint64_t input_blocks = per_head_inputs ? 3 * static_cast<uint64_t>(config.n_head) + 1 : 1;
  const uint64_t per_thread = per_head_inputs ? static_cast<uint64_t>(threads) * d : 0;  // ThreadBuffers
  const uint64_t floats_per_row = 8 * d + config.d_mlp + input_blocks * d + per_thread + 1;
  // The transposed products: the MLP's two, the attention output's and c_attn's (whole, or per head).
  uint64_t packing = 0;
  for (const auto& [depth, columns] : {std::pair<int64_t, int64_t>{d, config.d_mlp}, {config.d_mlp, d}, {d, d},
                                       {3 * static_cast<int64_t>(d), d}, {config.d_head(), d}})
    packing = std::max(packing, matmul_packing_bytes(kernel, {.rows = rows, .depth = depth, .columns = columns,
                                                              .b_transposed = true, .bias = false},
                                                     threads));
  return sizeof(float) * floats_per_row * static_cast<uint64_t>(rows) + packing * (per_head_inputs ? threads + 1 : 1);
}

double backward_flops(const ModelConfig& config, int batch, int positions) {
  const double d = config.d_model, m = config.d_mlp, tokens = static_cast<double>(batch) * positions;
  const double projections = 2.0 * tokens * (d * 3 * d + d * d + 2 * d * m);
  // The pattern recomputed (scores), and the four products of the attention gradient, ~ positions/2 keys each.
  const double attention = 5.0 * 2.0 * tokens * (positions + 1) / 2.0 * d;
  return config.n_layer * (projections + attention);
}

}  // namespace cscrub::engine
