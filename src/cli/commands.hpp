// Every `cscrub` subcommand registers itself on the app through one of these (one file each).
#pragma once
#include <CLI/CLI.hpp>

#include "cscrub/parallel/ranks.hpp"

namespace cscrub::cli {

void add_tokenize_command(CLI::App& app);
void add_forward_command(CLI::App& app);
void add_check_command(CLI::App& app);
void add_graph_command(CLI::App& app);
void add_dataset_command(CLI::App& app);
// run, compare, discover and faithfulness share their work among the ranks of an MPI job (main() owns `ranks`).
void add_run_command(CLI::App& app, const parallel::Ranks& ranks);
void add_compare_command(CLI::App& app, const parallel::Ranks& ranks);
void add_patch_command(CLI::App& app);
void add_attribute_command(CLI::App& app);
void add_attention_command(CLI::App& app);
void add_rerun_command(CLI::App& app);
void add_discover_command(CLI::App& app, const parallel::Ranks& ranks);
void add_circuit_command(CLI::App& app);
void add_faithfulness_command(CLI::App& app, const parallel::Ranks& ranks);
void add_test_command(CLI::App& app);

}  // namespace cscrub::cli
