#include "heap_tracking.hpp"

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CSCRUB_HEAP_TRACKING 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define CSCRUB_HEAP_TRACKING 0
#endif
#endif
#if !defined(CSCRUB_HEAP_TRACKING) && defined(__GLIBC__)
#define CSCRUB_HEAP_TRACKING 1
#endif
#if !defined(CSCRUB_HEAP_TRACKING)
#define CSCRUB_HEAP_TRACKING 0
#endif

namespace {

// Constant-initialised, so usable by allocations made before any constructor runs.
std::atomic<int64_t> in_use{0};
std::atomic<int64_t> peak{0};

[[maybe_unused]] void count(int64_t change) {
  const int64_t now = in_use.fetch_add(change, std::memory_order_relaxed) + change;
  int64_t seen = peak.load(std::memory_order_relaxed);
  while (now > seen && !peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
}

[[maybe_unused]] int64_t usable(void* pointer) {
  return pointer == nullptr ? 0 : static_cast<int64_t>(malloc_usable_size(pointer));
}

[[maybe_unused]] bool power_of_two(size_t value) { return value != 0 && (value & (value - 1)) == 0; }

}  // namespace

#if CSCRUB_HEAP_TRACKING
extern "C" {
void* __libc_malloc(size_t size);
void __libc_free(void* pointer);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* pointer, size_t size);
void* __libc_memalign(size_t alignment, size_t size);

void* malloc(size_t size) {
  void* pointer = __libc_malloc(size);
  count(usable(pointer));
  return pointer;
}

void free(void* pointer) {
  count(-usable(pointer));
  __libc_free(pointer);
}

void* calloc(size_t elements, size_t size) {
  void* pointer = __libc_calloc(elements, size);
  count(usable(pointer));
  return pointer;
}

void* realloc(void* pointer, size_t size) {
  const int64_t before = usable(pointer);
  void* moved = __libc_realloc(pointer, size);
  if (moved != nullptr) count(usable(moved) - before);
  else if (size == 0) count(-before);  // glibc frees the block and returns null
  return moved;
}

void* memalign(size_t alignment, size_t size) {
  void* pointer = __libc_memalign(alignment, size);
  count(usable(pointer));
  return pointer;
}

void* aligned_alloc(size_t alignment, size_t size) {
  if (!power_of_two(alignment)) {
    errno = EINVAL;
    return nullptr;
  }
  return memalign(alignment, size);
}

int posix_memalign(void** out, size_t alignment, size_t size) {
  if (!power_of_two(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
  void* pointer = memalign(alignment, size);
  if (pointer == nullptr && size != 0) return ENOMEM;
  *out = pointer;
  return 0;
}

void* valloc(size_t size) { return memalign(static_cast<size_t>(sysconf(_SC_PAGESIZE)), size); }

void* pvalloc(size_t size) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return memalign(page, (size + page - 1) / page * page);
}
}
#endif

namespace cscrub::test {

bool heap_tracking_available() { return CSCRUB_HEAP_TRACKING != 0; }

int64_t heap_in_use() { return in_use.load(); }

int64_t heap_restart_peak() {
  const int64_t now = in_use.load();
  peak.store(now);
  return now;
}

int64_t heap_peak() { return peak.load(); }

}  // namespace cscrub::test
