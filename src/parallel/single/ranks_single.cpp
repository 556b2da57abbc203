// Ranks in a build without MPI: always one process. Started by an MPI launcher as one of several ranks, it
// refuses to run rather than have every rank do the whole job and write the same outputs.
#include <string>

#include "cscrub/parallel/ranks.hpp"

namespace cscrub::parallel {

struct Ranks::Communicator {};

Ranks::Ranks() = default;

Ranks::Ranks(int& /*argc*/, char**& /*argv*/) {
  const int launched = launcher_ranks();
  if (launched > 1)
    throw Error("this cscrub was built without MPI, but an MPI launcher started it as one of " +
                    std::to_string(launched) + " ranks: each would do the whole job",
                "run it without mpirun or srun, or build cscrub with MPI (Debian: libopenmpi-dev; cmake -DCSCRUB_MPI=ON)");
}

Ranks::~Ranks() = default;

bool Ranks::built_with_mpi() { return false; }

void Ranks::gather_to_root(const std::string& bytes,
                           const std::function<void(int rank, std::string_view bytes)>& take) const {
  take(0, bytes);
}

std::string Ranks::broadcast(std::string bytes) const { return bytes; }

void Ranks::raise_any_failure(const std::string& message, const std::string& hint) const {
  if (!message.empty()) throw RankFailure(message, hint, 0);
}

}  // namespace cscrub::parallel
