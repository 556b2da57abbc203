// Exact edge patching (activation patching of single edges; MIB's best method on GPT-2 IOI): the score of an
// edge p -> c is the mean over pairs of metric(the clean run in which only that edge carries the corrupted
// output, i.e. c's input at that port gets a_corrupted[p] - a_clean[p] added) - metric(clean run).
//
// One run per edge, made cheap without approximation: the clean and corrupted runs are recorded once per batch
// of pairs (pair_batch.hpp); a patched run recomputes only the child and what lies downstream of it (from the
// child's layer, the layers below are never rerun), only at the positions from the pairs' first difference on
// (earlier positions read the clean run's keys and values), and the last block only at the last position.
// Edges into the same child run together, batched over pairs.
#pragma once
#include <vector>

#include "cscrub/discover/batches.hpp"
#include "cscrub/discover/pair_metric.hpp"

namespace cscrub::discover {

struct ExactPatchingOptions {
  Metric metric = Metric::logit_diff;
  int batch_size = 32;     // pairs recorded together (does not change the scores)
  int max_rows = 4096;     // rows of one patched run: edges into one child x pairs x positions (nor does this)
  std::vector<int> destinations = {};  // score only the edges into these destinations (the others get NaN); empty: all
};

// Per edge of `graph` (its order), the exact patching score. Progress counts edges x batches.
std::vector<double> exact_edge_scores(const engine::Weights& weights, const EdgeGraph& graph,
                                      const PairedDataset& pairs, const ExactPatchingOptions& options,
                                      const Progress& progress = {});

// The peak memory of exact_edge_scores beyond the weights: one recorded batch at a time, the parents' changes,
// and one patched run (its inputs and the resumed forward's workspace).
uint64_t exact_patching_bytes(const engine::ModelConfig& config, const PairedDataset& pairs,
                              const ExactPatchingOptions& options);

// Floating-point work of exact_edge_scores and of the naive way (a full forward per edge and batch), for cost
// reports: {exact, naive}.
struct ExactPatchingCost {
  double exact_flops = 0, naive_flops = 0;
};
ExactPatchingCost exact_patching_cost(const engine::ModelConfig& config, const EdgeGraph& graph,
                                      const PairedDataset& pairs, const ExactPatchingOptions& options);

}  // namespace cscrub::discover
