#include "progress.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <cstdio>

namespace cscrub::cli {

ProgressBar::ProgressBar(bool enabled)
    : enabled_(enabled && ::isatty(STDERR_FILENO) == 1), started_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  if (drawn_) fmt::print(stderr, "\r\033[K");
}

void ProgressBar::update(const std::string& stage, int done, int total) {
  if (!enabled_ || total <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (stage != stage_) {
    stage_ = stage;
    started_ = now;
  } else if (done < total && now - last_drawn_ < std::chrono::milliseconds(100)) {
    return;
  }
  last_drawn_ = now;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(static_cast<long long>(kWidth) * done / total);
  const double elapsed = std::chrono::duration<double>(now - started_).count();
  const double remaining = done > 0 ? elapsed * (total - done) / done : 0.0;
  fmt::print(stderr, "\r\033[K{:<18} [{}{}] {}/{}  {:.0f}s left", stage, std::string(filled, '#'),
             std::string(kWidth - filled, '.'), done, total, remaining);
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace cscrub::cli
