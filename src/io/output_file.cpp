// write_file_atomically (output_file.hpp): the bytes go to a temporary file beside the target, which is
// synced and renamed over it. Linux's unnamed temporary files (O_TMPFILE) get a name only for the instant
// between linkat and rename, so even SIGKILL leaves nothing behind; where the file system lacks them, a
// named temporary file is created instead and registered for the signal handler to remove.
#include "cscrub/io/output_file.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>

#include "cscrub/error.hpp"
#include "temporary_names.hpp"

namespace cscrub::io {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void cannot_write(const fs::path& path, int error_number) {
  throw Error(path.string() + ": cannot write: " + std::strerror(error_number));
}

class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  bool is_open() const { return fd_ >= 0; }
  int get() const { return fd_; }
  // Closes now, returning close()'s errno (0 on success): on some file systems a write error shows only here.
  int close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// Removes a named temporary file unless it was renamed over the target.
class RemoveUnlessKept {
 public:
  explicit RemoveUnlessKept(const fs::path& name) : name_(name) {}
  ~RemoveUnlessKept() {
    if (!kept_) ::unlink(name_.c_str());
  }
  RemoveUnlessKept(const RemoveUnlessKept&) = delete;
  RemoveUnlessKept& operator=(const RemoveUnlessKept&) = delete;
  void keep() { kept_ = true; }

 private:
  const fs::path& name_;
  bool kept_ = false;
};

// Returns 0 or the errno of the failed write (ENOSPC, EFBIG, EIO, ...).
int write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return 0;
}

void write_and_sync(int fd, const fs::path& path, std::string_view bytes) {
  if (const int error = write_all(fd, bytes)) cannot_write(path, error);
  if (::fsync(fd) != 0) cannot_write(path, errno);
}

// A hidden name beside the target that no other writer picks: the target's name, the process id and 64
// random bits (a leftover from a SIGKILL then says what it was for).
fs::path temporary_name(const fs::path& target) {
  uint64_t bits = 0;
  if (::getrandom(&bits, sizeof bits, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof bits)) {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    bits ^= static_cast<uint64_t>(now.tv_nsec) * 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(now.tv_sec);
  }
  char suffix[64];
  std::snprintf(suffix, sizeof suffix, ".cscrub-%ld-%016llx.tmp", static_cast<long>(::getpid()),
                static_cast<unsigned long long>(bits));
  const std::string name = target.filename().string().substr(0, 120);  // within NAME_MAX with the suffix
  return target.parent_path() / ("." + name + suffix);
}

void sync_directory(const fs::path& directory, const fs::path& path) {
  Descriptor handle(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!handle.is_open()) return;  // a directory we may write but not read: the rename stands unsynced
  // EINVAL: a file system that does not sync directories (the rename is then as durable as it gets).
  if (::fsync(handle.get()) != 0 && errno != EINVAL) cannot_write(path, errno);
}

// Renames `name` over `target`, or removes it and throws.
void rename_over(const fs::path& name, const fs::path& target, const fs::path& path) {
  if (::rename(name.c_str(), target.c_str()) == 0) return;
  const int error = errno;
  ::unlink(name.c_str());
  cannot_write(path, error);
}

// Through an unnamed temporary file; false if the file system (or a missing /proc) does not allow it.
bool write_through_unnamed_file(const fs::path& path, const fs::path& target, std::optional<mode_t> mode,
                                std::string_view bytes) {
  const fs::path directory = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  Descriptor file(::open(directory.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666));
  if (!file.is_open()) {
    if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) return false;
    cannot_write(path, errno);
  }
  if (mode) ::fchmod(file.get(), *mode);
  write_and_sync(file.get(), path, bytes);
  const std::string descriptor_path = "/proc/self/fd/" + std::to_string(file.get());
  for (int attempt = 0;; ++attempt) {
    const fs::path name = temporary_name(target);
    const detail::RegisteredTemporaryName registration(name);
    if (::linkat(AT_FDCWD, descriptor_path.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) != 0) {
      if (errno == EEXIST && attempt < 8) continue;
      return false;  // no /proc, or linking refused: a named file will report any real problem
    }
    if (const int error = file.close()) {
      ::unlink(name.c_str());
      cannot_write(path, error);
    }
    rename_over(name, target, path);
    sync_directory(directory, path);
    return true;
  }
}

void write_through_named_file(const fs::path& path, const fs::path& target, std::optional<mode_t> mode,
                              std::string_view bytes) {
  const fs::path directory = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  for (int attempt = 0;; ++attempt) {
    const fs::path name = temporary_name(target);
    // Registered before it exists, so that no instant has the file without its registration.
    const detail::RegisteredTemporaryName registration(name);
    Descriptor file(::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
    if (!file.is_open()) {
      if (errno == EEXIST && attempt < 8) continue;
      cannot_write(path, errno);
    }
    RemoveUnlessKept removal(name);
    if (mode) ::fchmod(file.get(), *mode);
    write_and_sync(file.get(), path, bytes);
    if (const int error = file.close()) cannot_write(path, error);
    rename_over(name, target, path);
    removal.keep();
    sync_directory(directory, path);
    return;
  }
}

// A FIFO, a terminal, /dev/null: written in place, without blocking on a FIFO nobody reads.
void write_in_place(const fs::path& path, std::string_view bytes) {
  Descriptor file(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!file.is_open()) {
    if (errno == ENXIO) throw Error(path.string() + ": cannot write: a FIFO that no process reads");
    cannot_write(path, errno);
  }
  const int flags = ::fcntl(file.get(), F_GETFL);
  if (flags != -1) ::fcntl(file.get(), F_SETFL, flags & ~O_NONBLOCK);
  if (const int error = write_all(file.get(), bytes)) cannot_write(path, error);
  if (const int error = file.close()) cannot_write(path, error);
}

enum class Temporary { unnamed_if_possible, named };

void write_atomically(const fs::path& path, std::string_view bytes, Temporary temporary) {
  if (path.empty()) throw Error("cannot write a file with an empty name");
  struct stat status {};
  fs::path target = path;
  std::optional<mode_t> mode;  // a new file's: 0666 less the umask
  if (::stat(path.c_str(), &status) == 0) {
    if (S_ISDIR(status.st_mode)) throw Error(path.string() + ": cannot write: is a directory");
    if (!S_ISREG(status.st_mode)) return write_in_place(path, bytes);
    // Renaming over a file needs only the directory's permission: a read-only file stays protected.
    if (::access(path.c_str(), W_OK) != 0) cannot_write(path, errno);
    mode = status.st_mode & 07777;  // a replaced file keeps its permissions (a private file stays private)
    std::error_code ignored;
    if (fs::is_symlink(fs::symlink_status(path, ignored))) target = fs::canonical(path);
  } else if (errno != ENOENT) {
    cannot_write(path, errno);  // a component that is not a directory, a loop of links, no permission
  } else if (std::error_code ignored; !path.parent_path().empty() && !fs::is_directory(path.parent_path(), ignored)) {
    throw Error(path.string() + ": cannot write: directory " + path.parent_path().string() + " does not exist");
  }
  if (temporary == Temporary::unnamed_if_possible && write_through_unnamed_file(path, target, mode, bytes)) return;
  write_through_named_file(path, target, mode, bytes);
}

}  // namespace

void write_file_atomically(const fs::path& path, std::string_view bytes) {
  write_atomically(path, bytes, Temporary::unnamed_if_possible);
}

namespace detail {

void write_file_through_named_temporary(const fs::path& path, std::string_view bytes) {
  write_atomically(path, bytes, Temporary::named);
}

}  // namespace detail
}  // namespace cscrub::io
