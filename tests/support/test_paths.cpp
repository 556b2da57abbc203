#include "test_paths.hpp"

#include <array>
#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace cscrub::test {

std::filesystem::path source_dir() { return CSCRUB_SOURCE_DIR; }
std::filesystem::path binary_dir() { return CSCRUB_BINARY_DIR; }
std::filesystem::path cli_path() { return CSCRUB_CLI_PATH; }
std::filesystem::path bundled_model_dir() { return source_dir() / "models" / "gpt2-ioi-mini"; }

std::filesystem::path scratch_dir(const std::string& label) {
  static std::atomic<int> counter{0};
  auto dir = binary_dir() / "test-scratch" /
             (label + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') quoted += "'\\''";
    else quoted += c;
  }
  return quoted + "'";
}

CommandResult run_command(const std::string& command) {
  CommandResult result;
  std::string full = command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run: " + command);
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace cscrub::test
