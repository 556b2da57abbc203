// Causal scrubbing of one hypothesis (Chan et al. 2022), evaluated on the treeified model without building
// the tree: for each reference input x, the output node is computed from clean residual streams in which
// every claimed-important parent's contribution is replaced by that parent's value recomputed, recursively,
// on an input agreeing with x on the parent's feature; everything else comes from one random input per
// node evaluation (or from the node's own input when the node says rest = "same"). References are
// processed in batches of one alignment group; only the hypothesis' components are recomputed.
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
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

// What stands in for the inputs a hypothesis calls unimportant (those of nodes with rest = "random"),
// docs/hypothesis-format.md "Ablations". Causal scrubbing resamples them; the others are the usual
// alternatives, to see how much a verdict owes to that choice.
enum class Ablation {
  resample,        // the clean activations of one random prompt of the node's input's alignment group
  mean,            // their mean over the alignment group
  zero,            // nothing: every unclaimed component writes zero (the constant biases stay)
  counterfactual,  // the clean activations of the node's input's counterpart in a paired dataset (IOI: p_ABC)
};
std::string to_string(Ablation ablation);
std::vector<std::string> ablation_names();
// Throws cscrub::Error naming the closest ablation.
Ablation parse_ablation(const std::string& name);

struct ScrubOptions {
  int batch_size = 64;
  Sampling sampling = Sampling::cscrub;
  Ablation ablation = Ablation::resample;
  // For Ablation::counterfactual: the clean activations of the paired prompts, counterfactual->dataset()
  // .examples[i] being the counterpart of example i (same length and named positions).
  const CleanCache* counterfactual = nullptr;
};

class Scrubber {
 public:
  // Throws cscrub::Error for positions or features the dataset cannot resolve, a hypothesis that fails
  // graph::find_problems_on_data, alignment groups with a single example (a random input would always be
  // the reference itself), or a counterfactual ablation without paired activations that fit.
  Scrubber(const engine::Weights& weights, const CleanCache& cache, const graph::Hypothesis& hypothesis,
           const ScrubOptions& options);
  Scrubber(const engine::Weights& weights, const CleanCache& cache, const graph::Hypothesis& hypothesis,
           int batch_size)
      : Scrubber(weights, cache, hypothesis, ScrubOptions{.batch_size = batch_size}) {}

  // The scrubbed final residual stream at each reference's answer position, [references, d_model].
  engine::RowMatrix final_rows(std::span<const int> references, uint64_t seed);

  const ScrubCost& cost() const { return cost_; }
  // The cost counted since the last take_cost (or since construction), and a fresh count from here: a unit's
  // cost, the same sums whatever came before it.
  ScrubCost take_cost() { return std::exchange(cost_, ScrubCost{}); }

 private:
  std::vector<engine::RowMatrix> evaluate(int node, const std::vector<int>& own, std::span<const int> references,
                                          TreePath& path, uint64_t seed);
  std::vector<int> positions_of(int node, int example) const;
  void count_cost(const graph::Component& component, int batch, int positions);
  // What the ablation puts in place of the unclaimed inputs of a node evaluated on `own` (`random`: the
  // resampled prompts): the residual stream a component reads, and a component's output.
  engine::RowMatrix background_stream(Stream stream, const std::vector<int>& own, const std::vector<int>& random);
  engine::RowMatrix background_output(const graph::Component& component, const std::vector<int>& own,
                                      const std::vector<int>& random);
  // The mean over `example`'s alignment group of `rows_of(members)`, one prompt's rows, memoised by `key`.
  template <class RowsOf>
  const engine::RowMatrix& group_mean(const std::string& key, int example, RowsOf&& rows_of);

  const engine::Weights& weights_;
  const CleanCache& cache_;
  const graph::Hypothesis& hypothesis_;
  graph::ModelGraph model_graph_;
  Sampler sampler_;
  ScrubOptions options_;
  std::vector<std::vector<int>> edges_into_;  // per node, the indices of the edges ending there
  std::map<std::string, engine::RowMatrix> group_means_;  // mean ablation: per alignment group and activation
  ScrubCost cost_;
};

}  // namespace cscrub::scrub
