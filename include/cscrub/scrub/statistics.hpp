// Means, "% recovered" and their 95% confidence intervals by a percentile bootstrap over reference inputs
// (each reference keeps all its seeds, so seed and sampling noise are both inside the interval). Paired
// comparisons resample the same references for both hypotheses.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace cscrub::scrub {

struct Estimate {
  double value = 0;
  double low = 0;   // 95% interval
  double high = 0;
};

// Per reference, averaged over seeds.
struct ReferenceValues {
  std::vector<double> model;
  std::vector<double> baseline;
  std::vector<double> scrubbed;
};

// (scrubbed - baseline) / (model - baseline) of the means.
double recovered_fraction(double model, double baseline, double scrubbed);

class Bootstrap {
 public:
  // `resamples` index sets of `references` drawn with replacement, reproducibly from `seed`.
  Bootstrap(int references, int resamples, uint64_t seed);

  Estimate mean(std::span<const double> values) const;
  Estimate recovered(const ReferenceValues& values) const;
  // recovered(b) - recovered(a); a and b share model values and references.
  Estimate recovered_difference(const ReferenceValues& a, const ReferenceValues& b) const;

 private:
  template <class Statistic>
  Estimate estimate(double value, Statistic&& statistic) const;
  std::vector<std::vector<int>> samples_;
};

}  // namespace cscrub::scrub
