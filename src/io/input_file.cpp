#include "cscrub/io/input_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cscrub/error.hpp"

namespace cscrub::io {
namespace {

std::string kind_of(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

std::string size_text(uint64_t bytes) {
  return bytes % input_limits::kMiB == 0 ? std::to_string(bytes / input_limits::kMiB) + " MiB"
                                         : std::to_string(bytes) + " bytes";
}

}  // namespace

InputFile::InputFile(const std::filesystem::path& path, std::string_view format) {
  const auto cannot_open = [&](int error) {
    return Error(path.string() + ": cannot open the " + std::string(format) + ": " + std::strerror(error));
  };
  // O_NONBLOCK: opening a FIFO to read would otherwise wait for a writer. A regular file ignores it.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd_ < 0) throw cannot_open(errno);
  struct stat status {};
  if (::fstat(fd_, &status) != 0) {
    const int error = errno;
    ::close(fd_);
    throw cannot_open(error);
  }
  if (!S_ISREG(status.st_mode)) {
    ::close(fd_);
    if (S_ISDIR(status.st_mode)) throw Error(path.string() + ": is a directory, not a " + std::string(format));
    throw Error(path.string() + ": is not a regular file (it is " + kind_of(status.st_mode) + ")");
  }
  size_ = static_cast<uint64_t>(status.st_size);
}

InputFile::~InputFile() { ::close(fd_); }

std::string read_input_file(const std::filesystem::path& path, const InputLimit& limit) {
  const InputFile file(path, limit.format);
  const auto too_large = [&](const std::string& size) {
    return Error(path.string() + ": " + size + ", more than a " + std::string(limit.format) + " may have (" +
                     size_text(limit.max_bytes) + ")",
                 "is this the right file?");
  };
  if (file.size() > limit.max_bytes) throw too_large(std::to_string(file.size()) + " bytes");
  // Read to the end, not just st_size bytes: a file still growing is read as far as the limit allows.
  std::string bytes(static_cast<size_t>(file.size()), '\0');
  size_t filled = 0;
  for (;;) {
    if (filled == bytes.size()) {
      if (bytes.size() > limit.max_bytes) throw too_large("more than " + std::to_string(limit.max_bytes) + " bytes");
      bytes.resize(std::min<size_t>(bytes.size() + 65536, limit.max_bytes + 1));
    }
    const ssize_t got = ::read(file.descriptor(), bytes.data() + filled, bytes.size() - filled);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error(path.string() + ": cannot read: " + std::strerror(errno));
    }
    if (got == 0) break;
    filled += static_cast<size_t>(got);
  }
  bytes.resize(filled);
  return bytes;
}

}  // namespace cscrub::io
