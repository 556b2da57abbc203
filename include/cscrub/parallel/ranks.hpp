// Sharing one job among the processes an MPI launcher starts (`mpirun -np K cscrub ...`, `srun cscrub ...`):
// which units of work each rank computes, the exchange of their results with rank 0, and failures that end
// every rank together. main() owns the one Ranks object and hands it down; code that takes a Ranks runs the
// same with `Ranks()`, a single process (the Python module, the tests, a binary built without MPI).
//
// The work is shared so that every number is computed by the same arithmetic as in one process: each unit's
// result is computed whole on one rank, sent to rank 0 as bytes, and rank 0 assembles them in unit order
// (any sum across units is done there, in the single process's order).
#pragma once
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <filesystem>

#include "cscrub/error.hpp"

namespace cscrub::parallel {

// Units [begin, end) of a job.
struct Block {
  int begin = 0, end = 0;
  int size() const { return end - begin; }
  friend bool operator==(const Block&, const Block&) = default;
};

// The contiguous block of `units` that rank `rank` of `ranks` computes: the first `units % ranks` ranks take one
// unit more than the others; a rank beyond the units takes none.
Block block_of(int units, int rank, int ranks);

// The number of ranks the environment of an MPI launcher announces (Open MPI's OMPI_COMM_WORLD_SIZE, PMI's
// PMI_SIZE (srun --mpi=pmi2, MPICH) or, failing these, a PMIX_RANK or PMI_RANK r > 0: at least r + 1); 1 when
// started otherwise.
int launcher_ranks();

// Whether an MPI launcher started this process (any of OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK is set).
bool started_by_launcher();

// Every rank fails with this when one rank failed: the failing rank's message (rank 0 prints it; the others are
// silent), named "rank R of K: ..." when another rank than 0 failed.
class RankFailure : public Error {
 public:
  RankFailure(std::string message, std::string hint, int failed_rank)
      : Error(std::move(message), std::move(hint)), failed_rank_(failed_rank) {}
  int failed_rank() const { return failed_rank_; }

 private:
  int failed_rank_;
};

class Ranks {
 public:
  // One process, no MPI.
  Ranks();
  // main()'s: joins the job the launcher started (MPI_Init). Built without MPI: throws cscrub::Error if the
  // launcher announced several ranks (every rank would otherwise do the whole job), else one process.
  Ranks(int& argc, char**& argv);
  ~Ranks();  // MPI_Finalize, if this object joined the job
  Ranks(const Ranks&) = delete;
  Ranks& operator=(const Ranks&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }
  // Whether this program can share work among ranks (built with MPI).
  static bool built_with_mpi();
  // The ranks running on this rank's machine (itself included): they share its memory.
  int ranks_on_this_machine() const { return local_size_; }

  // This rank's block of `units` (block_of).
  Block share(int units) const { return block_of(units, rank_, size_); }

  // Rank 0 receives every rank's `bytes`, its own included, and hands each to `take` in rank order, one rank at a
  // time (so that it holds one other rank's bytes at once); the other ranks send theirs. Collective.
  void gather_to_root(const std::string& bytes, const std::function<void(int rank, std::string_view bytes)>& take) const;
  // Rank 0's `bytes` on every rank. Collective.
  std::string broadcast(std::string bytes) const;

  // Collective: every rank tells whether it failed (an empty `message`: it did not). If any did, every rank
  // throws RankFailure with the message of the lowest failing rank.
  void raise_any_failure(const std::string& message, const std::string& hint) const;

  // Runs `phase` on every rank, then raise_any_failure: one rank's error (cscrub::Error, an unreadable path, out
  // of memory) ends every rank with that message, instead of leaving the others waiting for it. Collective.
  // In one process, `phase` alone (its exceptions unchanged).
  template <class Phase>
  std::invoke_result_t<Phase> together(Phase&& phase) const;

  // Test hook (fault injection): a rank whose number CSCRUB_TEST_KILL_RANK names kills itself with SIGKILL when it
  // reaches the phase CSCRUB_TEST_KILL_AT names; for the tests of a rank lost midway. Nothing happens otherwise.
  void fault_point(const char* phase) const;

 private:
  struct Communicator;
  std::unique_ptr<Communicator> communicator_;  // null for one process
  int rank_ = 0, size_ = 1, local_size_ = 1;
};

namespace detail {
// The failure message and hint of the exception being handled (inside a catch block).
std::pair<std::string, std::string> current_failure();
}  // namespace detail

template <class Phase>
std::invoke_result_t<Phase> Ranks::together(Phase&& phase) const {
  using Result = std::invoke_result_t<Phase>;
  if (size_ == 1) return phase();  // one process: its errors as they are
  std::pair<std::string, std::string> failure;
  if constexpr (std::is_void_v<Result>) {
    try {
      phase();
    } catch (...) {
      failure = detail::current_failure();
    }
    raise_any_failure(failure.first, failure.second);
  } else {
    std::optional<Result> result;
    try {
      result.emplace(phase());
    } catch (...) {
      failure = detail::current_failure();
    }
    raise_any_failure(failure.first, failure.second);
    return std::move(*result);
  }
}

}  // namespace cscrub::parallel
