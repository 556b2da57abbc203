// cscrub: test interpretability hypotheses on GPT-2 with causal scrubbing.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <exception>

#include "commands.hpp"
#include "cscrub/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"cscrub: causal scrubbing of GPT-2 circuits, from hypothesis files"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(CSCRUB_VERSION));
  // Registered commands (each in its own file). Keep one line per command.
  cscrub::cli::add_tokenize_command(app);
  cscrub::cli::add_forward_command(app);
  cscrub::cli::add_check_command(app);
  cscrub::cli::add_graph_command(app);
  cscrub::cli::add_dataset_command(app);
  cscrub::cli::add_run_command(app);
  cscrub::cli::add_compare_command(app);
  cscrub::cli::add_patch_command(app);
  cscrub::cli::add_attribute_command(app);
  cscrub::cli::add_attention_command(app);
  // end of registered commands
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  } catch (const cscrub::Error& error) {
    fmt::print(stderr, "cscrub: error: {}\n", error.what());
    if (!error.hint().empty()) fmt::print(stderr, "  hint: {}\n", error.hint());
    return 1;
  } catch (const std::exception& error) {
    fmt::print(stderr, "cscrub: internal error: {}\n", error.what());
    return 2;
  }
  return 0;
}
