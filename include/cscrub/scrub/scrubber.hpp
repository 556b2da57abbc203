// Causal scrubbing of one hypothesis (Chan et al. 2022), evaluated on the treeified model without building
// the tree: for each reference input x, the output node is computed from clean residual streams in which
// every claimed-important parent's contribution is replaced by that parent's value recomputed, recursively,
// on an input agreeing with x on the parent's feature; everything else comes from one random input per
// node evaluation (or from the node's own input when the node says rest = "same"). References are
// processed in batches of one alignment group; only the hypothesis' components are recomputed.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "cscrub/engine/tensor.hpp"
#include "cscrub/engine/weights.hpp"
#include "cscrub/graph/hypothesis.hpp"
#include "cscrub/graph/model_graph.hpp"
#include "cscrub/scrub/clean_cache.hpp"
#include "cscrub/scrub/sampling.hpp"

namespace cscrub::scrub {

// What scrubbing cost, beyond the clean cache.
struct ScrubCost {
  int64_t head_evaluations = 0;    // one head recomputed for one reference
  int64_t mlp_evaluations = 0;
  int64_t node_evaluations = 0;    // interpretation nodes evaluated (per reference), tree paths included
  double flops = 0;                // multiply-adds x 2 of the recomputation
  ScrubCost& operator+=(const ScrubCost& other);
};

class Scrubber {
 public:
  // Throws cscrub::Error for positions or features the dataset cannot resolve, or alignment groups with a
  // single example (a random input would always be the reference itself).
  Scrubber(const engine::Weights& weights, const CleanCache& cache, const graph::Hypothesis& hypothesis,
           int batch_size);

  // The scrubbed final residual stream at each reference's answer position, [references, d_model].
  engine::RowMatrix final_rows(std::span<const int> references, uint64_t seed);

  const ScrubCost& cost() const { return cost_; }

 private:
  std::vector<engine::RowMatrix> evaluate(int node, const std::vector<int>& own, std::span<const int> references,
                                          TreePath& path, uint64_t seed);
  std::vector<int> positions_of(int node, int example) const;
  void count_cost(const graph::Component& component, int batch, int positions);

  const engine::Weights& weights_;
  const CleanCache& cache_;
  const graph::Hypothesis& hypothesis_;
  graph::ModelGraph model_graph_;
  Sampler sampler_;
  int batch_size_;
  std::vector<std::vector<int>> edges_into_;  // per node, the indices of the edges ending there
  ScrubCost cost_;
};

}  // namespace cscrub::scrub
