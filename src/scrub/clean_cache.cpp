#include "cscrub/scrub/clean_cache.hpp"

#include <algorithm>
#include <numeric>

#include "cscrub/engine/components.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/huge_pages.hpp"
#include "cscrub/error.hpp"

namespace cscrub::scrub {
namespace {

using engine::RowMatrix;
using Kind = graph::Component::Kind;

engine::HookPoint hook_of(Stream stream, int n_layer) {
  switch (stream.kind) {
    case Stream::Kind::resid_pre: return {engine::Site::resid_pre, stream.layer};
    case Stream::Kind::resid_mid: return {engine::Site::resid_mid, stream.layer};
    case Stream::Kind::resid_final: return {engine::Site::resid_post, n_layer - 1};
    case Stream::Kind::z: return {engine::Site::attn_z, stream.layer};
    case Stream::Kind::mlp_out: return {engine::Site::mlp_out, stream.layer};
  }
  return {};
}

// Copies the wanted activations of one batch into the cache rows of its examples.
class StreamRecorder : public engine::Interventions {
 public:
  StreamRecorder(std::map<engine::HookPoint, RowMatrix*> targets, std::span<const int> examples,
                 const std::vector<int64_t>& offsets, int positions)
      : targets_(std::move(targets)), examples_(examples), offsets_(offsets), positions_(positions) {}
  bool wants(engine::HookPoint hook) const override { return targets_.count(hook) > 0; }
  void visit(const engine::Activation& activation) override {
    RowMatrix& target = *targets_.at(activation.hook);
    const auto width = target.cols();
    for (size_t b = 0; b < examples_.size(); ++b) {
      engine::ConstRowMatrixMap rows(activation.data.data() + b * positions_ * width, positions_, width);
      target.middleRows(offsets_[examples_[b]], positions_) = rows;
    }
  }

 private:
  std::map<engine::HookPoint, RowMatrix*> targets_;
  std::span<const int> examples_;
  const std::vector<int64_t>& offsets_;
  int positions_;
};

}  // namespace

Stream input_stream(const graph::Component& component, const engine::ModelConfig& config) {
  switch (component.kind) {
    case Kind::head: return {Stream::Kind::resid_pre, component.layer};
    case Kind::mlp:
      return {config.parallel_attn_mlp ? Stream::Kind::resid_pre : Stream::Kind::resid_mid, component.layer};
    case Kind::output: return {Stream::Kind::resid_final, -1};
    case Kind::embed: break;
  }
  return {Stream::Kind::resid_pre, 0};
}

std::set<Stream> streams_needed(const graph::Hypothesis& hypothesis, const engine::ModelConfig& config) {
  std::set<Stream> streams{{Stream::Kind::resid_final, -1}};
  auto add_output = [&](const graph::Component& component) {
    if (component.kind == Kind::head) streams.insert({Stream::Kind::z, component.layer});
    if (component.kind == Kind::mlp) streams.insert({Stream::Kind::mlp_out, component.layer});
  };
  for (const graph::InterpNode& node : hypothesis.nodes)
    for (const graph::Component& component : node.components) {
      if (component.kind != Kind::embed) streams.insert(input_stream(component, config));
      add_output(component);  // as a parent, or as a node whose inputs all come from one input
    }
  return streams;
}

engine::RowVector constant_part(const engine::Weights& weights, Stream stream) {
  int layers = 0;  // attention layers whose output bias the stream holds
  switch (stream.kind) {
    case Stream::Kind::resid_pre: layers = stream.layer; break;
    case Stream::Kind::resid_mid: layers = stream.layer + 1; break;
    case Stream::Kind::resid_final: layers = weights.config.n_layer; break;
    case Stream::Kind::z:
    case Stream::Kind::mlp_out: layers = 0; break;
  }
  engine::RowVector constant = engine::RowVector::Zero(weights.config.d_model);
  for (int layer = 0; layer < layers; ++layer) constant += weights.layers[static_cast<size_t>(layer)].out_bias;
  return constant;
}

uint64_t CleanCache::bytes_needed(const data::Dataset& dataset, const std::set<Stream>& streams, int d_model) {
  uint64_t tokens = 0;
  for (const auto& example : dataset.examples) tokens += example.tokens.size();
  return tokens * streams.size() * static_cast<uint64_t>(d_model) * sizeof(float);
}

CleanCache::CleanCache(const engine::Weights& weights, const data::Dataset& dataset, std::set<Stream> streams,
                       int batch_size, const Progress& progress)
    : weights_(weights), dataset_(dataset) {
  const int n = static_cast<int>(dataset.examples.size());
  offsets_.resize(n);
  int64_t rows = 0;
  for (int i = 0; i < n; ++i) {
    offsets_[i] = rows;
    rows += static_cast<int64_t>(dataset.examples[i].tokens.size());
  }
  const int n_layer = weights.config.n_layer;
  std::map<engine::HookPoint, RowMatrix*> targets;
  for (const Stream& stream : streams) {
    RowMatrix& matrix = streams_[stream];
    matrix.resize(rows, weights.config.d_model);
    engine::advise_huge_pages(matrix);  // GPT-2 small, 200 prompts: 232 MB; with 4 KiB pages 0.4 s of faults
    targets[hook_of(stream, n_layer)] = &matrix;
  }
  // Batches of equal-length examples, in dataset order within each length.
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return dataset.examples[a].tokens.size() < dataset.examples[b].tokens.size();
  });
  engine::LogitRequest no_logits;
  no_logits.positions = engine::LogitRequest::Positions::none;
  int done = 0;
  engine::ForwardScratch scratch;  // batches of one length reuse the same buffers
  for (int start = 0; start < n;) {
    const size_t length = dataset.examples[order[start]].tokens.size();
    int end = start;
    while (end < n && end - start < batch_size && dataset.examples[order[end]].tokens.size() == length) ++end;
    std::span<const int> batch(order.data() + start, static_cast<size_t>(end - start));
    std::vector<int32_t> tokens;
    tokens.reserve(batch.size() * length);
    for (int example : batch)
      tokens.insert(tokens.end(), dataset.examples[example].tokens.begin(), dataset.examples[example].tokens.end());
    StreamRecorder recorder(targets, batch, offsets_, static_cast<int>(length));
    engine::forward(weights, {tokens, static_cast<int>(batch.size()), static_cast<int>(length)}, no_logits, &recorder,
                    &scratch);
    done += end - start;
    if (progress) progress(done, n);
    start = end;
  }
}

uint64_t CleanCache::bytes() const {
  uint64_t total = 0;
  for (const auto& [stream, matrix] : streams_) total += static_cast<uint64_t>(matrix.size()) * sizeof(float);
  return total;
}

RowMatrix CleanCache::gather(Stream stream, std::span<const int> examples) const {
  auto found = streams_.find(stream);
  if (found == streams_.end()) throw Error("internal: activation stream not cached");
  const RowMatrix& source = found->second;
  const auto length = static_cast<Eigen::Index>(dataset_.examples[examples.front()].tokens.size());
  RowMatrix rows(static_cast<Eigen::Index>(examples.size()) * length, source.cols());
  for (size_t b = 0; b < examples.size(); ++b)
    rows.middleRows(static_cast<Eigen::Index>(b) * length, length) = source.middleRows(offsets_[examples[b]], length);
  return rows;
}

RowMatrix CleanCache::clean_output(const graph::Component& component, std::span<const int> examples) const {
  switch (component.kind) {
    case Kind::head: {
      const int d_head = weights_.config.d_head();
      const RowMatrix z = gather({Stream::Kind::z, component.layer}, examples);
      return engine::head_output_from_z(weights_, component.layer, component.head,
                                        z.middleCols(component.head * d_head, d_head));
    }
    case Kind::mlp: return gather({Stream::Kind::mlp_out, component.layer}, examples);
    case Kind::output: return gather({Stream::Kind::resid_final, -1}, examples);
    case Kind::embed: {
      const auto length = static_cast<Eigen::Index>(dataset_.examples[examples.front()].tokens.size());
      RowMatrix rows(static_cast<Eigen::Index>(examples.size()) * length, weights_.config.d_model);
      for (size_t b = 0; b < examples.size(); ++b)
        for (Eigen::Index p = 0; p < length; ++p) {
          auto row = rows.row(static_cast<Eigen::Index>(b) * length + p);
          row = weights_.token_embedding.row(dataset_.examples[examples[b]].tokens[p]);
          if (weights_.config.learned_positions) row += weights_.position_embedding.row(p);
        }
      return rows;
    }
  }
  return {};
}

}  // namespace cscrub::scrub
