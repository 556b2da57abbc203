#include "cscrub/scrub/circuit_tests.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cscrub/data/random.hpp"

namespace cscrub::scrub {
namespace {

// The claim's node indices that can be dropped: all but the output.
std::vector<int> droppable_nodes(const graph::Hypothesis& claim) {
  std::vector<int> nodes;
  for (size_t n = 0; n < claim.nodes.size(); ++n)
    if (static_cast<int>(n) != claim.output_node) nodes.push_back(static_cast<int>(n));
  return nodes;
}

ReferenceDistribution distribution_of(const ReferenceValues& values, const CircuitTestSettings& tests) {
  ReferenceDistribution distribution;
  distribution.recovered = per_reference_recovered(values);
  for (double q : tests.quantiles) distribution.quantiles.push_back(quantile(distribution.recovered, q));
  std::vector<size_t> order(distribution.recovered.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return distribution.recovered[a] < distribution.recovered[b]; });
  const size_t worst = std::max<size_t>(1, static_cast<size_t>(std::ceil(tests.worst_fraction * static_cast<double>(order.size()))));
  distribution.worst.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(std::min(worst, order.size())));
  return distribution;
}

}  // namespace

CircuitTestReport test_circuit(const engine::Weights& weights, const data::Dataset& dataset,
                               const data::Dataset* counterfactual, const std::string& counterfactual_missing,
                               const graph::Hypothesis& claim, const graph::Hypothesis& baseline,
                               const ExperimentSettings& settings, const CircuitTestSettings& tests,
                               const ExperimentProgress& progress) {
  CircuitTestReport report;
  report.claim = claim.name;
  report.settings = tests;

  // One experiment under resampling: the claim, the claim without each node, and the random circuits, on
  // the same references and seeds.
  std::vector<graph::Hypothesis> runs{claim};
  for (int node : droppable_nodes(claim)) {
    NodeNecessity necessity;
    necessity.node = claim.nodes[static_cast<size_t>(node)].name;
    runs.push_back(graph::without_node(claim, node, necessity.dropped));
    necessity.hypothesis = runs.size() - 1;
    report.necessity.push_back(std::move(necessity));
  }
  const graph::ModelGraph model(weights.config);
  uint64_t circuit_seed = settings.seed ^ 0x7a11d0c1c5ULL;
  for (int k = 0; k < tests.random_circuits; ++k) {
    graph::Hypothesis circuit = graph::random_circuit(claim, model, tests.random_layers, data::splitmix64(circuit_seed));
    circuit.name = "random circuit " + std::to_string(k + 1);
    report.random.components.push_back(graph::components_text(circuit));
    runs.push_back(std::move(circuit));
    report.random.hypotheses.push_back(runs.size() - 1);
  }
  ExperimentSettings resample = settings;
  resample.ablation = Ablation::resample;
  report.experiment = run_experiment(weights, dataset, runs, baseline, resample, [&](const std::string& stage, int done, int total) {
    if (progress) progress(stage + " (claim, nodes dropped, random circuits)", done, total);
  });
  const ExperimentResult& experiment = report.experiment;
  const HypothesisScore& scored_claim = experiment.hypotheses.front();

  if (experiment.recoverable.defined) {
    report.equivalence = equivalence_test(scored_claim.values, tests.margin, tests.alpha);
    std::vector<double> p_values;
    for (NodeNecessity& necessity : report.necessity) {
      const ReferenceValues& without = experiment.hypotheses[necessity.hypothesis].values;
      necessity.test = paired_difference_test(scored_claim.values.model, scored_claim.values.baseline,
                                              scored_claim.values.scrubbed, without.scrubbed);
      p_values.push_back(necessity.test.p_value);
    }
    const std::vector<double> adjusted = holm_adjusted(p_values);
    for (size_t i = 0; i < report.necessity.size(); ++i) {
      report.necessity[i].p_holm = adjusted[i];
      report.necessity[i].needed = adjusted[i] <= tests.alpha;
    }
    std::vector<double> distances;
    for (size_t index : report.random.hypotheses) {
      const double recovered = experiment.hypotheses[index].recovered.value;
      report.random.recovered.push_back(recovered);
      distances.push_back(std::abs(recovered - 1.0));
    }
    report.random.claim_distance = std::abs(scored_claim.recovered.value - 1.0);
    report.random.p_value = permutation_p_value(report.random.claim_distance, distances);
    report.random.beaten = report.random.p_value <= tests.alpha;
    report.distribution = distribution_of(scored_claim.values, tests);
  }

  // The claim under each ablation, each against the baseline under the same ablation.
  for (Ablation ablation : tests.ablations) {
    AblationOutcome outcome{ablation, std::nullopt, {}};
    if (ablation == Ablation::resample) {
      ExperimentResult claim_only = experiment;
      claim_only.hypotheses.resize(1);
      outcome.result = std::move(claim_only);
    } else if (ablation == Ablation::counterfactual && counterfactual == nullptr) {
      outcome.skipped = counterfactual_missing;
    } else {
      ExperimentSettings ablated = settings;
      ablated.ablation = ablation;
      ablated.counterfactual = counterfactual;
      outcome.result = run_experiment(weights, dataset, {claim}, baseline, ablated, [&](const std::string& stage, int done, int total) {
        if (progress) progress(stage + " (" + to_string(ablation) + " ablation)", done, total);
      });
    }
    report.ablations.push_back(std::move(outcome));
  }
  return report;
}

}  // namespace cscrub::scrub
