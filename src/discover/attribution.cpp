#include "cscrub/discover/attribution.hpp"

#include <cassert>
#include <numeric>

#include "cscrub/engine/interventions.hpp"

namespace cscrub::discover {
namespace {

using Vector = Eigen::Matrix<double, 1, Eigen::Dynamic>;

// `length` values of row `row` of an activation stored as [rows, stride], from column `offset`.
Vector row_of(const engine::StoredActivation& stored, int64_t row, int64_t stride, int64_t offset, int64_t length) {
  assert(static_cast<size_t>(row * stride + offset + length) <= stored.values.size());
  return Eigen::Map<const engine::RowVector>(stored.values.data() + row * stride + offset, length).cast<double>();
}

// What a vector written into the final residual stream adds to the logit difference, given the frozen
// ln_f scale and the direction ln_f.weight * (W_U[answer] - W_U[distractor]).
double contribution(const Vector& written, const Vector& direction, double scale) {
  return (written.array() - written.mean()).matrix().dot(direction) / scale;
}

}  // namespace

double Attribution::sum_of_parts() const {
  double total = token_embedding + position_embedding + final_bias;
  for (double value : heads.values) total += value;
  for (double value : attention_biases) total += value;
  for (double value : mlps) total += value;
  return total;
}

Attribution direct_logit_attribution(const engine::Weights& weights, const data::Dataset& dataset, int batch_size,
                                     const Progress& progress) {
  const engine::ModelConfig& config = weights.config;
  const int n_layer = config.n_layer, n_head = config.n_head, d_model = config.d_model;
  // Rotary models have no position embedding: their positions act inside attention, so its share stays 0.
  const bool positions = engine::has_site(config, engine::Site::pos_embed);
  std::set<engine::HookPoint> hooks{{engine::Site::embed, -1}, {engine::Site::ln_final_scale, -1}};
  if (positions) hooks.insert({engine::Site::pos_embed, -1});
  for (int layer = 0; layer < n_layer; ++layer) {
    hooks.insert({engine::Site::attn_result, layer});
    hooks.insert({engine::Site::mlp_out, layer});
  }

  Attribution result;
  result.heads = numbered_grid("layer", n_layer, "head", n_head);
  std::fill(result.heads.values.begin(), result.heads.values.end(), 0.0);
  result.attention_biases.assign(static_cast<size_t>(n_layer), 0.0);
  result.mlps.assign(static_cast<size_t>(n_layer), 0.0);
  const Vector ln_weight = weights.ln_final_weight.cast<double>(), ln_bias = weights.ln_final_bias.cast<double>();

  const std::vector<Batch> batches = make_batches(dataset, batch_size);
  int done = 0;
  for (const Batch& batch : batches) {
    engine::ActivationCache cache(hooks);
    const std::vector<double> diffs = logit_diffs(weights, dataset, batch, batch_tokens(dataset, batch), &cache);
    const auto& scale = cache.at({engine::Site::ln_final_scale, -1});
    for (size_t b = 0; b < batch.examples.size(); ++b) {
      const data::Example& example = dataset.examples[static_cast<size_t>(batch.examples[b])];
      const int64_t end = static_cast<int64_t>(b) * batch.positions + batch.positions - 1;  // row of the last token
      const engine::RowMatrix& unembedding = weights.unembedding_rows();
      const Vector unembed_diff = (unembedding.row(example.answer).cast<double>() -
                                   unembedding.row(example.distractor).cast<double>());
      const Vector direction = ln_weight.cwiseProduct(unembed_diff);
      const double frozen_scale = scale.values[static_cast<size_t>(end)];
      auto add = [&](double& total, const Vector& written) { total += contribution(written, direction, frozen_scale); };

      add(result.token_embedding, row_of(cache.at({engine::Site::embed, -1}), end, d_model, 0, d_model));
      if (positions)
        add(result.position_embedding, row_of(cache.at({engine::Site::pos_embed, -1}), end, d_model, 0, d_model));
      for (int layer = 0; layer < n_layer; ++layer) {
        const auto& heads = cache.at({engine::Site::attn_result, layer});  // [rows, head, d_model]
        for (int head = 0; head < n_head; ++head)
          add(result.heads.at(layer, head),
              row_of(heads, end, static_cast<int64_t>(n_head) * d_model, static_cast<int64_t>(head) * d_model, d_model));
        add(result.attention_biases[static_cast<size_t>(layer)], weights.layers[static_cast<size_t>(layer)].out_bias.cast<double>());
        add(result.mlps[static_cast<size_t>(layer)], row_of(cache.at({engine::Site::mlp_out, layer}), end, d_model, 0, d_model));
      }
      result.final_bias += ln_bias.dot(unembed_diff);
      result.logit_diff += diffs[b];
    }
    if (progress) progress(++done, static_cast<int>(batches.size()));
  }

  const double prompts = static_cast<double>(dataset.examples.size());
  result.prompts = static_cast<int>(dataset.examples.size());
  for (double& value : result.heads.values) value /= prompts;
  for (double& value : result.attention_biases) value /= prompts;
  for (double& value : result.mlps) value /= prompts;
  for (double* value : {&result.token_embedding, &result.position_embedding, &result.final_bias, &result.logit_diff})
    *value /= prompts;
  return result;
}

}  // namespace cscrub::discover
