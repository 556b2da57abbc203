#include "option_checks.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <thread>

namespace cscrub::cli {
namespace {

bool parse_whole(const std::string& text, long long& value) {
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  return error == std::errc() && stop == end;
}

bool parse_number(const std::string& text, double& value) {
  try {
    size_t used = 0;
    value = std::stod(text, &used);
    return used == text.size();
  } catch (const std::exception&) {  // not a number, or out of double's range
    return false;
  }
}

CLI::Validator whole_between(long long minimum, long long maximum, std::string what) {
  return CLI::Validator(
      [=](std::string& input) -> std::string {
        long long value = 0;
        if (!parse_whole(input, value) || value < minimum || value > maximum)
          return "must be " + what + " (got " + input + ")";
        return {};
      },
      what);
}

}  // namespace

CLI::Validator at_least(long long minimum) {
  return whole_between(minimum, std::numeric_limits<long long>::max(),
                       "a whole number of at least " + std::to_string(minimum));
}

CLI::Validator seed_value() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        unsigned long long value = 0;
        const char* end = input.data() + input.size();
        const auto [stop, error] = std::from_chars(input.data(), end, value);
        if (error != std::errc() || stop != end)
          return "must be a whole number from 0 to 18446744073709551615 (got " + input + ")";
        return {};
      },
      "SEED");
}

CLI::Validator finite_positive() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        double value = 0;
        if (!parse_number(input, value) || !std::isfinite(value) || value <= 0)
          return "must be a finite number above 0 (got " + input + ")";
        return {};
      },
      "POSITIVE");
}

CLI::Validator thread_count() {
  const long long cores = std::max(1u, std::thread::hardware_concurrency());
  return whole_between(1, 4 * cores,
                       "from 1 to " + std::to_string(4 * cores) + " (4 x the " + std::to_string(cores) +
                           " hardware threads)");
}

CLI::Validator memory_gib() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        double value = 0;
        constexpr double kMaximum = 1 << 20;
        if (!parse_number(input, value) || !std::isfinite(value) || value <= 0 || value > kMaximum)
          return "must be a number of GiB above 0 and at most 1048576 (got " + input + ")";
        return {};
      },
      "GIB");
}

}  // namespace cscrub::cli
