// How alike two methods rank the same edges (e.g. EAP against exact patching): Spearman's rank correlation of the
// scores' magnitudes, and how many of the strongest edges the two share. Circuits are cut by |score|, so that is
// the order the comparison reads.
#pragma once
#include <span>

namespace cscrub::discover {

// Spearman's rho of |a| and |b|: Pearson's correlation of their ranks, tied values sharing their mean rank.
// NaN when either has a single value throughout (no ranking) or fewer than two entries. Throws cscrub::Error
// for spans of different lengths.
double spearman_of_magnitudes(std::span<const double> a, std::span<const double> b);

// How many of the `k` entries of largest |a| are among the `k` of largest |b| (ties broken by index, the lower
// first, as the circuit commands break them). k is clamped to the length.
int common_top(std::span<const double> a, std::span<const double> b, int k);

}  // namespace cscrub::discover
