// A circuit evaluated as MIB defines it (Mueller et al. 2025; EAP-IG's evaluate_graph): the model runs on the
// clean prompts, and every destination's input (each head's query, key and value input, each MLP's input, the
// logits) is the sum of its sources' outputs in this run, except that a source whose edge to it is outside the
// circuit contributes its ablated output instead (its output on the corrupted prompt, or its mean). Constants
// (position embeddings, attention output biases) are as in both runs.
//
// With every edge in the circuit this is the clean forward pass bit for bit; with none, under counterfactual
// ablation, the corrupted forward pass bit for bit (each destination then reads the recorded stream of that
// run). In between, a destination reads this run's stream corrected by its missing edges, or the ablated
// stream corrected by its present ones, whichever takes fewer terms. Only positions from the batch's first
// difference on and layers from the first destination that misses an edge are recomputed.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "cscrub/discover/batches.hpp"
#include "cscrub/discover/pair_batch.hpp"
#include "cscrub/discover/pair_metric.hpp"

namespace cscrub::discover {

// The metric of each pair of `batch` with only the edges marked in `in_circuit` (per edge of `graph`).
std::vector<double> evaluate_circuit(const engine::Weights& weights, const EdgeGraph& graph, const PairBatch& batch,
                                     const PairMetric& metric, std::span<const uint8_t> in_circuit);

// Circuits evaluated over a whole paired dataset, batch by batch.
class CircuitEvaluator {
 public:
  // `resident`: keep every batch's recorded runs between calls (ACDC evaluates thousands of circuits);
  // otherwise each call records the batches again and frees them as it goes.
  CircuitEvaluator(const engine::Weights& weights, const EdgeGraph& graph, const PairedDataset& pairs,
                   CircuitAblation ablation, Metric metric, int batch_size, bool resident);
  ~CircuitEvaluator();

  // Per circuit (edge marks of `graph`), the metric of every pair, in the dataset's order. Progress counts
  // circuits x batches.
  std::vector<std::vector<double>> per_pair(const std::vector<std::vector<uint8_t>>& circuits,
                                            const Progress& progress = {});
  // The mean over pairs of one circuit's metric (summed in the dataset's order, so the same at any batch size).
  double mean(std::span<const uint8_t> in_circuit);
  // The clean model's per-pair metric, from the recorded clean runs.
  const std::vector<double>& clean() const { return clean_; }
  double clean_mean() const;
  int pairs() const { return static_cast<int>(clean_.size()); }

 private:
  struct Recorded;
  template <typename Visit>
  void for_each_batch(Visit&& visit);

  const engine::Weights& weights_;
  EdgeGraph graph_;
  const PairedDataset& pairs_;
  CircuitAblation ablation_;
  Metric metric_;
  std::vector<PairBatchPlan> plans_;
  engine::RowMatrix means_;  // mean ablation: per source
  bool resident_;
  std::vector<std::unique_ptr<Recorded>> recorded_;  // resident batches
  std::vector<double> clean_;
};

// The peak memory of a CircuitEvaluator beyond the weights: the recorded batches (every one when resident, else
// one at a time), the recording pass, one circuit evaluation.
uint64_t circuit_evaluation_bytes(const engine::ModelConfig& config, const PairedDataset& pairs,
                                  CircuitAblation ablation, Metric metric, int batch_size, bool resident);

// Mean of `values` in their order.
double mean_of(const std::vector<double>& values);

}  // namespace cscrub::discover
