#include "cscrub/scrub/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cscrub/data/random.hpp"

namespace cscrub::scrub {
namespace {

double mean_of(std::span<const double> values) {
  return values.empty() ? 0.0 : std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

double mean_over(std::span<const double> values, const std::vector<int>& sample) {
  double sum = 0;
  for (int i : sample) sum += values[static_cast<size_t>(i)];
  return sum / static_cast<double>(sample.size());
}

double recovered_over(const ReferenceValues& v, const std::vector<int>& sample) {
  return recovered_fraction(mean_over(v.model, sample), mean_over(v.baseline, sample), mean_over(v.scrubbed, sample));
}

}  // namespace

double recovered_fraction(double model, double baseline, double scrubbed) {
  const double span = model - baseline;
  if (span == 0) return std::nan("");
  return (scrubbed - baseline) / span;
}

Bootstrap::Bootstrap(int references, int resamples, uint64_t seed) {
  data::Rng rng(seed);
  samples_.resize(static_cast<size_t>(resamples));
  for (auto& sample : samples_) {
    sample.resize(static_cast<size_t>(references));
    for (int& index : sample) index = static_cast<int>(rng.below(static_cast<uint64_t>(references)));
  }
}

template <class Statistic>
Estimate Bootstrap::estimate(double value, Statistic&& statistic) const {
  std::vector<double> draws;
  draws.reserve(samples_.size());
  for (const auto& sample : samples_) {
    const double draw = statistic(sample);
    if (std::isfinite(draw)) draws.push_back(draw);
  }
  Estimate result{value, std::nan(""), std::nan("")};
  if (draws.empty()) return result;
  std::sort(draws.begin(), draws.end());
  auto quantile = [&](double q) {
    const double position = q * static_cast<double>(draws.size() - 1);
    const size_t below = static_cast<size_t>(std::floor(position));
    const size_t above = std::min(below + 1, draws.size() - 1);
    return draws[below] + (position - static_cast<double>(below)) * (draws[above] - draws[below]);
  };
  result.low = quantile(0.025);
  result.high = quantile(0.975);
  return result;
}

Estimate Bootstrap::mean(std::span<const double> values) const {
  return estimate(mean_of(values), [&](const std::vector<int>& sample) { return mean_over(values, sample); });
}

Estimate Bootstrap::recovered(const ReferenceValues& values) const {
  const double value = recovered_fraction(mean_of(values.model), mean_of(values.baseline), mean_of(values.scrubbed));
  return estimate(value, [&](const std::vector<int>& sample) { return recovered_over(values, sample); });
}

Estimate Bootstrap::recovered_difference(const ReferenceValues& a, const ReferenceValues& b) const {
  const double value = recovered_fraction(mean_of(b.model), mean_of(b.baseline), mean_of(b.scrubbed)) -
                       recovered_fraction(mean_of(a.model), mean_of(a.baseline), mean_of(a.scrubbed));
  return estimate(value, [&](const std::vector<int>& sample) {
    return recovered_over(b, sample) - recovered_over(a, sample);
  });
}

}  // namespace cscrub::scrub
