#include "cscrub/engine/resume.hpp"

#include <string>

#include "cscrub/error.hpp"

namespace cscrub::engine {

QkvRecorder::QkvRecorder(const ModelConfig& config, int sequences, int positions)
    : d_model_(config.d_model), rotary_(config.rotary_dims > 0) {
  cache_.sequences = sequences;
  cache_.positions = positions;
  cache_.layers.assign(static_cast<size_t>(config.n_layer),
                       RowMatrix(static_cast<Eigen::Index>(sequences) * positions, 3 * config.d_model));
}

bool QkvRecorder::wants(HookPoint hook) const {
  if (hook.site == Site::attn_v) return true;
  if (rotary_) return hook.site == Site::attn_rot_q || hook.site == Site::attn_rot_k;  // what attention reads
  return hook.site == Site::attn_q || hook.site == Site::attn_k;
}

void QkvRecorder::visit(const Activation& activation) {
  // [batch, pos, head, d_head] is [rows, d_model]: q, k or v's columns of the layer's q|k|v rows.
  const Site site = activation.hook.site;
  const int part = site == Site::attn_q || site == Site::attn_rot_q   ? 0
                   : site == Site::attn_k || site == Site::attn_rot_k ? 1
                                                                      : 2;
  RowMatrix& layer = cache_.layers[static_cast<size_t>(activation.hook.layer)];
  const ConstRowMatrixMap values(activation.data.data(), layer.rows(), d_model_);
  layer.middleCols(static_cast<Eigen::Index>(part) * d_model_, d_model_) = values;
}

void check_suffix_rows(const ModelConfig& config, const SuffixRows& rows, bool needs_cache) {
  auto fail = [](const std::string& problem) { throw Error("resumed rows: " + problem); };
  if (rows.sequences <= 0) fail("no sequences");
  if (rows.start < 0 || rows.start >= rows.positions)
    fail("start " + std::to_string(rows.start) + " leaves no position of " + std::to_string(rows.positions));
  if (rows.positions > config.n_ctx) fail("sequences longer than the model's context");
  if (rows.start == 0 && !needs_cache) return;
  if (rows.cache == nullptr) fail("earlier positions are read from a cache, and none was given");
  if (rows.cache->positions != rows.positions || static_cast<int>(rows.cache->layers.size()) != config.n_layer)
    fail("the cache holds " + std::to_string(rows.cache->positions) + " positions of " +
         std::to_string(rows.cache->layers.size()) + " layers, not " + std::to_string(rows.positions) + " of " +
         std::to_string(config.n_layer));
  if (static_cast<int>(rows.cache_sequence.size()) != rows.sequences) fail("one cache sequence per sequence needed");
  for (int sequence : rows.cache_sequence)
    if (sequence < 0 || sequence >= rows.cache->sequences)
      fail("cache sequence " + std::to_string(sequence) + " outside 0-" + std::to_string(rows.cache->sequences - 1));
}

double resume_flops(const ModelConfig& config, const ResumePoint& point, const SuffixRows& rows) {
  const double d = config.d_model, m = config.d_mlp, suffix_rows = rows.rows(), last_rows = rows.sequences;
  const double positions = rows.positions;
  // Per row of a block: q|k|v, attention output and MLP products; attention against ~half the sequence.
  const double block_per_row = 2.0 * (3 * d * d + d * d + 2 * d * m) + 2.0 * 2.0 * (positions + 1) / 2.0 * d;
  const double mlp_per_row = 2.0 * 2 * d * m;
  double flops = 0;
  const int last = config.n_layer - 1;
  for (int layer = point.layer; layer < config.n_layer; ++layer) {
    const bool mlp_only = layer == point.layer && point.stage == ResumePoint::Stage::mlp;
    if (layer < last)
      flops += suffix_rows * (mlp_only ? mlp_per_row : block_per_row);
    else if (mlp_only)
      flops += last_rows * mlp_per_row;
    else  // keys and values for every suffix row, the rest for the last positions
      flops += suffix_rows * 2.0 * 2 * d * d + last_rows * (block_per_row - 2.0 * 2 * d * d);
  }
  return flops;
}

}  // namespace cscrub::engine
