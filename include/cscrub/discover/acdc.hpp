// ACDC (Conmy et al. 2023): greedy pruning of the edge graph. The destinations are visited from the logits
// backwards (reverse topological order: the logits, then per layer from the last its MLP, then its heads' v, k
// and q inputs); each edge into the current destination is tried, latest source first: it is removed (it then
// carries the corrupted output, like every edge removed before it) and the metric over all pairs is measured;
// if the metric moved by at most the threshold, |after - before| <= tau, the edge stays out, otherwise it is put
// back. Edges into a node that no longer has an outgoing edge change nothing and are removed untried.
//
// Unlike ACDC's code, which by default compares the signed increase of the KL divergence, the change is taken
// in absolute value: an edge whose removal improves the metric by more than tau matters too. So tau = 0 removes
// only edges whose removal changes nothing, and tau = infinity removes every edge.
#pragma once
#include <vector>

#include "cscrub/discover/batches.hpp"
#include "cscrub/discover/pair_metric.hpp"
#include "cscrub/discover/scored_graph.hpp"

namespace cscrub::discover {

struct AcdcOptions {
  Metric metric = Metric::kl;
  double threshold = 0.0;  // tau, >= 0 (infinity allowed)
  int batch_size = 32;     // pairs recorded together (does not change the result)
};

struct AcdcResult {
  // scores: per edge, the metric's change (after - before) when it was tried (0 for edges removed untried);
  // in_graph: the edges kept, pruned to what connects the input and the logits.
  ScoredGraph graph;
  int kept = 0;              // edges kept, before pruning
  int tried = 0;             // edges whose removal was measured
  double model_metric = 0;   // the mean metric with every edge (the clean model)
  double final_metric = 0;   // with the kept edges, as ACDC last measured it
  double pruned_metric = 0;  // with the pruned circuit, measured again
};

// The peak memory of acdc beyond the weights: every batch's recorded runs kept, and one circuit evaluation.
uint64_t acdc_bytes(const engine::ModelConfig& config, const PairedDataset& pairs, const AcdcOptions& options);

// Progress counts edges visited.
AcdcResult acdc(const engine::Weights& weights, const EdgeGraph& graph, const PairedDataset& pairs,
                const AcdcOptions& options, const Progress& progress = {});

}  // namespace cscrub::discover
