// The names of the temporary output files that exist right now, kept where a signal handler can remove
// them: fixed storage and lock-free atomics only, as a handler may use nothing else (unlink is
// async-signal-safe; allocation and locks are not).
#pragma once
#include <filesystem>

#include "cscrub/io/output_file.hpp"

namespace cscrub::io::detail {

// Registers a temporary file's name for as long as it lives; removing the file stays the owner's job.
// Registration is best-effort: a name longer than PATH_MAX, or more than 64 names at once, goes
// unregistered (the write still works; only a signal during it would leave the file behind).
class RegisteredTemporaryName {
 public:
  explicit RegisteredTemporaryName(const std::filesystem::path& name);
  ~RegisteredTemporaryName();
  RegisteredTemporaryName(const RegisteredTemporaryName&) = delete;
  RegisteredTemporaryName& operator=(const RegisteredTemporaryName&) = delete;

 private:
  int slot_ = -1;
};

}  // namespace cscrub::io::detail
