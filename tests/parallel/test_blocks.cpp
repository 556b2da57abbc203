// How a job's units are shared among ranks (parallel::block_of), and what an MPI launcher's environment says.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "cscrub/parallel/ranks.hpp"

using cscrub::parallel::Block;
using cscrub::parallel::block_of;

TEST_CASE("ranks take contiguous blocks that cover the units in rank order, sizes within one", "[parallel][blocks]") {
  for (int units : {0, 1, 2, 5, 7, 64, 1000})
    for (int ranks : {1, 2, 3, 7, 64}) {
      INFO(units << " units, " << ranks << " ranks");
      int next = 0, smallest = units, largest = 0;
      for (int rank = 0; rank < ranks; ++rank) {
        const Block block = block_of(units, rank, ranks);
        CHECK(block.begin == next);
        CHECK(block.end >= block.begin);
        next = block.end;
        smallest = std::min(smallest, block.size());
        largest = std::max(largest, block.size());
      }
      CHECK(next == units);
      CHECK(largest - smallest <= 1);
    }
  // The first units % ranks ranks take one more.
  CHECK(block_of(5, 0, 3) == Block{0, 2});
  CHECK(block_of(5, 1, 3) == Block{2, 4});
  CHECK(block_of(5, 2, 3) == Block{4, 5});
  CHECK(block_of(2, 6, 7) == Block{2, 2});
}

TEST_CASE("a launcher's environment tells how many ranks it started", "[parallel][launcher]") {
  const char* names[] = {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMI_SIZE", "PMI_RANK", "PMIX_RANK"};
  for (const char* name : names) ::unsetenv(name);
  CHECK(cscrub::parallel::launcher_ranks() == 1);
  CHECK_FALSE(cscrub::parallel::started_by_launcher());
  ::setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  ::setenv("OMPI_COMM_WORLD_RANK", "0", 1);
  CHECK(cscrub::parallel::launcher_ranks() == 4);
  CHECK(cscrub::parallel::started_by_launcher());
  for (const char* name : names) ::unsetenv(name);
  ::setenv("PMI_SIZE", "2", 1);
  CHECK(cscrub::parallel::launcher_ranks() == 2);
  ::unsetenv("PMI_SIZE");
  // PMIx tells the rank alone: rank 3 shows that there are at least 4; rank 0 cannot tell.
  ::setenv("PMIX_RANK", "3", 1);
  CHECK(cscrub::parallel::launcher_ranks() == 4);
  ::setenv("PMIX_RANK", "0", 1);
  CHECK(cscrub::parallel::launcher_ranks() == 1);
  CHECK(cscrub::parallel::started_by_launcher());
  ::setenv("PMIX_RANK", "not a number", 1);
  CHECK(cscrub::parallel::launcher_ranks() == 1);
  for (const char* name : names) ::unsetenv(name);
}

TEST_CASE("one process: phases run as they are, failures keep their type", "[parallel][single]") {
  const cscrub::parallel::Ranks ranks;
  CHECK(ranks.size() == 1);
  CHECK(ranks.root());
  CHECK(ranks.share(9) == Block{0, 9});
  CHECK(ranks.together([] { return 42; }) == 42);
  CHECK_THROWS_AS(ranks.together([]() -> int { throw cscrub::Error("bad input"); }), cscrub::Error);
  CHECK_THROWS_AS(ranks.together([]() -> int { throw std::logic_error("a bug"); }), std::logic_error);
  std::string gathered;
  ranks.gather_to_root("bytes", [&](int rank, std::string_view bytes) {
    CHECK(rank == 0);
    gathered = bytes;
  });
  CHECK(gathered == "bytes");
  CHECK(ranks.broadcast("x") == "x");
  CHECK_THROWS_WITH(ranks.raise_any_failure("it failed", ""), "it failed");
  CHECK_NOTHROW(ranks.raise_any_failure("", ""));
}
