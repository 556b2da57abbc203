// `cscrub test`: the hypothesis tests reviewers of circuit papers ask for, on one claim. Equivalence with
// the model (TOST), necessity of each node (paired, Holm-corrected), the claim against random circuits of
// its shape (permutation p-value), the distribution of the claim's per-reference recovery and its worst
// references, and the claim under other ablations than resampling. docs/hypothesis-tests.md defines each.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/engine/weights.hpp"
#include "cscrub/graph/hypothesis.hpp"
#include "cscrub/graph/variants.hpp"
#include "cscrub/scrub/experiment.hpp"
#include "cscrub/scrub/hypothesis_tests.hpp"

namespace cscrub::scrub {

struct CircuitTestSettings {
  double alpha = 0.05;
  double margin = 0.05;            // equivalence: |% recovered - 100%| < margin
  int random_circuits = 39;        // K: the smallest p-value is 1 / (K + 1)
  graph::RandomLayers random_layers = graph::RandomLayers::same;
  std::vector<Ablation> ablations = {Ablation::resample, Ablation::mean, Ablation::zero, Ablation::counterfactual};
  double worst_fraction = 0.01;    // the worst references listed: this fraction of them, at least one
  std::vector<double> quantiles = {0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99};
};

struct NodeNecessity {
  std::string node;
  std::vector<std::string> dropped;  // the node and the nodes that reached the output only through it
  size_t hypothesis = 0;             // its run in CircuitTestReport::experiment.hypotheses
  PairedDifference test;             // R(claim) - R(claim without the node)
  double p_holm = 1;                 // Holm-adjusted across the claim's nodes
  bool needed = false;               // p_holm <= alpha
};

struct RandomCircuitTest {
  std::vector<size_t> hypotheses;    // the random circuits' runs in the experiment
  std::vector<std::string> components;  // each one's heads and MLPs
  std::vector<double> recovered;     // each one's R
  double claim_distance = 0;         // |R(claim) - 1|
  double p_value = 1;                // permutation_p_value of the distance
  bool beaten = false;               // p_value <= alpha: the claim is closer to 100% than random circuits
};

struct ReferenceDistribution {
  std::vector<double> recovered;     // per reference (per_reference_recovered), in the experiment's order
  std::vector<double> quantiles;     // at CircuitTestSettings::quantiles
  std::vector<size_t> worst;         // the lowest, as positions in `recovered` (worst first)
};

struct AblationOutcome {
  Ablation ablation = Ablation::resample;
  std::optional<ExperimentResult> result;  // the baseline (nothing matters, same ablation) and the claim
  std::string skipped;                     // why not run, when result is empty
};

struct CircuitTestReport {
  std::string claim;
  ExperimentResult experiment;  // resampling: the claim first, then each node dropped, then the random circuits
  std::optional<Equivalence> equivalence;  // empty when % recovered is undefined (experiment.recoverable)
  std::vector<NodeNecessity> necessity;
  RandomCircuitTest random;
  ReferenceDistribution distribution;
  std::vector<AblationOutcome> ablations;
  CircuitTestSettings settings;
};

// Runs every test on `claim`. `counterfactual` pairs the dataset's prompts for the counterfactual ablation
// (nullptr: that ablation is skipped, with `counterfactual_missing` as the reason).
CircuitTestReport test_circuit(const engine::Weights& weights, const data::Dataset& dataset,
                               const data::Dataset* counterfactual, const std::string& counterfactual_missing,
                               const graph::Hypothesis& claim, const graph::Hypothesis& baseline,
                               const ExperimentSettings& settings, const CircuitTestSettings& tests,
                               const ExperimentProgress& progress = {});

}  // namespace cscrub::scrub
