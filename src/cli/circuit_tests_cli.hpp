// `cscrub test` as a function, for the command and for `cscrub rerun` of its records.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "experiment_cli.hpp"

namespace cscrub::cli {

struct CircuitTestOptions {
  double alpha = 0.05;
  double margin_points = 5;  // the equivalence margin, in points of % recovered
  int random_circuits = 39;
  std::string random_layers = "same";
  std::vector<std::string> ablations = {"resample", "mean", "zero", "counterfactual"};
};

// Tests each hypothesis of `files` in turn; prints the reports when `print`. Returns the JSON `cscrub test
// --json` writes: {"tests": [one per file], "provenance": {... "tests": the options}}.
nlohmann::json run_circuit_tests(const ExperimentOptions& experiment, const std::vector<std::string>& files,
                                 const CircuitTestOptions& options, bool print);

// The options as the provenance records them, and back (throws nlohmann's errors for a malformed record).
nlohmann::json circuit_test_options_json(const CircuitTestOptions& options);
CircuitTestOptions circuit_test_options_from(const nlohmann::json& recorded);

}  // namespace cscrub::cli
