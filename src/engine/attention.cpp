// Causal attention of one head over one sequence, vectorised: scores across keys (the keys transposed),
// the mix across d_head, several query rows at a time so that the multiply-add chains overlap.
//
// Every value has one recipe, whatever its row's neighbours or the call that computes it: a score is one
// fused multiply-add chain over d in increasing order, then the scale; a pattern row goes through the same
// vector exp and one fixed summation order; an output element is one chain over keys in increasing order.
// So the batched pass, the hooks' path (scores and pattern materialised) and single query rows (the pruned
// last block) agree bit for bit.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "gemm_kernel.hpp"
#include "ops.hpp"
#include "ordered_sum.hpp"

namespace cscrub::engine::ops {
namespace {

using gemm::kernel::kLanes;
using gemm::kernel::Vector;
namespace simd = gemm::kernel;

// Query rows handled together: independent chains hide the multiply-add latency (8 accumulators + the
// shared operand + a broadcast fit the registers of every target).
constexpr int kGroupRows = 8;

Eigen::Index padded(Eigen::Index count) { return (count + kLanes - 1) / kLanes * kLanes; }

// scores[r * scores_stride + j] = scale * q_r · k_j for rows r < R and keys j < keys; q row r at
// q + r * q_stride; keys_t: [d_head, padded keys], zero past `keys`.
template <int R>
void score_rows(const float* q, Eigen::Index q_stride, int d_head, const float* keys_t, Eigen::Index keys_t_stride,
                int keys, float scale, float* scores, Eigen::Index scores_stride) {
  for (int j0 = 0; j0 < keys; j0 += kLanes) {
    Vector sums[R];
    for (int r = 0; r < R; ++r) sums[r] = simd::zero();
    for (int d = 0; d < d_head; ++d) {
      const Vector key = simd::load_aligned(keys_t + d * keys_t_stride + j0);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) sums[r] = simd::multiply_add(simd::broadcast(q + r * q_stride + d), key, sums[r]);
    }
    const int width = std::min(kLanes, keys - j0);
    for (int r = 0; r < R; ++r) {
      alignas(64) float lanes[kLanes];
      simd::store(lanes, sums[r]);
      for (int l = 0; l < width; ++l) scores[r * scores_stride + j0 + l] = lanes[l] * scale;
    }
  }
}

// z row r (at z + r * z_stride) = sum over keys j <= first_query + r of pattern(r, j) * v_j, for r < R.
// values: [keys, padded d_head], zero past d_head.
template <int R>
void mix_rows(const float* pattern, Eigen::Index pattern_stride, int first_query, const float* values,
              Eigen::Index values_stride, int d_head, float* z, Eigen::Index z_stride) {
  for (int d0 = 0; d0 < d_head; d0 += kLanes) {
    Vector sums[R];
    for (int r = 0; r < R; ++r) sums[r] = simd::zero();
    // Keys every row of the group sees, then the group's own diagonal (row r sees up to first_query + r).
    for (int j = 0; j <= first_query; ++j) {
      const Vector value = simd::load_aligned(values + j * values_stride + d0);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r)
        sums[r] = simd::multiply_add(simd::broadcast(pattern + r * pattern_stride + j), value, sums[r]);
    }
    for (int j = first_query + 1; j < first_query + R; ++j) {
      const Vector value = simd::load_aligned(values + j * values_stride + d0);
      for (int r = j - first_query; r < R; ++r)
        sums[r] = simd::multiply_add(simd::broadcast(pattern + r * pattern_stride + j), value, sums[r]);
    }
    const int width = std::min(kLanes, d_head - d0);
    for (int r = 0; r < R; ++r) {
      alignas(64) float lanes[kLanes];
      simd::store(lanes, sums[r]);
      std::copy(lanes, lanes + width, z + r * z_stride + d0);
    }
  }
}

// Softmax of row[0, n) in place: every entry's exp through the vector path (whole chunks, the last one
// padded), the sum in a fixed order.
void softmax_row(float* row, int n) {
  using Lanes = Eigen::Array<float, kLanes, 1>;
  const float max = *std::max_element(row, row + n);
  for (int j0 = 0; j0 < n; j0 += kLanes) {
    const int width = std::min(kLanes, n - j0);
    Lanes chunk = Lanes::Constant(max);
    std::copy(row + j0, row + j0 + width, chunk.data());
    chunk = (chunk - max).exp();
    std::copy(chunk.data(), chunk.data() + width, row + j0);
  }
  const float sum = ordered_sum(n, [row](int j) { return row[j]; });
  for (int j = 0; j < n; ++j) row[j] /= sum;
}

// Runs `kernel<R>(first_row)` over rows [0, rows) in groups of kGroupRows, then single rows.
template <typename Kernel>
void over_row_groups(int rows, Kernel&& kernel) {
  int row = 0;
  for (; row + kGroupRows <= rows; row += kGroupRows) kernel.template operator()<kGroupRows>(row);
  for (; row < rows; ++row) kernel.template operator()<1>(row);
}

}  // namespace

AttentionWorkspace::AttentionWorkspace(int positions, int d_head)
    : keys_t_stride_(padded(positions)),
      values_stride_(padded(d_head)),
      keys_t_(static_cast<size_t>(d_head) * keys_t_stride_),
      values_(static_cast<size_t>(positions) * values_stride_),
      scores_(static_cast<size_t>(keys_t_stride_)) {}

const float* AttentionWorkspace::transposed_keys(const StridedMap& k, int keys) {
  const int d_head = static_cast<int>(k.cols());
  assert(keys <= keys_t_stride_ && static_cast<size_t>(d_head * keys_t_stride_) <= keys_t_.size());
  for (int d = 0; d < d_head; ++d) {
    float* line = keys_t_.data() + d * keys_t_stride_;
    for (int j = 0; j < keys; ++j) line[j] = k(j, d);
    std::fill(line + keys, line + padded(keys), 0.0f);
  }
  return keys_t_.data();
}

const float* AttentionWorkspace::padded_values(const StridedMap& v, int keys) {
  const int d_head = static_cast<int>(v.cols());
  assert(d_head <= values_stride_ && static_cast<size_t>(keys * values_stride_) <= values_.size());
  for (int j = 0; j < keys; ++j) {
    float* line = values_.data() + j * values_stride_;
    std::copy(v.row(j).data(), v.row(j).data() + d_head, line);
    std::fill(line + d_head, line + values_stride_, 0.0f);
  }
  return values_.data();
}

void attention_scores(const StridedMap& q, const StridedMap& k, Eigen::Ref<RowMatrix> scores,
                      AttentionWorkspace& workspace) {
  const int positions = static_cast<int>(q.rows()), d_head = static_cast<int>(q.cols());
  const float scale = 1.0f / std::sqrt(static_cast<float>(d_head));
  const float* keys_t = workspace.transposed_keys(k, positions);
  over_row_groups(positions, [&]<int R>(int first) {
    score_rows<R>(q.data() + first * q.outerStride(), q.outerStride(), d_head, keys_t, workspace.keys_t_stride(),
                  first + R, scale, scores.data() + first * scores.outerStride(), scores.outerStride());
  });
  const float masked = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < positions; ++i) scores.row(i).tail(positions - i - 1).setConstant(masked);
}

void causal_softmax(Eigen::Ref<RowMatrix> scores_to_pattern) {
  const int positions = static_cast<int>(scores_to_pattern.rows());
  for (int i = 0; i < positions; ++i) {
    softmax_row(scores_to_pattern.row(i).data(), i + 1);
    scores_to_pattern.row(i).tail(positions - i - 1).setZero();
  }
}

void mix_values(const Eigen::Ref<const RowMatrix>& pattern, const StridedMap& v, MutableStridedMap z,
                AttentionWorkspace& workspace) {
  const int positions = static_cast<int>(pattern.rows()), d_head = static_cast<int>(v.cols());
  const float* values = workspace.padded_values(v, positions);
  over_row_groups(positions, [&]<int R>(int first) {
    mix_rows<R>(pattern.data() + first * pattern.outerStride(), pattern.outerStride(), first, values,
                workspace.values_stride(), d_head, z.data() + first * z.outerStride(), z.outerStride());
  });
}

void attend_row(const float* query, const StridedMap& k, const StridedMap& v, int position,
                AttentionWorkspace& workspace, float* z_row) {
  const int d_head = static_cast<int>(k.cols()), keys = position + 1;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d_head));
  const float* keys_t = workspace.transposed_keys(k, keys);
  float* scores = workspace.scores();
  score_rows<1>(query, 0, d_head, keys_t, workspace.keys_t_stride(), keys, scale, scores, 0);
  softmax_row(scores, keys);
  mix_rows<1>(scores, 0, position, workspace.padded_values(v, keys), workspace.values_stride(), d_head, z_row, 0);
}

}  // namespace cscrub::engine::ops
