// What a scrubbing experiment holds in memory at its peak, estimated from the model's shape, the dataset
// and the hypotheses before anything large is allocated, so that a run that cannot fit is refused with
// advice instead of being killed by the system halfway. Only the clean cache and the per-reference results
// grow with the number of prompts; the rest is one batch's worth (one scrubber at a time streams the
// references in batches, every seed of a batch before the next), so the number of seeds changes nothing.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/engine/config.hpp"
#include "cscrub/engine/matmul.hpp"
#include "cscrub/graph/hypothesis.hpp"
#include "cscrub/scrub/experiment.hpp"

namespace cscrub::scrub {

struct MemoryEstimate {
  uint64_t program = 0;        // the executable, its libraries and allocator (set by the caller that knows it)
  uint64_t weights = 0;        // the float32 parameters
  uint64_t model_file = 0;     // the checkpoint, mapped while the weights are read (set by the caller that loads it)
  uint64_t clean_cache = 0;    // every prompt's cached activations: tokens x cached streams x d_model floats
  uint64_t clean_forward = 0;  // one batch's forward-pass workspace while the cache is filled
  uint64_t scrub_batch = 0;    // one batch of references recomputed along the deepest path of the treeified hypothesis
  uint64_t metric_clean = 0;   // KL: the model's own log-probabilities of one batch, held while it is scrubbed
  uint64_t metric_batch = 0;   // one batch's logits (the full vocabulary for loss and KL)
  uint64_t scrubber = 0;       // one scrubber's model graph G (scrubbers exist one at a time)
  uint64_t results = 0;        // per reference: the values of every run, agreement classes
  uint64_t statistics = 0;     // bootstrap index sets and per-hypothesis copies, once the cache is freed
  int streams = 0;             // activations cached per token
  int prompts = 0;             // prompts cached
  int references = 0;          // prompts scored
  uint64_t tokens = 0;         // tokens cached

  // One batch's largest working set while scrubbing or filling the cache.
  uint64_t batch_working() const;
  // The peak of the run: loading the weights, filling the cache and scrubbing, or the statistics.
  uint64_t peak() const;
};

// The estimate for `run_experiment` with these arguments, for weights of this shape whose products run in
// `matmul` (program and model_file left at 0).
MemoryEstimate estimate_memory(const engine::ModelConfig& config, engine::MatmulKernel matmul,
                               const data::Dataset& dataset, const std::vector<graph::Hypothesis>& hypotheses,
                               const graph::Hypothesis& baseline, const ExperimentSettings& settings);

// The estimate with its per-prompt parts (cache, results, statistics, tokens) scaled to `prompts` prompts
// like the estimated ones; batch parts kept, which is conservative for fewer prompts.
MemoryEstimate scaled(const MemoryEstimate& estimate, int prompts);

// Throws cscrub::Error when the estimate exceeds settings.max_memory_bytes (its peak) or
// settings.max_cache_bytes (its clean cache): the message names the estimate, its largest parts and the
// limit; the hint how many prompts would fit and what else to change.
void check_memory(const MemoryEstimate& estimate, const ExperimentSettings& settings);

// "1.84 GiB", or "45.2 MiB" below a gibibyte.
std::string memory_text(uint64_t bytes);
// "peak 1.61 GiB: activation cache 1.06 GiB (23 activations x 16,116 tokens), weights 474.7 MiB, ..."
std::string describe(const MemoryEstimate& estimate);

}  // namespace cscrub::scrub
