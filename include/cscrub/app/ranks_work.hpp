// Runs shared among the ranks of an MPI job (parallel/ranks.hpp), for `cscrub run`, `compare` and `discover`:
// every rank prepares the same run from the same options (reads the model and the inputs itself), computes its
// block of the run's units, and sends their values to rank 0, which assembles the result in unit order and
// writes every output. Results are the bits of one process', for any number of ranks and threads.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cscrub/app/edge_discovery.hpp"
#include "cscrub/app/experiment.hpp"
#include "cscrub/parallel/ranks.hpp"

namespace cscrub::app {

// Throws cscrub::Error on every rank unless every rank read the inputs rank 0 read: its `provenance` (the hashes
// of the model, the prompts and the hypotheses) equal to rank 0's. Collective.
void check_same_inputs(const parallel::Ranks& ranks, const nlohmann::json& provenance);

// The provenance check for discovery runs: the pairs' tokens, answers and distractors (hashed) and the model
// checkpoint's size.
nlohmann::json pairs_fingerprint(const discover::PairedDataset& pairs, const std::string& model_dir);

// Scrubs the prepared experiment, its units (scrub::ExperimentUnits) shared among `ranks`: the result on rank 0,
// nullopt on the others. Collective: one rank's failure ends every rank with its message (RankFailure).
std::optional<scrub::ExperimentResult> run_experiment_on(const parallel::Ranks& ranks,
                                                         const PreparedExperiment& prepared,
                                                         const scrub::ExperimentProgress& progress = {});

// Scores every edge, the pairs (discover::EdgeAttributionUnits) shared among `ranks`: the run on rank 0, nullopt on
// the others. Collective, like run_experiment_on.
std::optional<EdgeDiscoveryRun> run_edge_discovery_on(const parallel::Ranks& ranks,
                                                      const PreparedEdgeDiscovery& prepared,
                                                      const discover::Progress& progress = {});

// " on 2 MPI ranks" for a job of several ranks, "" for one process: what the cost lines end with.
std::string ranks_phrase(const parallel::Ranks& ranks);

}  // namespace cscrub::app
