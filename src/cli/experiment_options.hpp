// What `cscrub run`, `cscrub compare` and `cscrub rerun` add to the library's experiment (app/experiment.hpp):
// the options, the progress bar, and writing the JSON.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "cscrub/app/experiment.hpp"

namespace cscrub::cli {

void add_experiment_options(CLI::App& command, app::ExperimentOptions& options);

// Runs the prepared experiment with a progress bar on stderr (none when `quiet`).
scrub::ExperimentResult execute_experiment(const app::PreparedExperiment& prepared, bool quiet);

void write_json_file(const std::string& path, const nlohmann::json& json);

}  // namespace cscrub::cli
