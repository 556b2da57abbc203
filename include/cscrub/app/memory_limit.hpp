// What the runs that estimate their memory beforehand share (run, compare, discover; CLI and Python alike): the
// limit they check the estimate against (--max-memory, default half the physical memory) and what the process
// already holds.
#pragma once
#include <cstdint>

namespace cscrub::app {

// `max_memory_gib` GiB, or half the physical memory when it is 0, shared equally by the `ranks_on_machine`
// ranks of an MPI job that run on this machine (each checks its own estimate against its share).
uint64_t memory_limit_bytes(double max_memory_gib, int ranks_on_machine = 1);
// This process' resident memory now (program, libraries, inputs read so far): what a run's estimate adds to.
uint64_t resident_bytes();

}  // namespace cscrub::app
