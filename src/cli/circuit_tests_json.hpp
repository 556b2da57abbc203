// The JSON of `cscrub test`: every test's result and definition's inputs, and every per-reference value
// they were computed from (the claim's, each variant's, each ablation's), so that anyone can recompute them.
#pragma once
#include <nlohmann/json.hpp>
#include <vector>

#include "cscrub/scrub/circuit_tests.hpp"
#include "experiment_cli.hpp"

namespace cscrub::cli {

// One claim's report.
nlohmann::json circuit_test_json(const PreparedExperiment& prepared, const scrub::CircuitTestReport& report);

// Whether the ablations that ran give the claim the same verdict (result_text.hpp's recovery classes).
bool ablation_verdicts_agree(const scrub::CircuitTestReport& report);

}  // namespace cscrub::cli
