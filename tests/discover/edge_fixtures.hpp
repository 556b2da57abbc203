// Paired synthetic prompts for the edge-level tests: like DiscoverFixture's, but each corrupted prompt agrees
// with its clean one on its first positions (2 in the 6-token group, 4 in the 7-token group), as IOI's p_ABC
// prompts agree up to S2, so the methods' suffix rows are exercised.
#pragma once
#include "cscrub/discover/edge_graph.hpp"
#include "discover_fixtures.hpp"

namespace cscrub::test {

inline discover::PairedDataset pairs_with_common_prefix(int per_group = 4, unsigned seed = 11) {
  discover::PairedDataset pairs = DiscoverFixture{}.pairs(per_group, seed);
  for (size_t i = 0; i < pairs.clean.examples.size(); ++i) {
    const auto& clean = pairs.clean.examples[i].tokens;
    auto& corrupted = pairs.corrupted.examples[i].tokens;
    const size_t shared = clean.size() == 6 ? 2 : 4;
    for (size_t p = 0; p < shared; ++p) corrupted[p] = clean[p];
  }
  return pairs;
}

inline discover::EdgeGraph graph_of(const engine::Weights& weights) {
  return discover::EdgeGraph(discover::graph_shape(weights.config));
}

}  // namespace cscrub::test
