// What the edge-level methods (exact patching, circuit evaluation, ACDC) read from the clean and the ablated
// runs of a batch of prompt pairs, recorded once per batch.
//
// The pairs of a batch share their length, and their clean and corrupted prompts agree before `start` (the
// first position where any of them differ). Causal attention makes every activation before `start` the same
// in both runs, and in any mix of them, so only the positions from `start` on are kept and recomputed; the
// earlier positions' keys and values come from the clean run (engine::SuffixRows). Mean ablation changes
// every position: its batches start at 0.
#pragma once
#include <string>
#include <vector>

#include "cscrub/discover/edge_graph.hpp"
#include "cscrub/discover/pairs.hpp"
#include "cscrub/engine/resume.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::discover {

// What an edge outside a circuit carries (MIB's interventions).
enum class CircuitAblation {
  counterfactual,  // the parent's output on the pair's corrupted prompt ("patching")
  mean,            // the parent's output averaged over every position of every corrupted prompt ("mean")
};
std::string to_string(CircuitAblation ablation);
// "counterfactual" (or "patching") or "mean"; throws cscrub::Error otherwise.
CircuitAblation parse_circuit_ablation(const std::string& text);

// Per source node of `graph` (its order), the mean of its output over every position of every prompt of
// `dataset`: [sources, d_model].
engine::RowMatrix source_means(const engine::Weights& weights, const EdgeGraph& graph, const data::Dataset& dataset,
                               int batch_size);

struct PairBatchPlan {
  std::vector<int> pairs;  // indices into the paired dataset, in its order
  int positions = 0;       // their common length
  int start = 0;           // positions before it are the same in the clean and the corrupted prompts
};
// Batches of at most `max_batch` pairs that share their length and (for counterfactual ablation) their first
// differing position, in order of first appearance. Identical prompts differ nowhere: their start is the
// last position.
std::vector<PairBatchPlan> plan_pair_batches(const PairedDataset& pairs, int max_batch, CircuitAblation ablation);

// The recorded runs of one batch. Matrices hold the suffix rows: row i * length + (p - start) is position p of
// the batch's pair i.
struct PairBatch {
  PairBatchPlan plan;
  std::vector<int> identity;  // 0, 1, ...: each pair reads its own cached positions
  engine::QkvCache clean_qkv;  // every position of the clean prompts
  std::vector<engine::RowMatrix> clean_out, ablated_out;  // per source node: its output (the input: hook_embed)
  std::vector<engine::RowMatrix> clean_pre, clean_mid;    // per layer: hook_resid_pre, hook_resid_mid
  std::vector<engine::RowMatrix> ablated_pre, ablated_mid;
  engine::RowMatrix clean_final, ablated_final;           // the final residual stream (before ln_f)

  int length() const { return plan.positions - plan.start; }
  int size() const { return static_cast<int>(plan.pairs.size()); }
  // The batch's suffix rows, each of `copies` copies of the batch reading its own pair's cached positions
  // (`cache_sequence` must hold copies * size() entries; see repeated_pairs).
  engine::SuffixRows rows(std::span<const int> cache_sequence) const;
};
// 0, 1, ..., size - 1, `copies` times: the cache sequences of `copies` changed copies of a batch.
std::vector<int> repeated_pairs(int size, int copies);

// Runs the batch's clean prompts and records them; then its corrupted prompts (counterfactual), or builds the
// ablated outputs and streams from `means` (mean: source_means of the corrupted prompts).
PairBatch record_pair_batch(const engine::Weights& weights, const EdgeGraph& graph, const PairedDataset& pairs,
                            const PairBatchPlan& plan, CircuitAblation ablation, const engine::RowMatrix* means);

// The bytes a recorded batch of `size` pairs of `positions` tokens, recomputed from `start`, holds (PairBatch and
// its metric), and the peak of the pass that records it on top of them.
struct PairBatchMemory {
  uint64_t kept = 0;       // the PairBatch and its metric's clean logits (kl, prob_diff, loss: the vocabulary)
  uint64_t recording = 0;  // the recorded forward's hooks and workspace, freed once the batch is made
};
PairBatchMemory pair_batch_memory(const engine::ModelConfig& config, int size, int positions, int start,
                                  bool full_vocabulary);

// The rows of `suffix` ([copies * size * length, width]) at each copy's last position: [copies * size, width].
engine::RowMatrix last_positions(const engine::RowMatrix& suffix, int length);

}  // namespace cscrub::discover
