// A PyTorch process serving timed requests (tools/bench/bench_torch.py or exact_torch.py with --serve), so that
// its work alternates with cscrub's and both meet the same machine. Protocol: the server's first line is
// "ready WORDS..." once it is set up; then one answer line per request line.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace cscrub::bench {

class TorchServer {
 public:
  explicit TorchServer(const std::string& command) {
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0) return;
    if (::pipe(from_child) != 0) {
      ::close(to_child[0]);
      ::close(to_child[1]);
      return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(to_child[0], STDIN_FILENO);
      ::dup2(from_child[1], STDOUT_FILENO);
      for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
      ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    if (pid_ < 0) {
      ::close(to_child[1]);
      ::close(from_child[0]);
      return;
    }
    requests_ = ::fdopen(to_child[1], "w");
    answers_ = ::fdopen(from_child[0], "r");
    // The server's first line, "ready ...", once it is set up; nothing if it died on the way.
    const std::string first = answer();
    if (first.rfind("ready ", 0) == 0) ready_ = first.substr(6);
  }
  TorchServer(const TorchServer&) = delete;
  TorchServer& operator=(const TorchServer&) = delete;
  ~TorchServer() {
    if (requests_ != nullptr) std::fclose(requests_);  // end of requests: the server exits
    if (answers_ != nullptr) std::fclose(answers_);
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
  }

  bool ready() const { return !ready_.empty(); }
  // What followed "ready" (bench_torch.py: the OpenBLAS core type PyTorch runs on).
  const std::string& ready_words() const { return ready_; }
  const std::string& openblas_core() const { return ready_; }

  // The answer to one request line; empty when the server is not there (no torch, a crash).
  std::string request(const std::string& line) {
    if (requests_ == nullptr) return {};
    std::fprintf(requests_, "%s\n", line.c_str());
    std::fflush(requests_);
    return answer();
  }
  // bench_torch.py: seconds of one forward, or 0 when the server is not there.
  double seconds(bool last_only) { return std::atof(request(last_only ? "last" : "all").c_str()); }

 private:
  std::string answer() {
    char line[256] = {};
    if (answers_ == nullptr || std::fgets(line, sizeof line, answers_) == nullptr) return {};
    std::string text = line;
    if (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }

  std::string ready_;
  pid_t pid_ = -1;
  FILE* requests_ = nullptr;
  FILE* answers_ = nullptr;
};

}  // namespace cscrub::bench
