// cscrub: test interpretability hypotheses on GPT-2, GPT-Neo and GPT-NeoX (Pythia) with causal scrubbing.
#include <fmt/core.h>

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>

#include "commands.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/output_file.hpp"
#include "cscrub/parallel/ranks.hpp"
#include "cscrub/suggest.hpp"
#include "one_line.hpp"

namespace {

// CLI11's message, but for a first word that is no command: CLI11 says only that a command is required.
std::string usage_error(const CLI::App& app, const CLI::ParseError& error, int argc, char** argv) {
  if (!app.get_subcommands().empty() || argc < 2 || argv[1][0] == '-') return error.what();
  std::vector<std::string> commands;
  for (const CLI::App* command : app.get_subcommands({})) commands.push_back(command->get_name());
  return "unknown command '" + std::string(argv[1]) + "'" + cscrub::did_you_mean(argv[1], commands);
}

// Where the usage of the command that failed to parse is explained.
std::string usage_hint(const CLI::App& app) {
  for (const CLI::App* command : app.get_subcommands())
    return "run `cscrub " + command->get_name() + " --help` for its options";
  return "run `cscrub --help` for the commands";
}

// The commands that share their work among the ranks of an MPI job; the others refuse to run on several ranks.
bool shares_work(const std::string& command) {
  return command == "run" || command == "compare" || command == "discover" || command == "faithfulness";
}

// Ranks other than 0 compute but do not report: rank 0 prints and writes everything once.
void silence_standard_output() {
  std::fflush(stdout);
  const int null = ::open("/dev/null", O_WRONLY);
  if (null >= 0) {
    ::dup2(null, STDOUT_FILENO);
    ::close(null);
  }
}

}  // namespace

int main(int argc, char** argv) {
  cscrub::io::remove_temporary_files_on_signals();
  // The MPI job this process is a rank of (a single process when no launcher started it), for the whole run.
  std::optional<cscrub::parallel::Ranks> joined;
  try {
    joined.emplace(argc, argv);
  } catch (const cscrub::Error& error) {
    fmt::print(stderr, "cscrub: error: {}\n", cscrub::cli::one_line(error.what()));
    fmt::print(stderr, "  hint: {}\n", cscrub::cli::one_line(error.hint()));
    return 1;
  }
  const cscrub::parallel::Ranks& ranks = *joined;
  if (!ranks.root()) silence_standard_output();
  // Errors every rank meets alike (bad options, bad inputs) are told once, by rank 0; a failure of one rank reaches
  // rank 0 as a RankFailure with that rank's message.
  const bool tell = ranks.root();
  if (ranks.size() > 1 && argc > 1 && argv[1][0] != '-' && !shares_work(argv[1])) {
    if (tell)
      fmt::print(stderr, "cscrub: error: cscrub {} does not share its work among MPI ranks, and {} ranks would each do all of it\n"
                 "  hint: run it without mpirun or srun (run, compare, discover and faithfulness share their work)\n",
                 cscrub::cli::one_line(argv[1]), ranks.size());
    return 1;
  }
  CLI::App app{"cscrub: causal scrubbing of GPT-2, GPT-Neo and Pythia circuits, from hypothesis files"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(CSCRUB_VERSION));
  // Registered commands (each in its own file). Keep one line per command.
  cscrub::cli::add_tokenize_command(app);
  cscrub::cli::add_forward_command(app);
  cscrub::cli::add_check_command(app);
  cscrub::cli::add_graph_command(app);
  cscrub::cli::add_dataset_command(app);
  cscrub::cli::add_run_command(app, ranks);
  cscrub::cli::add_compare_command(app, ranks);
  cscrub::cli::add_rerun_command(app);
  cscrub::cli::add_test_command(app);
  cscrub::cli::add_patch_command(app);
  cscrub::cli::add_attribute_command(app);
  cscrub::cli::add_attention_command(app);
  cscrub::cli::add_discover_command(app, ranks);
  cscrub::cli::add_faithfulness_command(app, ranks);
  cscrub::cli::add_circuit_command(app);
  // end of registered commands
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version end parsing with exit code 0; every other parse error is a usage error, told on
    // one line like any other error and with the same exit code.
    if (error.get_exit_code() == 0) return tell ? app.exit(error) : 0;
    if (!tell) return 1;
    fmt::print(stderr, "cscrub: error: {}\n", cscrub::cli::one_line(usage_error(app, error, argc, argv)));
    fmt::print(stderr, "  hint: {}\n", usage_hint(app));
    return 1;
  } catch (const cscrub::Error& error) {
    if (!tell) return 1;
    fmt::print(stderr, "cscrub: error: {}\n", cscrub::cli::one_line(error.what()));
    if (!error.hint().empty()) fmt::print(stderr, "  hint: {}\n", cscrub::cli::one_line(error.hint()));
    return 1;
  } catch (const std::filesystem::filesystem_error& error) {
    // A path given by the user that the file system refuses (a name too long, a directory without search
    // permission) while cscrub asks about it: the user's to fix, like a missing file.
    if (!tell) return 1;
    fmt::print(stderr, "cscrub: error: {}: {}\n", cscrub::cli::one_line(error.path1().string()),
               cscrub::cli::one_line(error.code().message()));
    return 1;
  } catch (const std::exception& error) {
    if (!tell) return 2;
    fmt::print(stderr, "cscrub: internal error: {}\n", cscrub::cli::one_line(error.what()));
    return 2;
  }
  return 0;
}
