// The registry of live temporary names and the signal handler that removes them (temporary_names.hpp).
#include "temporary_names.hpp"

#include <limits.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "cscrub/io/output_file.hpp"

namespace cscrub::io {
namespace detail {
namespace {

// A slot goes free -> filling (its owner copies the name) -> live -> free; a handler takes a live slot to
// removing, and the process then dies, so a removing slot is never reused.
enum SlotState : int { kFree, kFilling, kLive, kRemoving };
static_assert(std::atomic<int>::is_always_lock_free, "the handler needs lock-free atomics");

struct Slot {
  std::atomic<int> state{kFree};
  char name[PATH_MAX] = {};
};

constexpr int kSlots = 64;
// The one process-wide table a signal handler can reach (a handler gets no argument to find it by).
constinit Slot slots[kSlots];

}  // namespace

RegisteredTemporaryName::RegisteredTemporaryName(const std::filesystem::path& name) {
  const std::string& text = name.native();
  if (text.size() >= PATH_MAX) return;
  for (int i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (!slots[i].state.compare_exchange_strong(expected, kFilling, std::memory_order_acquire)) continue;
    std::memcpy(slots[i].name, text.c_str(), text.size() + 1);
    slots[i].state.store(kLive, std::memory_order_release);
    slot_ = i;
    return;
  }
}

RegisteredTemporaryName::~RegisteredTemporaryName() {
  if (slot_ < 0) return;
  int expected = kLive;
  // Fails only while a handler removes the file, just before the process dies: the slot then stays taken.
  slots[slot_].state.compare_exchange_strong(expected, kFree, std::memory_order_acq_rel);
}

int registered_temporary_names() {
  int count = 0;
  for (const Slot& slot : slots) count += slot.state.load() == kLive;
  return count;
}

namespace {

extern "C" void remove_temporaries_then_die(int signal) {
  const int saved_errno = errno;
  for (Slot& slot : slots) {
    int expected = kLive;
    if (slot.state.compare_exchange_strong(expected, kRemoving, std::memory_order_acq_rel)) ::unlink(slot.name);
  }
  errno = saved_errno;
  // SA_RESETHAND restored the default action (terminate): the signal, raised again, takes it once this
  // handler returns, so the exit status still tells which signal ended the program.
  ::raise(signal);
}

bool has_default_action(int signal) {
  struct sigaction current {};
  return ::sigaction(signal, nullptr, &current) == 0 && !(current.sa_flags & SA_SIGINFO) &&
         current.sa_handler == SIG_DFL;
}

}  // namespace
}  // namespace detail

void remove_temporary_files_on_signals() {
  for (const int signal : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGALRM, SIGXCPU, SIGUSR1, SIGUSR2}) {
    if (!detail::has_default_action(signal)) continue;  // the host's handler, or ignored (nohup): keep it
    struct sigaction action {};
    action.sa_handler = detail::remove_temporaries_then_die;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    ::sigaction(signal, &action, nullptr);
  }
  // Beyond RLIMIT_FSIZE, write() then fails with EFBIG, which the writer reports and cleans up after.
  if (detail::has_default_action(SIGXFSZ)) std::signal(SIGXFSZ, SIG_IGN);
}

}  // namespace cscrub::io
