// The engine's kernels, knowing nothing of the model: products split across cores (gemm.hpp), layer norm,
// GELU and causal attention for one head. Every kernel computes each output element the same way whatever
// the thread count and whatever the other rows are (batch composition), so results are bit-identical
// across thread counts and batch sizes.
#pragma once
#include <span>
#include <vector>

#include "cscrub/engine/config.hpp"
#include "cscrub/engine/tensor.hpp"
#include "gemm.hpp"

namespace cscrub::engine::ops {

using ConstRef = Eigen::Ref<const RowMatrix>;
using MutableRef = Eigen::Ref<RowMatrix>;
using StridedMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;
using MutableStridedMap = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;

// out = in · weight (+ bias) in `kernel`'s arithmetic. in: [rows, K]; weight: [K, N]; out: [rows, N]. Packs
// into `buffers` when given.
void linear(MatmulKernel kernel, const ConstRef& in, const ConstRef& weight, const RowVector* bias, MutableRef out,
            gemm::PackingBuffers* buffers = nullptr);

// out = in · weight_rowsᵀ: the unembedding, weight_rows [N, K] (e.g. wte [vocab, d_model]).
void linear_transposed(MatmulKernel kernel, const ConstRef& in, const ConstRef& weight_rows, MutableRef out,
                       gemm::PackingBuffers* buffers = nullptr);

// Layer norm in TransformerLens' stages: scale = sqrt(var + eps) per row, normalized = (x - mean) / scale.
// The affine part (weight, bias) is applied by apply_affine.
void layer_norm_scale(const ConstRef& x, float epsilon, std::span<float> scale);
void layer_norm_normalize(const ConstRef& x, std::span<const float> scale, MutableRef normalized);
void apply_affine(const ConstRef& normalized, const RowVector& weight, const RowVector& bias, MutableRef out);
// All three stages at once (no hooks in between).
void layer_norm(const ConstRef& x, float epsilon, const RowVector& weight, const RowVector& bias, MutableRef out);

// sum += addend, element-wise (the residual stream's additions), split across threads when large.
void add_in_place(MutableRef sum, const ConstRef& addend);

// GELU, tanh approximation ("gelu_new"), element-wise in place.
void gelu_tanh(MutableRef values);
// GELU, exact: 0.5 x (1 + erf(x / sqrt(2))) ("gelu"), element-wise in place.
void gelu_erf(MutableRef values);
// The model's activation function (one of the two above), in place.
void activate(ActivationFunction activation, MutableRef values);

// Rotary position embedding (GPT-NeoX): cos and sin of position p times inverse frequency i, [positions, dims/2]
// each, for the first `dims` dimensions of a head, frequencies base^(-2i/dims). Computed in double, rounded once.
struct RotaryTable {
  RotaryTable(int positions, int dims, double base);
  int half = 0;  // dims / 2
  RowMatrix cos, sin;
};
// Rotates, in place, `heads` heads of one row (head h starting at row + h * head_stride) for `position`: for
// i < half, (x_i, x_{i+half}) becomes (x_i cos - x_{i+half} sin, x_{i+half} cos + x_i sin); the dimensions from
// 2 * half on pass through.
void rotate_row(float* row, int heads, int head_stride, const RotaryTable& table, int position);
// The same for every row of `rows`, row r being at position first_position + r % positions_per_sequence (rows
// of sequences' suffixes from first_position on: a resumed pass's).
void rotate_rows(MutableRef rows, int heads, int head_stride, const RotaryTable& table, int positions_per_sequence,
                 int first_position = 0);

// What one layer's attention does with its scores: scores = score_scale * q·k, and a query at position i sees
// keys i - key_window + 1 .. i (all keys up to i when key_window is 0).
struct AttentionRule {
  float score_scale = 1.0f;
  int key_window = 0;
  int first_key(int query) const { return key_window > 0 && query >= key_window ? query - key_window + 1 : 0; }
};

// Whether attention over `sequences` (batch x heads) is worth splitting across threads.
bool worth_parallel_attention(int sequences, int positions, int d_head);

// Causal attention of one head over one sequence of `positions` tokens (attention.cpp).
// q, k, v: [positions, d_head] views (rows may be strided); scores/pattern: [positions, positions].
// Each value is computed the same way by every function here, so a single query row (attend_row) matches
// the corresponding row of the batched functions bit for bit.

// A thread's working memory for the functions below, sized for sequences of up to `positions` tokens.
class AttentionWorkspace {
 public:
  AttentionWorkspace(int positions, int d_head);
  // k's first `keys` rows transposed: [d_head, keys_t_stride()], zero-padded to whole vectors.
  const float* transposed_keys(const StridedMap& k, int keys);
  // v's first `keys` rows, each readable in whole vectors: in place when d_head is a whole number of
  // vectors, else copied and zero-padded (a vector past the last head's d_head would leave the matrix).
  struct Rows {
    const float* data;
    Eigen::Index stride;
  };
  Rows value_rows(const StridedMap& v, int keys);
  float* scores() { return scores_.data(); }  // room for one row of scores
  Eigen::Index keys_t_stride() const { return keys_t_stride_; }

 private:
  using Buffer = std::vector<float, Eigen::aligned_allocator<float>>;
  Eigen::Index keys_t_stride_, values_stride_;
  Buffer keys_t_, values_, scores_;
};

// Masked scores (later keys, and keys before the window) are -inf; their pattern entries 0.
void attention_scores(const StridedMap& q, const StridedMap& k, const AttentionRule& rule, Eigen::Ref<RowMatrix> scores,
                      AttentionWorkspace& workspace);
void causal_softmax(const AttentionRule& rule, Eigen::Ref<RowMatrix> scores_to_pattern);
void mix_values(const Eigen::Ref<const RowMatrix>& pattern, const StridedMap& v, MutableStridedMap z,
                AttentionWorkspace& workspace);
// The three above for one sequence: scores (into `scores`), pattern, then z.
void causal_attention(const StridedMap& q, const StridedMap& k, const StridedMap& v, const AttentionRule& rule,
                      Eigen::Ref<RowMatrix> scores, MutableStridedMap z, AttentionWorkspace& workspace);
// One query (d_head floats at `query`) at `position` against keys and values 0..position: its z row.
void attend_row(const float* query, const StridedMap& k, const StridedMap& v, int position, const AttentionRule& rule,
                AttentionWorkspace& workspace, float* z_row);

}  // namespace cscrub::engine::ops
