// A progress bar on stderr for long runs; silent when stderr is not a terminal (logs, CI) or when quiet.
#pragma once
#include <chrono>
#include <string>

namespace cscrub::cli {

class ProgressBar {
 public:
  explicit ProgressBar(bool enabled);
  ~ProgressBar();
  void update(const std::string& stage, int done, int total);

 private:
  bool enabled_;
  bool drawn_ = false;
  std::string stage_;
  std::chrono::steady_clock::time_point started_, last_drawn_;
};

}  // namespace cscrub::cli
