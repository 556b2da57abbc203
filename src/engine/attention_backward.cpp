// The gradient of one head's causal attention over one sequence. With S = scale q kᵀ (masked: later keys and
// keys before the layer's window), P = softmax(S) row by row and z = P v:
//   dP = dz vᵀ,  dv = Pᵀ dz,  dS = P ∘ (dP - rowsum(P ∘ dP)),  dq = scale dS k,  dk = scale dSᵀ q.
// Masked entries have P = 0, so they take no part. P is recomputed from q and k by the forward's own functions
// (the same bits as the forward's pattern) rather than kept: for long prompts it is the largest activation.
// Every value depends only on this head's q, k, v and dz (Eigen's products on this sequence alone, sums in
// ordered_sum's order), so the gradients are the same whatever the thread count and the other sequences.
#include <cassert>

#include "ops.hpp"
#include "ordered_sum.hpp"

namespace cscrub::engine::ops {

AttentionGradientWorkspace::AttentionGradientWorkspace(int positions, int d_head)
    : forward(positions, d_head), pattern(positions, positions), d_pattern(positions, positions) {}

void causal_attention_backward(const StridedMap& q, const StridedMap& k, const StridedMap& v, const StridedMap& d_z,
                               const AttentionRule& rule, MutableStridedMap d_q, MutableStridedMap d_k,
                               MutableStridedMap d_v, AttentionGradientWorkspace& workspace) {
  const int positions = static_cast<int>(q.rows());
  assert(workspace.pattern.rows() == positions && d_z.rows() == positions);
  RowMatrix& pattern = workspace.pattern;
  RowMatrix& d_scores = workspace.d_pattern;
  attention_scores(q, k, rule, pattern, workspace.forward);
  causal_softmax(rule, pattern);

  d_v.noalias() = pattern.transpose() * d_z;
  d_scores.noalias() = d_z * v.transpose();
  for (int i = 0; i < positions; ++i) {
    const float* p = pattern.row(i).data();
    float* d = d_scores.row(i).data();
    const float weighted = ordered_sum(i + 1, [&](int j) { return p[j] * d[j]; });
    // Keys before the window have p = 0, so their d is 0 too.
    for (int j = 0; j <= i; ++j) d[j] = p[j] * (d[j] - weighted);
    for (int j = i + 1; j < positions; ++j) d[j] = 0.0f;  // masked: no gradient reaches the scores
  }
  d_q.noalias() = rule.score_scale * (d_scores * k);
  d_k.noalias() = rule.score_scale * (d_scores.transpose() * q);
}

}  // namespace cscrub::engine::ops
