// User errors: bad files, bad arguments, bad hypotheses. They carry a message (naming the file, line and
// problem) and an optional hint, and reach main() as a non-zero exit. Programmer errors use assert instead.
#pragma once
#include <stdexcept>
#include <string>

namespace cscrub {

class Error : public std::runtime_error {
 public:
  explicit Error(std::string message, std::string hint = {})
      : std::runtime_error(std::move(message)), hint_(std::move(hint)) {}
  const std::string& hint() const { return hint_; }

 private:
  std::string hint_;
};

}  // namespace cscrub
