#include "cscrub/app/memory_limit.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>

namespace cscrub::app {

uint64_t memory_limit_bytes(double max_memory_gib, int ranks_on_machine) {
  const double physical =
      static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGE_SIZE));
  const double limit = max_memory_gib > 0 ? max_memory_gib * (1 << 30) : 0.5 * physical / std::max(1, ranks_on_machine);
  return static_cast<uint64_t>(limit);
}

uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0;
  return resident_pages * static_cast<uint64_t>(::sysconf(_SC_PAGE_SIZE));
}

}  // namespace cscrub::app
