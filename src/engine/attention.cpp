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
#include "transpose_16x16.hpp"

namespace cscrub::engine::ops {
namespace {

using gemm::kernel::kLanes;
using gemm::kernel::Vector;
namespace simd = gemm::kernel;

// Query rows handled together: independent chains hide the multiply-add latency (8 accumulators + the
// shared operand + a broadcast fit the registers of every target).
constexpr int kGroupRows = 8;

Eigen::Index padded(Eigen::Index count) { return (count + kLanes - 1) / kLanes * kLanes; }

// Stores the first `width` lanes of `value` at `target`.
void store_first(float* target, Vector value, int width) {
  if (width == kLanes) return simd::store(target, value);
  alignas(64) float lanes[kLanes];
  simd::store(lanes, value);
  std::copy(lanes, lanes + width, target);
}

// Vectors of keys (or of d_head) per pass over a group of query rows: two where the registers hold 2 x 8
// accumulators (AVX-512), so that each broadcast feeds two multiply-adds and loads stop being the bound.
constexpr int kVectorsPerPass = kLanes == 16 ? 2 : 1;

// Runs `block<V>(start)` over [0, total) in blocks of kVectorsPerPass vectors while more than one vector is
// left, then of one (a block clips its last vector to `total`).
template <typename Block>
void over_vector_blocks(int total, Block&& block) {
  int start = 0;
  if constexpr (kVectorsPerPass > 1)
    for (; total - start > kLanes; start += kVectorsPerPass * kLanes)
      block.template operator()<kVectorsPerPass>(start);
  for (; start < total; start += kLanes) block.template operator()<1>(start);
}

// Columns [j0, j0 + V * kLanes) of score_rows, clipped to `keys`.
template <int R, int V>
void score_block(const float* q, Eigen::Index q_stride, int d_head, const float* keys_t,
                 Eigen::Index keys_t_stride, int j0, int keys, float scale, float* scores,
                 Eigen::Index scores_stride) {
  Vector sums[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) sums[r][v] = simd::zero();
  for (int d = 0; d < d_head; ++d) {
    Vector key[V];
    for (int v = 0; v < V; ++v) key[v] = simd::load_aligned(keys_t + d * keys_t_stride + j0 + v * kLanes);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const Vector query = simd::broadcast(q + r * q_stride + d);
      for (int v = 0; v < V; ++v) sums[r][v] = simd::multiply_add(query, key[v], sums[r][v]);
    }
  }
  const Vector scales = simd::broadcast(&scale);
  for (int v = 0; v < V; ++v) {
    const int first = j0 + v * kLanes, width = std::min(kLanes, keys - first);
    if (width <= 0) break;
    for (int r = 0; r < R; ++r)
      store_first(scores + r * scores_stride + first, simd::multiply(sums[r][v], scales), width);
  }
}

// scores[r * scores_stride + j] = scale * q_r · k_j for rows r < R and keys j < keys; q row r at
// q + r * q_stride; keys_t: [d_head, padded keys], zero past `keys`.
template <int R>
void score_rows(const float* q, Eigen::Index q_stride, int d_head, const float* keys_t, Eigen::Index keys_t_stride,
                int keys, float scale, float* scores, Eigen::Index scores_stride) {
  over_vector_blocks(keys, [&]<int V>(int j0) {
    score_block<R, V>(q, q_stride, d_head, keys_t, keys_t_stride, j0, keys, scale, scores, scores_stride);
  });
}

// Columns [d0, d0 + V * kLanes) of mix_rows, clipped to d_head.
template <int R, int V>
void mix_block(const float* pattern, Eigen::Index pattern_stride, int first_query, const float* values,
               Eigen::Index values_stride, int d0, int d_head, float* z, Eigen::Index z_stride) {
  Vector sums[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) sums[r][v] = simd::zero();
  auto add_key = [&](int j, int first_row) {
    Vector value[V];
    for (int v = 0; v < V; ++v) value[v] = simd::load(values + j * values_stride + d0 + v * kLanes);
#pragma GCC unroll 8
    for (int r = first_row; r < R; ++r) {
      const Vector weight = simd::broadcast(pattern + r * pattern_stride + j);
      for (int v = 0; v < V; ++v) sums[r][v] = simd::multiply_add(weight, value[v], sums[r][v]);
    }
  };
  // Keys every row of the group sees, then the group's own diagonal (row r sees up to first_query + r).
  for (int j = 0; j <= first_query; ++j) add_key(j, 0);
  for (int j = first_query + 1; j < first_query + R; ++j) add_key(j, j - first_query);
  for (int v = 0; v < V; ++v) {
    const int first = d0 + v * kLanes, width = std::min(kLanes, d_head - first);
    for (int r = 0; r < R; ++r) store_first(z + r * z_stride + first, sums[r][v], width);
  }
}

// z row r (at z + r * z_stride) = sum over keys j <= first_query + r of pattern(r, j) * v_j, for r < R.
// values: [keys, >= d_head rounded up to whole vectors] (what lies past d_head does not reach z).
template <int R>
void mix_rows(const float* pattern, Eigen::Index pattern_stride, int first_query, const float* values,
              Eigen::Index values_stride, int d_head, float* z, Eigen::Index z_stride) {
  over_vector_blocks(d_head, [&]<int V>(int d0) {
    mix_block<R, V>(pattern, pattern_stride, first_query, values, values_stride, d0, d_head, z, z_stride);
  });
}

// Softmax of row[0, n) in place. Every entry's exp goes through the same vector path and the sum through
// ordered_sum's order (16 running lane sums, then a fixed tree), so that a row's values depend neither on
// its address nor on how its length divides into vectors.
#if defined(__AVX512F__)
void softmax_row(float* row, int n) {
  static_assert(kOrderedSumLanes == 16, "one AVX-512 vector per 16 lanes");
  auto first = [n](int j0) { return static_cast<__mmask16>((1u << std::min(16, n - j0)) - 1); };
  const __m512 negative_infinity = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  __m512 maxima = negative_infinity;
  for (int j0 = 0; j0 < n; j0 += 16)
    maxima = _mm512_max_ps(maxima, _mm512_mask_loadu_ps(negative_infinity, first(j0), row + j0));
  const __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(maxima));
  __m512 sums = _mm512_setzero_ps();
  for (int j0 = 0; j0 < n; j0 += 16) {
    const __m512 shifted = _mm512_sub_ps(_mm512_mask_loadu_ps(max, first(j0), row + j0), max);
    const __m512 exps = _mm512_maskz_mov_ps(first(j0), Eigen::internal::pexp(shifted));
    sums = _mm512_add_ps(sums, exps);
    _mm512_mask_storeu_ps(row + j0, first(j0), exps);
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sums);
  const __m512 sum = _mm512_set1_ps(ordered_sum(16, [&lanes](int l) { return lanes[l]; }));
  for (int j0 = 0; j0 < n; j0 += 16)
    _mm512_mask_storeu_ps(row + j0, first(j0), _mm512_div_ps(_mm512_maskz_loadu_ps(first(j0), row + j0), sum));
}
#else
void softmax_row(float* row, int n) {
  using Chunk = Eigen::Array<float, kOrderedSumLanes, 1>;
  const float max = *std::max_element(row, row + n);
  for (int j0 = 0; j0 < n; j0 += kOrderedSumLanes) {
    const int width = std::min(kOrderedSumLanes, n - j0);
    Chunk chunk = Chunk::Constant(max);
    std::copy(row + j0, row + j0 + width, chunk.data());
    chunk = (chunk - max).exp();
    std::copy(chunk.data(), chunk.data() + width, row + j0);
  }
  const float sum = ordered_sum(n, [row](int j) { return row[j]; });
  Eigen::Map<Eigen::ArrayXf>(row, n) /= sum;
}
#endif

// Runs `kernel<R>(first_row)` over rows [0, rows) in groups of kGroupRows, then of 4, then single rows.
template <typename Kernel>
void over_row_groups(int rows, Kernel&& kernel) {
  static_assert(kGroupRows > 4);
  int row = 0;
  for (; row + kGroupRows <= rows; row += kGroupRows) kernel.template operator()<kGroupRows>(row);
  for (; row + 4 <= rows; row += 4) kernel.template operator()<4>(row);
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
  float* const keys_t = keys_t_.data();
  int whole_keys = 0, whole_dims = 0;  // the part transposed in 16 x 16 register blocks
#if defined(__AVX512F__)
  whole_keys = keys / 16 * 16;
  whole_dims = d_head / 16 * 16;
  for (int j0 = 0; j0 < whole_keys; j0 += 16)
    for (int d0 = 0; d0 < whole_dims; d0 += 16) {
      __m512 block[16];
      for (int j = 0; j < 16; ++j) block[j] = _mm512_loadu_ps(k.row(j0 + j).data() + d0);
      transpose_16x16(block);
      for (int d = 0; d < 16; ++d) _mm512_storeu_ps(keys_t + (d0 + d) * keys_t_stride_ + j0, block[d]);
    }
#endif
  for (int d = 0; d < d_head; ++d) {
    float* line = keys_t + d * keys_t_stride_;
    for (int j = d < whole_dims ? whole_keys : 0; j < keys; ++j) line[j] = k(j, d);
    std::fill(line + keys, line + padded(keys), 0.0f);
  }
  return keys_t;
}

AttentionWorkspace::Rows AttentionWorkspace::value_rows(const StridedMap& v, int keys) {
  const int d_head = static_cast<int>(v.cols());
  if (d_head % kLanes == 0) return {v.data(), v.outerStride()};
  assert(d_head <= values_stride_ && static_cast<size_t>(keys * values_stride_) <= values_.size());
  for (int j = 0; j < keys; ++j) {
    float* line = values_.data() + j * values_stride_;
    std::copy(v.row(j).data(), v.row(j).data() + d_head, line);
    std::fill(line + d_head, line + values_stride_, 0.0f);
  }
  return {values_.data(), values_stride_};
}

void attention_scores(const StridedMap& q, const StridedMap& k, const AttentionRule& rule, Eigen::Ref<RowMatrix> scores,
                      AttentionWorkspace& workspace) {
  const int positions = static_cast<int>(q.rows()), d_head = static_cast<int>(q.cols());
  const float* keys_t = workspace.transposed_keys(k, positions);
  over_row_groups(positions, [&]<int R>(int first) {
    score_rows<R>(q.data() + first * q.outerStride(), q.outerStride(), d_head, keys_t, workspace.keys_t_stride(),
                  first + R, rule.score_scale, scores.data() + first * scores.outerStride(), scores.outerStride());
  });
  const float masked = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < positions; ++i) {
    scores.row(i).head(rule.first_key(i)).setConstant(masked);
    scores.row(i).tail(positions - i - 1).setConstant(masked);
  }
}

void causal_softmax(const AttentionRule& rule, Eigen::Ref<RowMatrix> scores_to_pattern) {
  const int positions = static_cast<int>(scores_to_pattern.rows());
  for (int i = 0; i < positions; ++i) {
    // Only the keys the query sees enter the softmax (exp of -inf would be a denormal here, not 0).
    const int first = rule.first_key(i);
    softmax_row(scores_to_pattern.row(i).data() + first, i + 1 - first);
    scores_to_pattern.row(i).head(first).setZero();
    scores_to_pattern.row(i).tail(positions - i - 1).setZero();
  }
}

void mix_values(const Eigen::Ref<const RowMatrix>& pattern, const StridedMap& v, MutableStridedMap z,
                AttentionWorkspace& workspace) {
  const int positions = static_cast<int>(pattern.rows()), d_head = static_cast<int>(v.cols());
  const AttentionWorkspace::Rows values = workspace.value_rows(v, positions);
  over_row_groups(positions, [&]<int R>(int first) {
    mix_rows<R>(pattern.data() + first * pattern.outerStride(), pattern.outerStride(), first, values.data,
                values.stride, d_head, z.data() + first * z.outerStride(), z.outerStride());
  });
}

void causal_attention(const StridedMap& q, const StridedMap& k, const StridedMap& v, const AttentionRule& rule,
                      Eigen::Ref<RowMatrix> scores, MutableStridedMap z, AttentionWorkspace& workspace) {
  attention_scores(q, k, rule, scores, workspace);
  causal_softmax(rule, scores);
  mix_values(scores, v, z, workspace);
}

void attend_row(const float* query, const StridedMap& k, const StridedMap& v, int position, const AttentionRule& rule,
                AttentionWorkspace& workspace, float* z_row) {
  const int d_head = static_cast<int>(k.cols()), keys = position + 1;
  const float* keys_t = workspace.transposed_keys(k, keys);
  float* scores = workspace.scores();
  score_rows<1>(query, 0, d_head, keys_t, workspace.keys_t_stride(), keys, rule.score_scale, scores, 0);
  const int first = rule.first_key(position);
  softmax_row(scores + first, keys - first);
  std::fill(scores, scores + first, 0.0f);  // keys before the window weigh nothing (the mix adds exact zeros)
  const AttentionWorkspace::Rows values = workspace.value_rows(v, keys);
  mix_rows<1>(scores, 0, position, values.data, values.stride, d_head, z_row, 0);
}

}  // namespace cscrub::engine::ops
