// The causal-scrubbing pseudocode of Chan et al., implemented directly and slowly: one reference at a time,
// recursively, every value computed by full forward passes of the model with patched hook points (no
// cache, no component functions). It follows docs/hypothesis-format.md on its own: its agreement classes
// are found by comparing every prompt with every other, its draws follow the documented sampling rules, and
// its ablations are computed by forward passes (zero: every component's hook patched to zero; mean: the
// mean of the group's forward passes; counterfactual: the paired prompt's forward pass). It shares only the
// draw function (draw_key, index_from_key) with the real scrubber, so that both see the same sampled inputs.
#pragma once
#include <map>

#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/interventions.hpp"
#include "cscrub/graph/model_graph.hpp"
#include "cscrub/scrub/sampling.hpp"
#include "cscrub/scrub/scrubber.hpp"

namespace cscrub::test {

// The documented draw, from first principles: the members of `example`'s alignment group that agree with it
// on `features`, in dataset order; under cscrub sampling, the k-th of the members other than `example`
// (k = index_from_key(key, size - 1)) or `example` itself when alone; under paper sampling, the k-th of all
// of them (k = index_from_key(key, size)).
inline int reference_draw(const data::Dataset& dataset, const std::vector<std::string>& features, int example,
                          uint64_t key, scrub::Sampling sampling) {
  const data::Example& own = dataset.examples[static_cast<size_t>(example)];
  std::vector<int> members;
  for (size_t i = 0; i < dataset.examples.size(); ++i) {
    const data::Example& other = dataset.examples[i];
    bool agrees = other.group == own.group;
    for (const std::string& feature : features) {
      if (feature == "none") continue;
      if (feature == "prompt") agrees = agrees && other.tokens == own.tokens;
      else {
        const auto index = static_cast<size_t>(*dataset.schema.feature_index(feature));
        agrees = agrees && other.features[index] == own.features[index];
      }
    }
    if (agrees) members.push_back(static_cast<int>(i));
  }
  if (sampling == scrub::Sampling::paper) return members[scrub::index_from_key(key, members.size())];
  std::vector<int> others;
  for (int member : members)
    if (member != example) others.push_back(member);
  return others.empty() ? example : others[scrub::index_from_key(key, others.size())];
}

class ReferenceScrubber {
 public:
  ReferenceScrubber(const engine::Weights& weights, const data::Dataset& dataset, const graph::Hypothesis& hypothesis,
                    scrub::Sampling sampling = scrub::Sampling::cscrub,
                    scrub::Ablation ablation = scrub::Ablation::resample, const data::Dataset* counterfactual = nullptr)
      : weights_(weights),
        dataset_(dataset),
        hypothesis_(hypothesis),
        graph_(weights.config),
        sampling_(sampling),
        ablation_(ablation),
        counterfactual_(counterfactual) {}

  // The scrubbed final residual stream of `reference` at its answer position.
  engine::RowVector final_row(int reference, uint64_t seed) {
    scrub::TreePath path;
    const auto values = run_scrub(hypothesis_.output_node, reference, reference, path, seed);
    return values.front().row(static_cast<Eigen::Index>(dataset_.examples[reference].tokens.size()) - 1);
  }

 private:
  using RowMatrix = engine::RowMatrix;
  using Kind = graph::Component::Kind;

  // Where a node's unclaimed inputs come from: one prompt's forward pass, or the mean of several (mean
  // ablation), or a forward pass in which every component writes zero (zero ablation).
  struct Background {
    std::vector<std::vector<int32_t>> prompts;  // averaged over
    bool zero = false;
  };

  // Runs the model on `tokens` with `patches` applied and returns the recorded hook point, [tokens, width].
  RowMatrix run_and_read(const std::vector<int32_t>& tokens, engine::HookPoint read,
                         const std::vector<engine::Patch>& patches = {}) {
    engine::ActivationPatcher patcher;
    for (const auto& patch : patches) patcher.add(patch);
    engine::ActivationCache recorder({read});
    engine::InterventionChain chain;
    chain.add(patcher);
    chain.add(recorder);
    engine::LogitRequest none;
    none.positions = engine::LogitRequest::Positions::none;
    engine::forward(weights_, {tokens, 1, static_cast<int>(tokens.size())}, none, &chain);
    const auto& stored = recorder.at(read);
    const auto rows = static_cast<Eigen::Index>(tokens.size());
    return Eigen::Map<const RowMatrix>(stored.values.data(), rows, static_cast<Eigen::Index>(stored.values.size()) / rows);
  }

  RowMatrix run_and_read(int input, engine::HookPoint read, const std::vector<engine::Patch>& patches = {}) {
    return run_and_read(dataset_.examples[input].tokens, read, patches);
  }

  static engine::StoredActivation stored(const RowMatrix& rows, std::array<int64_t, 4> shape, int rank) {
    return {shape, rank, std::vector<float>(rows.data(), rows.data() + rows.size())};
  }

  // A component's clean output on `tokens`, [tokens, d_model].
  RowMatrix clean_output(const graph::Component& component, const std::vector<int32_t>& tokens) {
    const int d_model = weights_.config.d_model, last = weights_.config.n_layer - 1;
    switch (component.kind) {
      case Kind::embed:
        // What the embeddings write is resid_pre of layer 0 (token and, if learned, position embeddings).
        return run_and_read(tokens, {engine::Site::resid_pre, 0});
      case Kind::head:
        return run_and_read(tokens, {engine::Site::attn_result, component.layer}).middleCols(component.head * d_model, d_model);
      case Kind::mlp: return run_and_read(tokens, {engine::Site::mlp_out, component.layer});
      case Kind::output: return run_and_read(tokens, {engine::Site::resid_post, last});
    }
    return {};
  }

  RowMatrix clean_output(const graph::Component& component, int input) {
    return clean_output(component, dataset_.examples[input].tokens);
  }

  // Every component's output patched to zero: the embeddings (rotary models have no position embedding), each
  // layer's z and MLP output.
  std::vector<engine::Patch> zero_everything() const {
    std::vector<engine::Patch> patches{{{engine::Site::embed, -1}, {}, {}, nullptr, 0.0f}};
    if (weights_.config.learned_positions) patches.push_back({{engine::Site::pos_embed, -1}, {}, {}, nullptr, 0.0f});
    for (int layer = 0; layer < weights_.config.n_layer; ++layer) {
      patches.push_back({{engine::Site::attn_z, layer}, {}, {}, nullptr, 0.0f});
      patches.push_back({{engine::Site::mlp_out, layer}, {}, {}, nullptr, 0.0f});
    }
    return patches;
  }

  RowMatrix background_read(const Background& background, engine::HookPoint hook) {
    if (background.zero) return run_and_read(background.prompts.front(), hook, zero_everything());
    RowMatrix sum = run_and_read(background.prompts.front(), hook);
    for (size_t i = 1; i < background.prompts.size(); ++i) sum += run_and_read(background.prompts[i], hook);
    return sum / static_cast<float>(background.prompts.size());
  }

  RowMatrix background_output(const Background& background, const graph::Component& component) {
    if (background.zero) return RowMatrix::Zero(static_cast<Eigen::Index>(background.prompts.front().size()), weights_.config.d_model);
    RowMatrix sum = clean_output(component, background.prompts.front());
    for (size_t i = 1; i < background.prompts.size(); ++i) sum += clean_output(component, background.prompts[i]);
    return sum / static_cast<float>(background.prompts.size());
  }

  Background background_of(const graph::InterpNode& node, int own, int reference, const scrub::TreePath& path, uint64_t seed) {
    const auto& tokens = dataset_.examples[own].tokens;
    if (node.rest == graph::InterpNode::Rest::same) return {{tokens}, false};
    switch (ablation_) {
      case scrub::Ablation::resample: {
        const int random = reference_draw(dataset_, {"none"}, own,
                                          scrub::draw_key(seed, reference, path, scrub::DrawPurpose::random), sampling_);
        return {{dataset_.examples[random].tokens}, false};
      }
      case scrub::Ablation::counterfactual: return {{counterfactual_->examples[own].tokens}, false};
      case scrub::Ablation::zero: return {{tokens}, true};
      case scrub::Ablation::mean: {
        Background group;
        for (const auto& example : dataset_.examples)
          if (example.group == dataset_.examples[own].group) group.prompts.push_back(example.tokens);
        return group;
      }
    }
    return {};
  }

  std::vector<RowMatrix> run_scrub(int node_index, int own, int reference, scrub::TreePath& path, uint64_t seed) {
    const graph::InterpNode& node = hypothesis_.nodes[node_index];
    std::vector<int> incoming;
    for (size_t e = 0; e < hypothesis_.edges.size(); ++e)
      if (hypothesis_.edges[e].child == node_index) incoming.push_back(static_cast<int>(e));
    std::vector<RowMatrix> values;
    const bool all_embed = std::all_of(node.components.begin(), node.components.end(),
                                       [](const graph::Component& c) { return c.kind == Kind::embed; });
    if (all_embed || (incoming.empty() && node.rest == graph::InterpNode::Rest::same)) {
      for (const auto& component : node.components) values.push_back(clean_output(component, own));
      return values;
    }
    const Background background = background_of(node, own, reference, path, seed);
    const int length = static_cast<int>(dataset_.examples[own].tokens.size());

    // (edge, parent component index) -> the parent's scrubbed output minus its background output, at its positions.
    std::map<std::pair<int, int>, RowMatrix> deltas;
    for (int e : incoming) {
      const graph::InterpEdge& edge = hypothesis_.edges[e];
      const graph::InterpNode& parent = hypothesis_.nodes[edge.parent];
      path.push_back(e);
      const int agreeing = reference_draw(dataset_, parent.feature, own,
                                          scrub::draw_key(seed, reference, path, scrub::DrawPurpose::agreeing), sampling_);
      const auto parent_values = run_scrub(edge.parent, agreeing, reference, path, seed);
      path.pop_back();
      for (size_t c = 0; c < parent.components.size(); ++c) {
        RowMatrix delta = parent_values[c] - background_output(background, parent.components[c]);
        std::vector<bool> keep(length, parent.positions.all());
        for (const auto& label : parent.positions.labels)
          keep[dataset_.examples[own].positions[*dataset_.schema.position_index(label)]] = true;
        for (int index : parent.positions.indices) keep[index < 0 ? length + index : index] = true;
        for (int p = 0; p < length; ++p)
          if (!keep[p]) delta.row(p).setZero();
        deltas[{e, static_cast<int>(c)}] = delta;
      }
    }
    auto port_input = [&](const graph::Component& component, graph::Port port, const RowMatrix& base_stream) {
      RowMatrix input = base_stream;
      for (const auto& [key, delta] : deltas) {
        const graph::InterpEdge& edge = hypothesis_.edges[key.first];
        const bool feeds = edge.ports.empty() || std::find(edge.ports.begin(), edge.ports.end(), port) != edge.ports.end();
        if (feeds && graph_.precedes(hypothesis_.nodes[edge.parent].components[key.second], component)) input += delta;
      }
      return input;
    };
    // The forward passes below patch the whole stream a component reads, so the prompt they run on only
    // gives the shapes: the node's own.
    const int d_model = weights_.config.d_model, last = weights_.config.n_layer - 1;
    int rank = 0;
    for (const auto& component : node.components) {
      switch (component.kind) {
        case Kind::embed: values.push_back(clean_output(component, own)); break;
        case Kind::output:
          values.push_back(port_input(component, graph::Port::in, background_read(background, {engine::Site::resid_post, last})));
          break;
        case Kind::mlp: {
          // In a parallel block the MLP reads resid_pre (patching it there leaves the MLP's heads aside: they do
          // not reach it).
          const engine::Site input = weights_.config.parallel_attn_mlp ? engine::Site::resid_pre : engine::Site::resid_mid;
          const engine::HookPoint mid{input, component.layer};
          const auto shape = engine::activation_shape(mid.site, weights_.config, 1, length, &rank);
          const auto source = stored(port_input(component, graph::Port::in, background_read(background, mid)), shape, rank);
          values.push_back(run_and_read(own, {engine::Site::mlp_out, component.layer}, {{mid, {}, {}, &source}}));
          break;
        }
        case Kind::head: {
          // Each port's residual stream patched in, one forward per port to read that port's activation.
          const engine::HookPoint pre{engine::Site::resid_pre, component.layer};
          const auto pre_shape = engine::activation_shape(pre.site, weights_.config, 1, length, &rank);
          const RowMatrix base_stream = background_read(background, pre);
          std::vector<engine::StoredActivation> port_values;
          const std::pair<graph::Port, engine::Site> ports[] = {
              {graph::Port::q, engine::Site::attn_q}, {graph::Port::k, engine::Site::attn_k}, {graph::Port::v, engine::Site::attn_v}};
          for (const auto& [port, site] : ports) {
            const auto source = stored(port_input(component, port, base_stream), pre_shape, rank);
            const RowMatrix read = run_and_read(own, {site, component.layer}, {{pre, {}, {}, &source}});
            int port_rank = 0;
            const auto port_shape = engine::activation_shape(site, weights_.config, 1, length, &port_rank);
            port_values.push_back(stored(read, port_shape, port_rank));
          }
          std::vector<engine::Patch> patches;
          for (size_t i = 0; i < 3; ++i)
            patches.push_back({{ports[i].second, component.layer}, component.head, std::nullopt, &port_values[i]});
          values.push_back(run_and_read(own, {engine::Site::attn_result, component.layer}, patches)
                               .middleCols(component.head * d_model, d_model));
          break;
        }
      }
    }
    return values;
  }

  const engine::Weights& weights_;
  const data::Dataset& dataset_;
  const graph::Hypothesis& hypothesis_;
  graph::ModelGraph graph_;
  scrub::Sampling sampling_;
  scrub::Ablation ablation_;
  const data::Dataset* counterfactual_;
};

}  // namespace cscrub::test
