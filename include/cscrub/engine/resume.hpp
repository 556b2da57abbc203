// Resuming a forward pass part-way through: from any layer (before its attention or before its MLP) and
// over only the last positions of each sequence. What exact edge patching and edge-masked evaluation need:
// a change that enters the residual stream at layer L and position s leaves every earlier layer, and (causal
// attention) every earlier position, as the clean pass computed them. So only layers from L and positions
// from s are recomputed, and their attention reads the earlier positions' keys and values from the clean
// pass. Row for row this is the forward's own arithmetic: resuming with the clean pass's residual stream
// gives its final residual stream bit for bit.
#pragma once
#include <span>
#include <vector>

#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/tensor.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::engine {

// The queries, keys and values every layer's attention read over `sequences` sequences of `positions` tokens:
// per layer [sequences * positions, 3 * d_model], row sequence * positions + position, columns q | k | v with
// the heads side by side (hook_q, hook_k and hook_v next to each other; rotary models: hook_rot_q, hook_rot_k
// and hook_v, the queries and keys as rotated at their positions).
struct QkvCache {
  int sequences = 0, positions = 0;
  std::vector<RowMatrix> layers;
};

// Records a QkvCache of the sequences a forward pass runs (the hooks above); chain it with
// other Interventions to record more in the same pass.
class QkvRecorder : public Interventions {
 public:
  QkvRecorder(const ModelConfig& config, int sequences, int positions);
  bool wants(HookPoint hook) const override;
  void visit(const Activation& activation) override;
  QkvCache take() { return std::move(cache_); }

 private:
  QkvCache cache_;
  int d_model_;
  bool rotary_;
};

// The rows a resumed computation covers: positions [start, positions) of each of `sequences` sequences, in
// the row order i * length() + (p - start). The positions before `start` of sequence i are those of sequence
// cache_sequence[i] of `cache` (several sequences may share one: the same prompt, changed differently).
// With start == 0 nothing is read from the cache for earlier positions, and `cache` may be null.
struct SuffixRows {
  int sequences = 0, positions = 0, start = 0;
  std::span<const int> cache_sequence;  // size `sequences`
  const QkvCache* cache = nullptr;
  int length() const { return positions - start; }
  int rows() const { return sequences * length(); }
};

// Throws cscrub::Error when `rows` is inconsistent: no positions left, a missing or too short cache, a cache
// sequence out of range. `needs_cache`: the caller reads cached values at the suffix rows too.
void check_suffix_rows(const ModelConfig& config, const SuffixRows& rows, bool needs_cache);

// Where a resumed pass enters the model: before the attention of `layer` (its hook_resid_pre) or before its
// MLP (hook_resid_mid; not in a parallel block, whose MLP reads hook_resid_pre: resume at the next layer
// there); layer == n_layer is the final residual stream (before ln_f).
struct ResumePoint {
  enum class Stage { attention, mlp };
  int layer = 0;
  Stage stage = Stage::attention;
};

// Runs the model from `point` to the end of its blocks on `residual`, the stream entering that point at the
// suffix rows ([rows.rows(), d_model]), and writes the final residual stream (before ln_f) at each sequence's
// last position into `final_rows` ([sequences, d_model]). The last block computes keys and values for every
// suffix row but queries, attention output and MLP only for the last positions. Works in `scratch` when given.
void resume_forward(const Weights& weights, const ResumePoint& point, const SuffixRows& rows,
                    const RowMatrix& residual, RowMatrix& final_rows, ForwardScratch* scratch = nullptr);

// Floating-point work of resume_forward (multiply-adds counted as 2), for cost reports.
double resume_flops(const ModelConfig& config, const ResumePoint& point, const SuffixRows& rows);

}  // namespace cscrub::engine
