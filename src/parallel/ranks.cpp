// What both variants of Ranks share (src/parallel/mpi/ and src/parallel/single/ hold the rest, one of them
// compiled as CMake chooses): the blocks, the launcher's environment, failures as messages, the fault hook.
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "cscrub/parallel/ranks.hpp"

namespace cscrub::parallel {
namespace {

int environment_number(const char* name, int otherwise) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return otherwise;
  char* end = nullptr;
  const long number = std::strtol(value, &end, 10);
  return *end == '\0' && number >= 0 && number < (1 << 30) ? static_cast<int>(number) : otherwise;
}

}  // namespace

Block block_of(int units, int rank, int ranks) {
  const int base = units / ranks, extra = units % ranks;
  const int begin = rank * base + std::min(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

int launcher_ranks() {
  // Open MPI's mpirun, and PMI (Slurm's srun --mpi=pmi2, MPICH's launchers).
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const int size = environment_number(name, 0); size > 0) return size;
  // PMIx (srun --mpi=pmix) announces the rank alone: any rank but 0 shows that there are several.
  for (const char* name : {"PMIX_RANK", "PMI_RANK"})
    if (const int rank = environment_number(name, 0); rank > 0) return rank + 1;
  return 1;
}

bool started_by_launcher() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

namespace detail {

std::pair<std::string, std::string> current_failure() {
  try {
    throw;
  } catch (const Error& error) {
    return {error.what(), error.hint()};
  } catch (const std::filesystem::filesystem_error& error) {
    return {error.path1().string() + ": " + error.code().message(), ""};
  } catch (const std::bad_alloc&) {
    return {"out of memory", "use fewer ranks per machine, a smaller --batch-size or fewer prompts"};
  } catch (const std::exception& error) {
    return {std::string("internal error: ") + error.what(), ""};
  } catch (...) {
    return {"internal error: an unknown exception", ""};
  }
}

}  // namespace detail

void Ranks::fault_point(const char* phase) const {
  const char* at = std::getenv("CSCRUB_TEST_KILL_AT");
  if (at == nullptr || std::string(at) != phase) return;
  if (environment_number("CSCRUB_TEST_KILL_RANK", -1) != rank_) return;
  std::raise(SIGKILL);
}

}  // namespace cscrub::parallel
