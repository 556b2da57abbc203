// Every dataset input's clean activations, computed once: in causal scrubbing an unimportant subtree on a
// random input is just that input's clean activation, and every scrubbed node starts from clean residual
// streams. Only the streams a hypothesis needs are kept.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/engine/tensor.hpp"
#include "cscrub/engine/weights.hpp"
#include "cscrub/graph/hypothesis.hpp"

namespace cscrub::scrub {

// A cached residual stream or component output, [tokens, d_model] per example.
struct Stream {
  enum class Kind { resid_pre, resid_mid, resid_final, z, mlp_out };
  Kind kind = Kind::resid_final;
  int layer = -1;
  friend auto operator<=>(const Stream&, const Stream&) = default;
};

// The residual stream a component reads: a head its layer's resid_pre, an MLP resid_mid (resid_pre in a parallel
// block), the output the final residual stream.
Stream input_stream(const graph::Component& component, const engine::ModelConfig& config);
// The streams needed to scrub `hypothesis` (the final residual stream is always kept for the model's value).
std::set<Stream> streams_needed(const graph::Hypothesis& hypothesis, const engine::ModelConfig& config);

// The part of a residual stream that no component writes, [1, d_model]: the attention output biases of the
// layers before it (a head's output leaves them out; an MLP's output holds its bias). What a stream holds
// when every component writes zero.
engine::RowVector constant_part(const engine::Weights& weights, Stream stream);

class CleanCache {
 public:
  using Progress = std::function<void(int done, int total)>;
  // Runs the model over every example (batches of examples of equal length) and keeps `streams`.
  CleanCache(const engine::Weights& weights, const data::Dataset& dataset, std::set<Stream> streams,
             int batch_size, const Progress& progress = {});

  // Bytes the cache would take, to refuse runs that do not fit before allocating anything.
  static uint64_t bytes_needed(const data::Dataset& dataset, const std::set<Stream>& streams, int d_model);
  // Bytes the cached activations take.
  uint64_t bytes() const;

  // The rows of `stream` for `examples` (all of one length), stacked: [examples * length, d_model].
  engine::RowMatrix gather(Stream stream, std::span<const int> examples) const;
  // A component's clean output on `examples`, [examples * length, d_model] (heads from z; MLPs from
  // mlp_out; the embeddings from the weights).
  engine::RowMatrix clean_output(const graph::Component& component, std::span<const int> examples) const;

  const data::Dataset& dataset() const { return dataset_; }
  int forward_passes() const { return 1; }

 private:
  const engine::Weights& weights_;
  const data::Dataset& dataset_;
  std::vector<int64_t> offsets_;  // first row of each example
  std::map<Stream, engine::RowMatrix> streams_;
};

}  // namespace cscrub::scrub
