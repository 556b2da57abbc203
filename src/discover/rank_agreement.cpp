#include "cscrub/discover/rank_agreement.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "cscrub/error.hpp"

namespace cscrub::discover {
namespace {

// Ranks 1..n of |values|, tied values sharing the mean of their ranks.
std::vector<double> magnitude_ranks(std::span<const double> values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t i, size_t j) { return std::fabs(values[i]) < std::fabs(values[j]); });
  std::vector<double> ranks(values.size());
  for (size_t start = 0; start < order.size();) {
    size_t end = start + 1;
    while (end < order.size() && std::fabs(values[order[end]]) == std::fabs(values[order[start]])) ++end;
    const double shared = 0.5 * static_cast<double>(start + 1 + end);  // mean of ranks start+1 .. end
    for (size_t i = start; i < end; ++i) ranks[order[i]] = shared;
    start = end;
  }
  return ranks;
}

// The indices of the k largest |values|, the lower index first among equals.
std::vector<size_t> top_indices(std::span<const double> values, size_t k) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(), [&](size_t i, size_t j) {
    const double x = std::fabs(values[i]), y = std::fabs(values[j]);
    return x != y ? x > y : i < j;
  });
  order.resize(k);
  std::sort(order.begin(), order.end());
  return order;
}

void check_lengths(std::span<const double> a, std::span<const double> b) {
  if (a.size() != b.size())
    throw Error("rank agreement of " + std::to_string(a.size()) + " scores with " + std::to_string(b.size()) +
                ": the score lists must be of the same edges");
}

}  // namespace

double spearman_of_magnitudes(std::span<const double> a, std::span<const double> b) {
  check_lengths(a, b);
  if (a.size() < 2) return std::nan("");
  const std::vector<double> x = magnitude_ranks(a), y = magnitude_ranks(b);
  const double mean = 0.5 * static_cast<double>(a.size() + 1);  // of ranks 1..n, ties or not
  double xy = 0, xx = 0, yy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    xy += (x[i] - mean) * (y[i] - mean);
    xx += (x[i] - mean) * (x[i] - mean);
    yy += (y[i] - mean) * (y[i] - mean);
  }
  if (xx == 0 || yy == 0) return std::nan("");
  return xy / std::sqrt(xx * yy);
}

int common_top(std::span<const double> a, std::span<const double> b, int k) {
  check_lengths(a, b);
  const size_t count = std::min(a.size(), static_cast<size_t>(std::max(k, 0)));
  const std::vector<size_t> x = top_indices(a, count), y = top_indices(b, count);
  std::vector<size_t> shared;
  std::set_intersection(x.begin(), x.end(), y.begin(), y.end(), std::back_inserter(shared));
  return static_cast<int>(shared.size());
}

}  // namespace cscrub::discover
