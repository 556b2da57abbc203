// The bytes this test process holds on the heap, counted exactly by replacing malloc and its relatives with
// wrappers around glibc's own allocator (which glibc supports), so that a test can measure the peak heap of
// a piece of code deterministically, unlike resident memory. Unavailable under AddressSanitizer, which
// brings its own allocator.
#pragma once
#include <cstdint>

namespace cscrub::test {

bool heap_tracking_available();
// Bytes allocated and not yet freed.
int64_t heap_in_use();
// Starts a new peak at the current use, and returns that use.
int64_t heap_restart_peak();
// The largest use since the last restart.
int64_t heap_peak();

}  // namespace cscrub::test
