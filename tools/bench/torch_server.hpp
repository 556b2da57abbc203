// A PyTorch benchmark process answering timing requests (bench_engine, bench_discover).
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace cscrub::bench {

// A PyTorch benchmark process in --serve mode (tools/bench/bench_torch.py, bench_eap_torch.py) that times one run
// per request, so that its runs alternate with cscrub's and both meet the same machine.
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
    // The server's first line, "ready CORE [DETAILS]", once its model is loaded; nothing if it died on the way.
    const std::string first = answer();
    if (first.rfind("ready ", 0) == 0) {
      const std::string rest = first.substr(6);
      const size_t space = rest.find(' ');
      openblas_core_ = rest.substr(0, space);
      if (space != std::string::npos) details_ = rest.substr(space + 1);
    }
  }
  TorchServer(const TorchServer&) = delete;
  TorchServer& operator=(const TorchServer&) = delete;
  ~TorchServer() {
    if (requests_ != nullptr) std::fclose(requests_);  // end of requests: the server exits
    if (answers_ != nullptr) std::fclose(answers_);
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
  }

  bool ready() const { return !openblas_core_.empty(); }
  // The core type of the OpenBLAS PyTorch runs on (its kernels decide PyTorch's speed).
  const std::string& openblas_core() const { return openblas_core_; }
  // What else the server said it chose (e.g. its thread count).
  const std::string& details() const { return details_; }

  // Seconds of one PyTorch run of `request`, or 0 when the server is not there (no torch, a crash).
  double seconds(const std::string& request) {
    if (requests_ == nullptr) return 0;
    std::fprintf(requests_, "%s\n", request.c_str());
    std::fflush(requests_);
    return std::atof(answer().c_str());
  }

 private:
  std::string answer() {
    char line[256] = {};
    if (answers_ == nullptr || std::fgets(line, sizeof line, answers_) == nullptr) return {};
    std::string text = line;
    if (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }

  std::string openblas_core_, details_;
  pid_t pid_ = -1;
  FILE* requests_ = nullptr;
  FILE* answers_ = nullptr;
};

}  // namespace cscrub::bench
