// Checks for options whose C++ type admits values that mean nothing: counts below their minimum, numbers
// that are not finite (CLI11's own ranges let NaN through), thread counts beyond what the machine can run.
// A failed check is a usage error, "--n: must be a whole number of at least 1 (got -5)", exit code 1.
#pragma once
#include <CLI/CLI.hpp>

namespace cscrub::cli {

// A whole number >= minimum.
CLI::Validator at_least(long long minimum);
// A seed: a whole number from 0 to 2^64 - 1 (CLI11 alone reads -1 as 2^64 - 1, and larger numbers wrap).
CLI::Validator seed_value();
// A finite number > 0.
CLI::Validator finite_positive();
// --threads: from 1 to 4 x the machine's hardware threads (each OpenMP thread takes a stack and memory;
// tens of thousands of them crashed or hung).
CLI::Validator thread_count();
// --max-memory in GiB: finite, > 0, at most 2^20 GiB (beyond, the byte count overflows 64 bits).
CLI::Validator memory_gib();

}  // namespace cscrub::cli
