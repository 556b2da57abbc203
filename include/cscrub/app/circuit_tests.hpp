// `cscrub test` as a library function, for the command, for `cscrub rerun` of its records and for the Python
// module: its options, the counterfactual pairing, running scrub::test_circuit on each file, and the JSON
// (every test's result and the per-reference values it was computed from).
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cscrub/app/experiment.hpp"
#include "cscrub/scrub/circuit_tests.hpp"

namespace cscrub::app {

struct CircuitTestOptions {
  double alpha = 0.05;
  double margin_points = 5;  // the equivalence margin, in points of % recovered
  int random_circuits = 39;
  std::string random_layers = "same";
  std::vector<std::string> ablations = {"resample", "mean", "zero", "counterfactual"};
};

// Throws cscrub::Error naming a bad option (alpha outside (0, 0.5), a margin <= 0, an unknown ablation ...).
scrub::CircuitTestSettings circuit_test_settings(const CircuitTestOptions& options);

// The options as the provenance records them, and back (throws nlohmann's errors for a malformed record).
nlohmann::json circuit_test_options_json(const CircuitTestOptions& options);
CircuitTestOptions circuit_test_options_from(const nlohmann::json& recorded);

// Called with each claim's report as soon as it is done; `counterparts` says how prompts were paired for
// the counterfactual ablation (or why they were not); `last` for the last file.
using CircuitTestReporter = std::function<void(const PreparedExperiment& prepared, const scrub::CircuitTestReport& report,
                                               const std::string& counterparts, bool last)>;

// Tests each hypothesis of `files` in turn on one dataset. Returns what `cscrub test --json` writes:
// {"tests": [one report per file], "provenance": {run's, and "tests": the options and the pairing}}.
nlohmann::json run_circuit_tests(const ExperimentOptions& experiment, const std::vector<std::string>& files,
                                 const CircuitTestOptions& options, const CircuitTestReporter& reporter = {},
                                 const scrub::ExperimentProgress& progress = {});

// One claim's report as JSON.
nlohmann::json circuit_test_json(const PreparedExperiment& prepared, const scrub::CircuitTestReport& report);

// Whether the ablations that ran give the claim the same verdict (result_text.hpp's recovery classes).
bool ablation_verdicts_agree(const scrub::CircuitTestReport& report);

}  // namespace cscrub::app
