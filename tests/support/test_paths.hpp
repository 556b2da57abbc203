// Paths and helpers shared by the tests: where the sources, the build and the CLI are, and how to run a
// command and capture what it printed.
#pragma once
#include <filesystem>
#include <string>

namespace cscrub::test {

std::filesystem::path source_dir();
std::filesystem::path binary_dir();
std::filesystem::path cli_path();
// The bundled default model (models/<name> in the source tree).
std::filesystem::path bundled_model_dir();
// A fresh empty directory under the build tree, unique per call.
std::filesystem::path scratch_dir(const std::string& label);
// Debian's interpreter, the one that has python3-torch and python3-numpy.
inline const char* system_python() { return "/usr/bin/python3"; }

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs `command` through /bin/sh with stderr merged into stdout.
CommandResult run_command(const std::string& command);
// Quotes a string for /bin/sh.
std::string shell_quote(const std::string& text);

}  // namespace cscrub::test
