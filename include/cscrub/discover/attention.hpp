// One head's attention pattern on one prompt, for pictures of what a head attends to.
#pragma once
#include <cstdint>
#include <span>

#include "cscrub/discover/targets.hpp"
#include "cscrub/engine/tensor.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::discover {

// [query, key] attention probabilities of `head` on `tokens` (entries above the diagonal are 0: causal mask).
engine::RowMatrix attention_pattern(const engine::Weights& weights, std::span<const int32_t> tokens, HeadId head);

}  // namespace cscrub::discover
