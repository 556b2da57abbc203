// write_file_atomically: a file is replaced whole or not at all. Failures are provoked for real (a file
// size limit, a missing directory, a FIFO nobody reads, signals while writing), through both temporary
// files: the unnamed one (O_TMPFILE) and the named fallback.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include "cscrub/error.hpp"
#include "cscrub/io/output_file.hpp"
#include "test_paths.hpp"

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

using Writer = void (*)(const fs::path&, std::string_view);

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_plainly(const fs::path& file, const std::string& text) { std::ofstream(file, std::ios::binary) << text; }

// Every name in `dir`, hidden ones included.
std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The file size limit (RLIMIT_FSIZE) lowered to `bytes` for this scope, with SIGXFSZ ignored as cscrub's
// main() has it (write() then fails with EFBIG instead of the signal killing the test).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &lowered) == 0);
    saved_handler_ = std::signal(SIGXFSZ, SIG_IGN);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, saved_handler_);
  }

 private:
  rlimit saved_{};
  void (*saved_handler_)(int) = nullptr;
};

}  // namespace

TEST_CASE("write_file_atomically writes a new file and replaces an old one whole", "[io][output_file]") {
  const auto [label, write] = GENERATE(std::pair<const char*, Writer>{"unnamed", cscrub::io::write_file_atomically},
                                       std::pair<const char*, Writer>{"named", cscrub::io::detail::write_file_through_named_temporary});
  INFO(label << " temporary file");
  const fs::path dir = cscrub::test::scratch_dir("output-file");
  write(dir / "out.json", "first\n");
  CHECK(read_text(dir / "out.json") == "first\n");
  write(dir / "out.json", std::string(100000, 'x'));
  CHECK(read_text(dir / "out.json") == std::string(100000, 'x'));
  write(dir / "out.json", "");
  CHECK(fs::file_size(dir / "out.json") == 0);
  CHECK(names_in(dir) == std::vector<std::string>{"out.json"});
  CHECK(cscrub::io::detail::registered_temporary_names() == 0);

  // A relative name in the working directory (no parent path).
  const fs::path previous = fs::current_path();
  fs::current_path(dir);
  write("here.txt", "here");
  fs::current_path(previous);
  CHECK(read_text(dir / "here.txt") == "here");

  SECTION("a replaced file keeps its permissions") {
    fs::permissions(dir / "out.json", fs::perms::owner_read | fs::perms::owner_write);
    write(dir / "out.json", "private");
    CHECK(fs::status(dir / "out.json").permissions() == (fs::perms::owner_read | fs::perms::owner_write));
  }
  SECTION("a symbolic link is followed: the file it names is replaced, the link stays") {
    fs::create_directory(dir / "real");
    write_plainly(dir / "real" / "target.json", "old");
    fs::create_symlink("real/target.json", dir / "link.json");
    write(dir / "link.json", "new");
    CHECK(fs::is_symlink(dir / "link.json"));
    CHECK(read_text(dir / "real" / "target.json") == "new");
    CHECK(names_in(dir / "real") == std::vector<std::string>{"target.json"});
  }
}

TEST_CASE("write_file_atomically refuses what it cannot write, naming the path, and leaves nothing behind",
          "[io][output_file]") {
  const auto [label, write] = GENERATE(std::pair<const char*, Writer>{"unnamed", cscrub::io::write_file_atomically},
                                       std::pair<const char*, Writer>{"named", cscrub::io::detail::write_file_through_named_temporary});
  INFO(label << " temporary file");
  const fs::path dir = cscrub::test::scratch_dir("output-file-errors");
  CHECK_THROWS_WITH(write(dir / "missing" / "out.json", "x"),
                    Contains("missing/out.json: cannot write: directory") && Contains("does not exist"));
  fs::create_directory(dir / "sub");
  CHECK_THROWS_WITH(write(dir / "sub", "x"), Contains("sub: cannot write: is a directory"));
  write_plainly(dir / "file", "x");
  CHECK_THROWS_WITH(write(dir / "file" / "out.json", "x"), Contains("file/out.json: cannot write: Not a directory"));
  CHECK_THROWS_WITH(write("", "x"), Contains("empty name"));
  CHECK(names_in(dir) == std::vector<std::string>{"file", "sub"});
  CHECK(names_in(dir / "sub").empty());
}

TEST_CASE("beyond the file size limit the write fails, the old file survives, no temporary file is left",
          "[io][output_file]") {
  const auto [label, write] = GENERATE(std::pair<const char*, Writer>{"unnamed", cscrub::io::write_file_atomically},
                                       std::pair<const char*, Writer>{"named", cscrub::io::detail::write_file_through_named_temporary});
  INFO(label << " temporary file");
  const fs::path dir = cscrub::test::scratch_dir("output-file-limit");
  write_plainly(dir / "out.json", "the previous result\n");
  {
    const FileSizeLimit limit(4096);
    CHECK_THROWS_WITH(write(dir / "out.json", std::string(1 << 20, 'x')),
                      Contains("out.json: cannot write: File too large"));
    write(dir / "small.json", "fits");  // below the limit writes still work
  }
  CHECK(read_text(dir / "out.json") == "the previous result\n");
  CHECK(read_text(dir / "small.json") == "fits");
  CHECK(names_in(dir) == std::vector<std::string>{"out.json", "small.json"});
  CHECK(cscrub::io::detail::registered_temporary_names() == 0);
}

TEST_CASE("a FIFO is written in place when read, and refused without blocking when nobody reads it",
          "[io][output_file]") {
  const fs::path dir = cscrub::test::scratch_dir("output-file-fifo");
  const fs::path fifo = dir / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(cscrub::io::write_file_atomically(fifo, "x"), Contains("pipe: cannot write: a FIFO that no process reads"));

  std::string received;
  std::thread reader([&] { received = read_text(fifo); });
  // The reader's open() blocks until a writer opens; until the reader has opened, opening to write fails.
  bool written = false;
  for (int attempt = 0; attempt < 2000 && !written; ++attempt) {
    try {
      cscrub::io::write_file_atomically(fifo, "through the pipe");
      written = true;
    } catch (const cscrub::Error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (!written) {  // unblock the reader before failing
    const int fd = ::open(fifo.c_str(), O_WRONLY);
    ::close(fd);
  }
  reader.join();
  CHECK(written);
  CHECK(received == "through the pipe");
  CHECK(fs::is_fifo(fifo));
}

namespace {

// Catch2 handles SIGTERM, SIGINT and others to report a crash; a forked child starts from the defaults.
void reset_signals_as_in_a_new_program() {
  for (const int signal : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGALRM, SIGXCPU, SIGXFSZ, SIGUSR1, SIGUSR2})
    std::signal(signal, SIG_DFL);
}

// Runs `write(target, 128 MB)` in a child process and sends it `signal` once its temporary file exists,
// found in /proc/PID/fd (an unnamed temporary file has no name in the directory). Returns the child's
// wait status.
int kill_while_writing(Writer write, const fs::path& target, int signal, bool install_cleanup) {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    reset_signals_as_in_a_new_program();
    if (install_cleanup) cscrub::io::remove_temporary_files_on_signals();
    try {
      write(target, std::string(size_t{128} << 20, 'x'));
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  const fs::path fds = "/proc/" + std::to_string(child) + "/fd";
  const std::string directory = target.parent_path().string() + "/";
  bool writing = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!writing && std::chrono::steady_clock::now() < deadline) {
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(fds, error)) {
      const fs::path link = fs::read_symlink(entry.path(), error);
      if (!error && link.string().starts_with(directory)) writing = true;
    }
    if (!writing) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  CHECK(writing);
  ::kill(child, signal);
  int status = 0;
  ::waitpid(child, &status, 0);
  return status;
}

}  // namespace

TEST_CASE("a signal while writing leaves the old file and no temporary file", "[io][output_file]") {
  const fs::path dir = cscrub::test::scratch_dir("output-file-signal");
  write_plainly(dir / "out.json", "the previous result\n");

  SECTION("SIGTERM and SIGINT, named temporary file: the handler removes it") {
    for (const int signal : {SIGTERM, SIGINT}) {
      const int status =
          kill_while_writing(cscrub::io::detail::write_file_through_named_temporary, dir / "out.json", signal, true);
      CHECK(WIFSIGNALED(status));  // the default action still ends the process, with the same signal
      CHECK(WTERMSIG(status) == signal);
      CHECK(names_in(dir) == std::vector<std::string>{"out.json"});
    }
  }
  SECTION("SIGKILL, unnamed temporary file: nothing was ever named") {
    const int status = kill_while_writing(cscrub::io::write_file_atomically, dir / "out.json", SIGKILL, false);
    CHECK(WIFSIGNALED(status));
    CHECK(names_in(dir) == std::vector<std::string>{"out.json"});
  }
  SECTION("without the handlers a named temporary file is left: the handlers are what removes it") {
    const int status =
        kill_while_writing(cscrub::io::detail::write_file_through_named_temporary, dir / "out.json", SIGTERM, false);
    CHECK(WIFSIGNALED(status));
    const std::vector<std::string> names = names_in(dir);
    REQUIRE(names.size() == 2);
    CHECK_THAT(names[0], Contains(".out.json.cscrub-") && Contains(".tmp"));
  }
  CHECK(read_text(dir / "out.json") == "the previous result\n");
}

TEST_CASE("remove_temporary_files_on_signals keeps a handler or an ignored signal it finds", "[io][output_file]") {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    reset_signals_as_in_a_new_program();
    std::signal(SIGHUP, SIG_IGN);  // as nohup leaves it
    cscrub::io::remove_temporary_files_on_signals();
    struct sigaction hup {}, term {}, xfsz {};
    ::sigaction(SIGHUP, nullptr, &hup);
    ::sigaction(SIGTERM, nullptr, &term);
    ::sigaction(SIGXFSZ, nullptr, &xfsz);
    const bool ok = hup.sa_handler == SIG_IGN && term.sa_handler != SIG_DFL && term.sa_handler != SIG_IGN &&
                    xfsz.sa_handler == SIG_IGN;
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
