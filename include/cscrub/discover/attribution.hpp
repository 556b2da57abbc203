// Direct logit attribution: how much each component writes, directly, into the logit difference at the last
// position. The final layer norm is linear once its scale is frozen at the clean run's value (standard
// practice), so the residual stream's parts each contribute
//     ((x - mean(x)) / scale) . (ln_f.weight * (W_U[answer] - W_U[distractor]))
// and these contributions plus ln_f.bias . (W_U[answer] - W_U[distractor]) sum exactly to the logit difference.
#pragma once
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/discover/batches.hpp"
#include "cscrub/discover/grid.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::discover {

// Means over the prompts, in logit-difference units.
struct Attribution {
  Grid heads;                            // [layer, head]: each head's output z_h W_O[h]
  std::vector<double> attention_biases;  // per layer: the attention output bias b_O
  std::vector<double> mlps;              // per layer: the MLP output (with its bias)
  double token_embedding = 0, position_embedding = 0;
  double final_bias = 0;  // ln_f's bias
  double logit_diff = 0;  // the model's mean logit difference, which the parts sum to
  int prompts = 0;

  double sum_of_parts() const;
};

Attribution direct_logit_attribution(const engine::Weights& weights, const data::Dataset& dataset, int batch_size,
                                     const Progress& progress = {});

}  // namespace cscrub::discover
