#include "graphviz.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "cscrub/error.hpp"

extern char** environ;

namespace cscrub::cli {
namespace {

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  const std::string directories = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= directories.size()) {
    size_t end = directories.find(':', start);
    if (end == std::string::npos) end = directories.size();
    const std::filesystem::path candidate = std::filesystem::path(directories.substr(start, end - start)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

class Descriptor {
 public:
  explicit Descriptor(int fd = -1) : fd_(fd) {}
  ~Descriptor() { reset(); }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Feeds `input` to the child's standard input and collects its standard output at once (a child that writes
// while its input is still arriving would otherwise block both). The input goes through a socket, whose
// send(MSG_NOSIGNAL) reports a child that stopped reading as EPIPE instead of raising SIGPIPE.
std::string exchange(int to_child, int from_child, const std::string& input) {
  std::string output;
  size_t sent = 0;
  bool sending = !input.empty();
  if (!sending) ::shutdown(to_child, SHUT_WR);
  std::array<char, 1 << 16> buffer{};
  for (;;) {
    std::array<pollfd, 2> waiting{pollfd{from_child, POLLIN, 0}, pollfd{to_child, POLLOUT, 0}};
    if (::poll(waiting.data(), sending ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (sending && waiting[1].revents != 0) {
      const ssize_t written = ::send(to_child, input.data() + sent, input.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (written > 0) sent += static_cast<size_t>(written);
      if ((written < 0 && errno != EAGAIN && errno != EINTR) || sent == input.size()) {
        sending = false;
        ::shutdown(to_child, SHUT_WR);
      }
    }
    if (waiting[0].revents != 0) {
      const ssize_t got = ::read(from_child, buffer.data(), buffer.size());
      if (got > 0) output.append(buffer.data(), static_cast<size_t>(got));
      else if (got == 0 || errno != EINTR) break;
    }
  }
  return output;
}

}  // namespace

std::string render_with_graphviz(const std::string& dot_source, const std::string& format, const std::string& output) {
  if (!on_path("dot"))
    throw Error("cannot write " + output + ": Graphviz's `dot` program is not installed",
                "install Graphviz (apt-get install graphviz), or render the --dot file elsewhere");
  int sockets[2], pipe_ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0 || ::pipe2(pipe_ends, O_CLOEXEC) != 0)
    throw Error("cannot run Graphviz's `dot` to write " + output + ": no pipe");
  Descriptor to_dot(sockets[0]), dot_input(sockets[1]), from_dot(pipe_ends[0]), dot_output(pipe_ends[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, dot_input.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, dot_output.get(), STDOUT_FILENO);
  std::string format_flag = "-T" + format;
  std::vector<std::string> args = {"dot", format_flag};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = ::posix_spawnp(&pid, "dot", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) throw Error("cannot run Graphviz's `dot` to write " + output);
  dot_input.reset();  // dot holds its own ends now: its exit then ends the exchange
  dot_output.reset();

  const std::string image = exchange(to_dot.get(), from_dot.get(), dot_source);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || image.empty())
    throw Error(fmt::format("Graphviz's `dot` failed to write {} (exit status {})", output,
                            WIFEXITED(status) ? WEXITSTATUS(status) : -1));
  return image;
}

}  // namespace cscrub::cli
