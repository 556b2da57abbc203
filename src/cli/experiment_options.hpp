// What `cscrub run`, `cscrub compare` and `cscrub rerun` add to the library's experiment (app/experiment.hpp):
// the options, the progress bar, and writing the JSON.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include <optional>
#include <vector>

#include "cscrub/app/experiment.hpp"
#include "cscrub/io/command_files.hpp"
#include "cscrub/parallel/ranks.hpp"

namespace cscrub::cli {

void add_experiment_options(CLI::App& command, app::ExperimentOptions& options);

// The options of a run shared among `ranks`.
app::ExperimentOptions on_ranks(app::ExperimentOptions options, const parallel::Ranks& ranks);
// Prepares the experiment on every rank (files checked, inputs read and compared with rank 0's). Collective.
app::PreparedExperiment prepare_on_ranks(const parallel::Ranks& ranks, const io::CommandFiles& files,
                                         const app::ExperimentOptions& options,
                                         const std::vector<std::string>& hypotheses);
// Runs the prepared experiment shared among `ranks`, with a progress bar on stderr (rank 0's; none when
// `quiet`): the result on rank 0, nullopt on the others.
std::optional<scrub::ExperimentResult> execute_experiment(const parallel::Ranks& ranks,
                                                          const app::PreparedExperiment& prepared, bool quiet);

void write_json_file(const std::string& path, const nlohmann::json& json);

}  // namespace cscrub::cli
