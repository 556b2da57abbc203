#include "cscrub/engine/huge_pages.hpp"

#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace cscrub::engine {

void advise_huge_pages(RowMatrix& fresh_buffer) {
  advise_huge_pages(fresh_buffer.data(), static_cast<size_t>(fresh_buffer.size()) * sizeof(float));
}

void advise_huge_pages([[maybe_unused]] void* fresh_buffer, [[maybe_unused]] size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHugePage = std::uintptr_t{1} << 21;
  const auto begin = reinterpret_cast<std::uintptr_t>(fresh_buffer);
  const auto end = begin + bytes;
  const std::uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t last = end & ~(kHugePage - 1);
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);  // a hint; failure is fine
#endif
}

}  // namespace cscrub::engine
