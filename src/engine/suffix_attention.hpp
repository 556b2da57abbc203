// Attention at the suffix rows of sequences whose earlier positions live in a QkvCache (see resume.hpp): the
// keys and values one head reads over a whole sequence are gathered from the cache (positions before the
// suffix) and from the suffix rows' own keys and values, then each query row attends as the forward's
// attend_row does, so the result is the forward's bit for bit. Rotary models: queries and keys come rotated, as
// the forward attends to them (the cache holds hook_rot_q and hook_rot_k).
#pragma once
#include <vector>

#include "cscrub/engine/resume.hpp"
#include "ops.hpp"

namespace cscrub::engine {

// One head's keys or values at a sequence's suffix rows: row r (position start + r) at data + r * stride.
struct HeadRowsView {
  const float* data;
  Eigen::Index stride;
};

// A thread's buffers for attending over one sequence of up to `positions` tokens, by one layer's rule (score
// scale, key window).
class SuffixAttention {
 public:
  SuffixAttention(int positions, int d_head, const ops::AttentionRule& rule);

  // The keys and values of head `head` over every position of suffix sequence `sequence`: those before
  // rows.start from layer `layer` of rows.cache, the others from `suffix_keys` and `suffix_values`.
  void gather(const SuffixRows& rows, int layer, int head, int sequence, HeadRowsView suffix_keys,
              HeadRowsView suffix_values);
  // The z row (d_head floats) of the query at `position`, against the gathered keys 0..position.
  void attend(const float* query, int position, float* z_row);

 private:
  int d_head_;
  ops::AttentionRule rule_;
  std::vector<float> keys_, values_;  // [positions, d_head]
  ops::AttentionWorkspace workspace_;
};

// Keys of head `head` in a q|k|v row (its values are d_model further on).
inline Eigen::Index key_column(int d_model, int d_head, int head) { return d_model + static_cast<Eigen::Index>(head) * d_head; }

}  // namespace cscrub::engine
