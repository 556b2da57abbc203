// Sums in one fixed order whatever the data's address. Eigen's reductions peel elements up to an aligned
// start, so a row's sum would depend on where the row lies in the batch (for widths that are not whole
// vectors); these keep kOrderedSumLanes running sums (vectorised by the compiler) and add them in a fixed tree.
#pragma once

namespace cscrub::engine {

inline constexpr int kOrderedSumLanes = 16;

// The sum of term(0) .. term(count - 1).
template <typename Term>
float ordered_sum(int count, Term&& term) {
  float lanes[kOrderedSumLanes] = {};
  int j = 0;
  for (; j + kOrderedSumLanes <= count; j += kOrderedSumLanes)
    for (int l = 0; l < kOrderedSumLanes; ++l) lanes[l] += term(j + l);
  for (int l = 0; j + l < count; ++l) lanes[l] += term(j + l);
  for (int half = kOrderedSumLanes / 2; half > 0; half /= 2)
    for (int l = 0; l < half; ++l) lanes[l] += lanes[l + half];
  return lanes[0];
}

}  // namespace cscrub::engine
