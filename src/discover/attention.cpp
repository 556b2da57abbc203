#include "cscrub/discover/attention.hpp"

#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/interventions.hpp"

namespace cscrub::discover {

engine::RowMatrix attention_pattern(const engine::Weights& weights, std::span<const int32_t> tokens, HeadId head) {
  const engine::HookPoint hook{engine::Site::attn_pattern, head.layer};
  engine::ActivationCache cache({hook});
  engine::LogitRequest none;
  none.positions = engine::LogitRequest::Positions::none;
  const int positions = static_cast<int>(tokens.size());
  engine::forward(weights, {.tokens = tokens, .batch = 1, .positions = positions}, none, &cache);
  // [batch 1, head, query, key]: head h's matrix starts at h * positions².
  const auto& pattern = cache.at(hook);
  const size_t offset = static_cast<size_t>(head.head) * static_cast<size_t>(positions) * static_cast<size_t>(positions);
  engine::RowMatrix matrix = Eigen::Map<const engine::RowMatrix>(pattern.values.data() + offset, positions, positions);
  return matrix.triangularView<Eigen::Lower>();
}

}  // namespace cscrub::discover
