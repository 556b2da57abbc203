// circuit_test_json: a `cscrub test` report as JSON.
#include <fmt/format.h>

#include <cmath>

#include "cscrub/app/circuit_tests.hpp"
#include "cscrub/app/result_text.hpp"
#include "cscrub/graph/variants.hpp"

namespace cscrub::app {
namespace {

using Json = nlohmann::json;

Json number_or_null(double value) { return std::isfinite(value) ? Json(value) : Json(); }

Json estimate(const scrub::Estimate& estimate) {
  if (std::isnan(estimate.value)) return {{"value", nullptr}, {"ci95", nullptr}};
  return {{"value", estimate.value}, {"ci95", {estimate.low, estimate.high}}};
}

// {"0.01": value, ...}
Json quantiles_json(const std::vector<double>& levels, const std::vector<double>& values) {
  Json json = Json::object();
  for (size_t i = 0; i < levels.size() && i < values.size(); ++i) json[fmt::format("{:g}", levels[i])] = values[i];
  return json;
}

Json equivalence_json(const scrub::Equivalence& test) {
  return {{"margin", test.margin},
          {"alpha", test.alpha},
          {"recovered", test.recovered.value},
          {"standard_error", test.recovered.standard_error},
          {"degrees_of_freedom", test.recovered.degrees_of_freedom},
          {"interval", {test.low, test.high}},
          {"interval_confidence", 1 - 2 * test.alpha},
          {"p_lower", test.p_lower},
          {"p_upper", test.p_upper},
          {"p_value", test.p_value},
          {"equivalent", test.equivalent}};
}

Json necessity_json(const scrub::CircuitTestReport& report, const scrub::NodeNecessity& necessity) {
  const scrub::HypothesisScore& without = report.experiment.hypotheses[necessity.hypothesis];
  const bool tested = report.experiment.recoverable.defined;
  return {{"node", necessity.node},
          {"dropped", necessity.dropped},
          {"recovered_without", estimate(without.recovered)},
          {"difference", tested ? number_or_null(necessity.test.difference) : Json()},
          {"standard_error", tested ? number_or_null(necessity.test.standard_error) : Json()},
          {"t", tested ? number_or_null(necessity.test.t) : Json()},
          {"degrees_of_freedom", necessity.test.degrees_of_freedom},
          {"p_value", tested ? Json(necessity.test.p_value) : Json()},
          {"p_holm", tested ? Json(necessity.p_holm) : Json()},
          {"needed", tested ? Json(necessity.needed) : Json()},
          {"per_reference", scrubbed_values_json(without)}};
}

Json random_json(const scrub::CircuitTestReport& report) {
  const bool tested = report.experiment.recoverable.defined;
  Json circuits = Json::array();
  for (size_t k = 0; k < report.random.hypotheses.size(); ++k) {
    const scrub::HypothesisScore& score = report.experiment.hypotheses[report.random.hypotheses[k]];
    circuits.push_back({{"components", report.random.components[k]},
                        {"recovered", number_or_null(score.recovered.value)},
                        {"per_reference", scrubbed_values_json(score)}});
  }
  Json json = {{"k", report.random.hypotheses.size()},
               {"layers", graph::to_string(report.settings.random_layers)},
               {"statistic", "|recovered - 1|, smaller is better"},
               {"claim_distance", tested ? Json(report.random.claim_distance) : Json()},
               {"p_value", tested ? Json(report.random.p_value) : Json()},
               {"beats_random", tested ? Json(report.random.beaten) : Json()},
               {"circuits", circuits}};
  if (!report.random.recovered.empty()) {
    const std::vector<double> levels{0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0};
    std::vector<double> values;
    for (double q : levels) values.push_back(scrub::quantile(report.random.recovered, q));
    json["recovered_quantiles"] = quantiles_json(levels, values);
  }
  return json;
}

Json distribution_json(const PreparedExperiment& prepared, const scrub::CircuitTestReport& report) {
  const scrub::ReferenceDistribution& distribution = report.distribution;
  if (distribution.recovered.empty()) return Json();
  const scrub::HypothesisScore& claim = report.experiment.hypotheses.front();
  Json worst = Json::array();
  for (size_t position : distribution.worst) {
    const int index = report.experiment.references[position];
    worst.push_back({{"reference_index", index},
                     {"text", prepared.dataset.examples[static_cast<size_t>(index)].text},
                     {"model", claim.values.model[position]},
                     {"scrubbed", claim.values.scrubbed[position]},
                     {"recovered", distribution.recovered[position]}});
  }
  return {{"definition", "1 - (model_i - scrubbed_i) / (mean model - mean baseline), seed-averaged per reference"},
          {"quantiles", quantiles_json(report.settings.quantiles, distribution.quantiles)},
          {"worst_fraction", report.settings.worst_fraction},
          {"worst", worst}};
}

Json ablation_json(const scrub::AblationOutcome& outcome) {
  if (!outcome.result) return {{"ablation", scrub::to_string(outcome.ablation)}, {"skipped", outcome.skipped}};
  const scrub::ExperimentResult& result = *outcome.result;
  const scrub::HypothesisScore& claim = result.hypotheses.front();
  Json per_reference = reference_values_json(result);
  per_reference.update(scrubbed_values_json(claim));
  return {{"ablation", scrub::to_string(outcome.ablation)},
          {"model_value", result.model.value},
          {"baseline_value", estimate(result.baseline)},
          {"scrubbed_value", estimate(claim.scrubbed)},
          {"recovered", estimate(claim.recovered)},
          {"verdict", recovery_class(claim.recovered.value)},
          {"recoverable", recoverable_json(result.recoverable)},
          {"per_reference", per_reference}};
}

}  // namespace

bool ablation_verdicts_agree(const scrub::CircuitTestReport& report) {
  std::string first;
  for (const scrub::AblationOutcome& outcome : report.ablations) {
    if (!outcome.result) continue;
    const std::string verdict = recovery_class(outcome.result->hypotheses.front().recovered.value);
    if (first.empty()) first = verdict;
    else if (verdict != first) return false;
  }
  return true;
}

nlohmann::json circuit_test_json(const PreparedExperiment& prepared, const scrub::CircuitTestReport& report) {
  const scrub::ExperimentResult& experiment = report.experiment;
  const scrub::HypothesisScore& claim = experiment.hypotheses.front();
  Json per_reference = reference_values_json(experiment);
  per_reference.update(scrubbed_values_json(claim));
  Json necessity = Json::array();
  for (const scrub::NodeNecessity& node : report.necessity) necessity.push_back(necessity_json(report, node));
  Json ablations = Json::array();
  for (const scrub::AblationOutcome& outcome : report.ablations) ablations.push_back(ablation_json(outcome));
  return {{"hypothesis", claim.name},
          {"hypothesis_file", claim.source},
          {"metric", scrub::to_string(experiment.metric)},
          {"higher_is_better", scrub::higher_is_better(experiment.metric)},
          {"n", experiment.n},
          {"excluded_prompts", experiment.excluded},
          {"excluded_singletons", experiment.excluded_singletons},
          {"seeds", experiment.seeds},
          {"sampling", scrub::to_string(experiment.sampling)},
          {"alpha", report.settings.alpha},
          {"model_value", estimate(experiment.model)},
          {"baseline", experiment.baseline_name},
          {"baseline_value", estimate(experiment.baseline)},
          {"scrubbed_value", estimate(claim.scrubbed)},
          {"recovered", estimate(claim.recovered)},
          {"recoverable", recoverable_json(experiment.recoverable)},
          {"equivalence", report.equivalence ? equivalence_json(*report.equivalence) : Json()},
          {"necessity", necessity},
          {"random_circuits", random_json(report)},
          {"per_reference_recovery", distribution_json(prepared, report)},
          {"ablations", ablations},
          {"ablation_verdicts_agree", ablation_verdicts_agree(report)},
          {"class_sizes", class_sizes_json(claim)},
          {"per_reference", per_reference}};
}

}  // namespace cscrub::app
