// Edge attribution over every edge of the discovery graph (edge_graph.hpp), as EAP-IG's attribute.py computes
// it (Syed et al. 2023; Hanna et al. 2024; Mueller et al. 2025):
//   EAP     score(p -> c) = mean over pairs of Σ_positions Δ[p] · ∂metric/∂(c's input at that port), the gradient
//           taken on the clean run;
//   EAP-IG  the same Δ, the gradient averaged over `steps` runs of the clean prompt whose token embeddings are
//           corrupted + (k / steps)(clean − corrupted), k = 0 .. steps − 1 (k = 0 is the corrupted run itself);
// with Δ[p] = a_corrupted[p] − a_clean[p], the activation parent p writes into the residual stream (the token
// embedding; a head's z_h W_O[h] without the bias; an MLP's output). The metric is a pair's own, at the last
// position of its prompts with the clean labels (metrics.hpp), not negated: a positive score means that carrying
// the corrupted activation along the edge raises the metric, to first order. Pairs of different lengths run in
// different batches; every position of a prompt counts (the metric reads the last, so later positions than it
// do not exist and earlier ones reach it through attention).
//
// Costs, per pair: EAP two forward passes and one backward; EAP-IG steps + 1 forwards and steps backwards. The
// gradients are contracted with Δ layer by layer as the backward produces them (a product of long rows per pair
// and layer, engine/row_products.hpp), never stored for every destination. Scores are the same bits whatever the
// batch size or thread count: each pair's terms are summed in step order, and pairs in a fixed order (by length,
// in order of first appearance, then dataset order).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cscrub/discover/batches.hpp"
#include "cscrub/discover/metrics.hpp"
#include "cscrub/discover/pairs.hpp"
#include "cscrub/discover/scored_graph.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::discover {

enum class EdgeMethod { eap, eap_ig };
std::string to_string(EdgeMethod method);  // "eap", "eap-ig"
// Throws cscrub::Error naming the closest method.
EdgeMethod parse_edge_method(const std::string& name);

struct EdgeAttributionSettings {
  EdgeMethod method = EdgeMethod::eap_ig;
  int steps = 5;  // EAP-IG's M (MIB uses 5)
  Metric metric = Metric::logit_diff;
  int batch_size = 32;  // pairs per pass; does not change the scores
};

struct EdgeAttribution {
  ScoredGraph graph;  // every edge's score; nothing in the circuit
  // The metric's mean over pairs on the clean and on the corrupted prompts.
  double clean_metric = 0, corrupted_metric = 0;
  int pairs = 0;
  int forward_passes = 0, backward_passes = 0;  // over the dataset, each a pass over every pair
};

// Throws cscrub::Error for pairs the metric cannot read (no distractor for logit_diff), for non-finite logits,
// and for steps < 1.
EdgeAttribution attribute_edges(const engine::Weights& weights, const PairedDataset& pairs,
                                const EdgeAttributionSettings& settings, const Progress& progress = {});

// Edge attribution cut into units of work, for sharing among processes (parallel/ranks.hpp): unit i is the i-th
// pair in the order scores are summed in. Each pair's results (its metrics and its score sum of every edge) are
// computed whole by one process (attribute) and summed in unit order (EdgeAttributionSum): any split gives
// attribute_edges' bits. The arguments must outlive this.
class EdgeAttributionUnits {
 public:
  // attribute_edges' checks (throws cscrub::Error).
  EdgeAttributionUnits(const engine::ModelConfig& config, const PairedDataset& pairs,
                       const EdgeAttributionSettings& settings);
  int count() const { return static_cast<int>(order_.size()); }
  // Units [begin, end): each pair's results as bytes, bytes_per_unit() each, in unit order.
  std::string attribute(const engine::Weights& weights, int begin, int end, const Progress& progress = {}) const;
  uint64_t bytes_per_unit() const;  // 8 x (2 + edges)
  // The pairs (indices of the dataset) in unit order.
  const std::vector<int>& order() const { return order_; }
  const engine::ModelConfig& config() const { return config_; }
  const EdgeAttributionSettings& settings() const { return settings_; }

 private:
  const engine::ModelConfig& config_;
  const PairedDataset& pairs_;
  const EdgeAttributionSettings& settings_;
  std::vector<int> order_;
};

// The scores from every unit's results, added in unit order.
class EdgeAttributionSum {
 public:
  explicit EdgeAttributionSum(const EdgeAttributionUnits& units);
  // The next units' bytes (from attribute), in unit order.
  void add(std::string_view units);
  // The next pair's results: its metrics, and its score sum of each edge.
  void add_pair(double clean, double corrupted, const std::function<double(const Edge&)>& sum);
  const EdgeGraph& graph() const { return result_.graph.graph; }
  // Throws cscrub::Error unless every unit was added.
  EdgeAttribution result() const;

 private:
  const EdgeAttributionUnits& units_;
  EdgeAttribution result_;
  std::vector<double> totals_;  // per edge
  double clean_sum_ = 0, corrupted_sum_ = 0;
  int added_ = 0;
};

// What attribute_edges holds at its peak besides the weights, for a batch of `batch` pairs of `positions` tokens
// (the longest): the activation differences, the tape, the backward's workspace with every destination's
// gradient, the forward's, and the per-pair score sums.
struct EdgeAttributionMemory {
  uint64_t activation_differences = 0, tape = 0, backward = 0, forward = 0, scores = 0;
  uint64_t total() const { return activation_differences + tape + backward + forward + scores; }
};
EdgeAttributionMemory estimate_edge_attribution_memory(const engine::ModelConfig& config, engine::MatmulKernel kernel,
                                                       int batch, int positions, Metric metric);

}  // namespace cscrub::discover
