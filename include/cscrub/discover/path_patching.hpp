// Path patching as the IOI paper's Appendix B defines it: the effect of a sender head on the metric through
// a set of receivers only. For each sender s:
//   1. run the corrupted prompt and keep s's output (hook_z);
//   2. run the clean prompt with s's z from step 1 and every other head's z frozen to its clean value (MLPs
//      and layer norms recomputed), and record the receivers' inputs: the q, k or v of each receiver head;
//   3. run the clean prompt with only the receivers' q/k/v replaced by their values from step 2: the metric.
// With the logits as the receiver, step 3 reads the final residual stream of step 2, so step 2's logits are
// the result. Senders at or after the layer of every receiver have no path: their cells are NaN.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "cscrub/discover/batches.hpp"
#include "cscrub/discover/grid.hpp"
#include "cscrub/discover/pairs.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::discover {

struct Receiver {
  enum class Port { q, k, v };
  int layer = 0, head = 0;
  Port port = Port::q;
};

struct PathPatchingSpec {
  std::vector<Receiver> receivers;  // empty: the logits
  std::string position;             // named position at which the receivers' inputs are patched; "": all
};

// "logits", or comma-separated "L.H:q|k|v" (e.g. "2.1:q,2.3:q"); throws cscrub::Error naming the bad item.
std::vector<Receiver> parse_receivers(std::string_view text, const engine::ModelConfig& config);
// "logits" or e.g. "2.1:q, 2.3:q".
std::string describe(const std::vector<Receiver>& receivers);

// A [layer, head] sweep over every sender head (values: the mean logit difference of step 3).
Sweep path_patching(const engine::Weights& weights, const PairedDataset& pairs, const PathPatchingSpec& spec,
                    int batch_size, const Progress& progress = {});

}  // namespace cscrub::discover
