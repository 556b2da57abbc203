// The Ranks of a build without MPI (src/parallel/single), built here whatever the build chose: started by a
// launcher as one of several ranks it refuses to run, since each would do the whole job.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "cscrub/parallel/ranks.hpp"

TEST_CASE("a build without MPI refuses to be one of several ranks", "[parallel][single]") {
  int argc = 1;
  char name[] = "cscrub";
  char* arguments[] = {name, nullptr};
  char** argv = arguments;
  CHECK_FALSE(cscrub::parallel::Ranks::built_with_mpi());
  ::setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  CHECK_THROWS_WITH(cscrub::parallel::Ranks(argc, argv),
                    "this cscrub was built without MPI, but an MPI launcher started it as one of 2 ranks: each would do "
                    "the whole job");
  ::setenv("OMPI_COMM_WORLD_SIZE", "1", 1);  // mpirun -np 1: one process, as it would be without the launcher
  const cscrub::parallel::Ranks one(argc, argv);
  CHECK(one.size() == 1);
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
  ::setenv("PMIX_RANK", "1", 1);
  CHECK_THROWS_WITH(cscrub::parallel::Ranks(argc, argv), Catch::Contains("one of 2 ranks"));
  ::unsetenv("PMIX_RANK");
}
