#include "cscrub/scrub/scrubber.hpp"

#include <algorithm>
#include <map>

#include "cscrub/engine/components.hpp"
#include "cscrub/error.hpp"
#include "cscrub/graph/check_on_data.hpp"
#include "cscrub/graph/component_id.hpp"
#include "cscrub/suggest.hpp"

namespace cscrub::scrub {
namespace {

using engine::RowMatrix;
using Kind = graph::Component::Kind;
using graph::Port;

bool feeds(const graph::InterpEdge& edge, Port port) {
  return edge.ports.empty() || std::find(edge.ports.begin(), edge.ports.end(), port) != edge.ports.end();
}

// Keeps the rows of `delta` at `positions` of each of `batch` sequences and zeroes the others.
void keep_positions(RowMatrix& delta, int batch, int length, const std::vector<int>& positions) {
  if (static_cast<int>(positions.size()) == length) return;
  std::vector<char> keep(static_cast<size_t>(length), 0);
  for (int p : positions) keep[static_cast<size_t>(p)] = 1;
  for (int b = 0; b < batch; ++b)
    for (int p = 0; p < length; ++p)
      if (!keep[static_cast<size_t>(p)]) delta.row(static_cast<Eigen::Index>(b) * length + p).setZero();
}

}  // namespace

ScrubCost& ScrubCost::operator+=(const ScrubCost& other) {
  head_evaluations += other.head_evaluations;
  mlp_evaluations += other.mlp_evaluations;
  node_evaluations += other.node_evaluations;
  flops += other.flops;
  return *this;
}

std::string to_string(Ablation ablation) {
  switch (ablation) {
    case Ablation::resample: return "resample";
    case Ablation::mean: return "mean";
    case Ablation::zero: return "zero";
    case Ablation::counterfactual: return "counterfactual";
  }
  return "?";
}

std::vector<std::string> ablation_names() { return {"resample", "mean", "zero", "counterfactual"}; }

Ablation parse_ablation(const std::string& name) {
  for (Ablation ablation : {Ablation::resample, Ablation::mean, Ablation::zero, Ablation::counterfactual})
    if (to_string(ablation) == name) return ablation;
  throw Error("unknown ablation '" + name + "'" + did_you_mean(name, ablation_names()),
              "ablations: resample, mean, zero, counterfactual");
}

Scrubber::Scrubber(const engine::Weights& weights, const CleanCache& cache, const graph::Hypothesis& hypothesis,
                   const ScrubOptions& options)
    : weights_(weights),
      cache_(cache),
      hypothesis_(hypothesis),
      model_graph_(weights.config),
      sampler_(cache.dataset(), options.sampling),
      options_(options),
      edges_into_(hypothesis.nodes.size()) {
  options_.batch_size = std::max(1, options.batch_size);
  for (size_t e = 0; e < hypothesis.edges.size(); ++e)
    edges_into_[static_cast<size_t>(hypothesis.edges[e].child)].push_back(static_cast<int>(e));
  const data::Dataset& dataset = cache.dataset();
  graph::validate_on_data(hypothesis, dataset);
  // Build every agreement class up front (checks the features).
  for (const graph::InterpNode& node : hypothesis.nodes) sampler_.classes(node.feature);
  if (options_.ablation == Ablation::counterfactual) {
    const CleanCache* paired = options_.counterfactual;
    if (paired == nullptr) throw Error("the counterfactual ablation needs a paired dataset, and none was given");
    const data::Dataset& twins = paired->dataset();
    if (twins.examples.size() != dataset.examples.size())
      throw Error("the counterfactual dataset has " + std::to_string(twins.examples.size()) + " prompts, the dataset " +
                  std::to_string(dataset.examples.size()));
    for (size_t i = 0; i < dataset.examples.size(); ++i)
      if (twins.examples[i].tokens.size() != dataset.examples[i].tokens.size() ||
          twins.examples[i].positions != dataset.examples[i].positions)
        throw Error("counterfactual prompt " + std::to_string(i) + " does not line up with its prompt (length or named "
                    "positions differ), so activations cannot be swapped between them");
  }
}

std::vector<int> Scrubber::positions_of(int node_index, int example_index) const {
  const data::Dataset& dataset = cache_.dataset();
  return graph::resolved_positions(hypothesis_, node_index, dataset, dataset.examples[static_cast<size_t>(example_index)]);
}

template <class RowsOf>
const RowMatrix& Scrubber::group_mean(const std::string& key, int example, RowsOf&& rows_of) {
  const data::Dataset& dataset = cache_.dataset();
  const std::string full_key = dataset.examples[static_cast<size_t>(example)].group + '\x1f' + key;
  auto found = group_means_.find(full_key);
  if (found != group_means_.end()) return found->second;
  const auto members = sampler_.classes({"none"}).agreeing(example);
  RowMatrix sum;
  for (int member : members) {
    const std::vector<int> one{member};
    const RowMatrix rows = rows_of(one);
    if (sum.size() == 0) sum = RowMatrix::Zero(rows.rows(), rows.cols());
    sum += rows;  // in dataset order, so the mean is the same whatever the batch
  }
  sum /= static_cast<float>(members.size());
  return group_means_.emplace(full_key, std::move(sum)).first->second;
}

RowMatrix Scrubber::background_stream(Stream stream, const std::vector<int>& own, const std::vector<int>& random) {
  switch (options_.ablation) {
    case Ablation::resample: return cache_.gather(stream, random);
    case Ablation::counterfactual: return options_.counterfactual->gather(stream, own);
    case Ablation::mean: {
      const std::string key = "stream " + std::to_string(static_cast<int>(stream.kind)) + " " + std::to_string(stream.layer);
      const RowMatrix& mean = group_mean(key, own.front(), [&](const std::vector<int>& one) { return cache_.gather(stream, one); });
      return mean.replicate(static_cast<Eigen::Index>(own.size()), 1);
    }
    case Ablation::zero: {
      const int length = static_cast<int>(cache_.dataset().examples[static_cast<size_t>(own.front())].tokens.size());
      const engine::RowVector constant = constant_part(weights_, stream);
      return constant.replicate(static_cast<Eigen::Index>(own.size()) * length, 1);
    }
  }
  return {};
}

RowMatrix Scrubber::background_output(const graph::Component& component, const std::vector<int>& own,
                                      const std::vector<int>& random) {
  switch (options_.ablation) {
    case Ablation::resample: return cache_.clean_output(component, random);
    case Ablation::counterfactual: return options_.counterfactual->clean_output(component, own);
    case Ablation::mean: {
      const RowMatrix& mean = group_mean("output " + graph::to_string(component), own.front(),
                                         [&](const std::vector<int>& one) { return cache_.clean_output(component, one); });
      return mean.replicate(static_cast<Eigen::Index>(own.size()), 1);
    }
    case Ablation::zero: {
      const int length = static_cast<int>(cache_.dataset().examples[static_cast<size_t>(own.front())].tokens.size());
      return RowMatrix::Zero(static_cast<Eigen::Index>(own.size()) * length, weights_.config.d_model);
    }
  }
  return {};
}

void Scrubber::count_cost(const graph::Component& component, int batch, int positions) {
  const double d = weights_.config.d_model, dh = weights_.config.d_head(), m = weights_.config.d_mlp;
  const double tokens = static_cast<double>(batch) * positions;
  if (component.kind == Kind::head) {
    cost_.head_evaluations += batch;
    cost_.flops += tokens * (2.0 * 3 * d * dh + 2.0 * dh * d) + 2.0 * 2 * tokens * (positions + 1) / 2.0 * dh;
  } else if (component.kind == Kind::mlp) {
    cost_.mlp_evaluations += batch;
    cost_.flops += tokens * 2.0 * 2 * d * m;
  }
}

std::vector<RowMatrix> Scrubber::evaluate(int node_index, const std::vector<int>& own,
                                          std::span<const int> references, TreePath& path, uint64_t seed) {
  const graph::InterpNode& node = hypothesis_.nodes[static_cast<size_t>(node_index)];
  const auto& incoming = edges_into_[static_cast<size_t>(node_index)];
  const int batch = static_cast<int>(own.size());
  const int length = static_cast<int>(cache_.dataset().examples[static_cast<size_t>(own.front())].tokens.size());
  cost_.node_evaluations += batch;
  std::vector<RowMatrix> values;

  // A node whose whole input is its own input is that input's clean computation; the embeddings read
  // nothing at all.
  const bool all_embed = std::all_of(node.components.begin(), node.components.end(),
                                     [](const graph::Component& c) { return c.kind == Kind::embed; });
  if (all_embed || (incoming.empty() && node.rest == graph::InterpNode::Rest::same)) {
    for (const graph::Component& component : node.components) values.push_back(cache_.clean_output(component, own));
    return values;
  }

  // Everything the hypothesis does not claim for this node comes from one input per reference (or, for
  // another ablation than resampling, from what stands in for it); with rest = "same", from its own input.
  const bool ablated = node.rest == graph::InterpNode::Rest::random;
  std::vector<int> base = own;
  if (ablated && options_.ablation == Ablation::resample)
    for (int b = 0; b < batch; ++b)
      base[b] = sampler_.random_in_group(own[b], draw_key(seed, references[b], path, DrawPurpose::random));
  const auto base_output = [&](const graph::Component& component) {
    return ablated ? background_output(component, own, base) : cache_.clean_output(component, own);
  };

  // Each listed parent, recomputed on inputs agreeing with ours on its feature; its contribution is the
  // change it makes to the base input's residual stream, at its positions.
  struct Contribution {
    int edge;
    std::vector<RowMatrix> deltas;  // per parent component
  };
  std::vector<Contribution> contributions;
  for (int edge_index : incoming) {
    const graph::InterpEdge& edge = hypothesis_.edges[static_cast<size_t>(edge_index)];
    const graph::InterpNode& parent = hypothesis_.nodes[static_cast<size_t>(edge.parent)];
    path.push_back(edge_index);
    std::vector<int> agreeing(static_cast<size_t>(batch));
    for (int b = 0; b < batch; ++b)
      agreeing[b] = sampler_.agreeing(parent.feature, own[b], draw_key(seed, references[b], path, DrawPurpose::agreeing));
    std::vector<RowMatrix> parent_values = evaluate(edge.parent, agreeing, references, path, seed);
    path.pop_back();
    const std::vector<int> positions = positions_of(edge.parent, own.front());
    Contribution contribution{edge_index, {}};
    for (size_t c = 0; c < parent.components.size(); ++c) {
      RowMatrix delta = parent_values[c] - base_output(parent.components[c]);
      keep_positions(delta, batch, length, positions);
      contribution.deltas.push_back(std::move(delta));
    }
    contributions.push_back(std::move(contribution));
  }

  // The residual stream one port of `component` reads.
  auto port_input = [&](const graph::Component& component, const RowMatrix& base_stream, Port port) {
    RowMatrix input = base_stream;
    for (const Contribution& contribution : contributions) {
      const graph::InterpEdge& edge = hypothesis_.edges[static_cast<size_t>(contribution.edge)];
      if (!feeds(edge, port)) continue;
      const graph::InterpNode& parent = hypothesis_.nodes[static_cast<size_t>(edge.parent)];
      for (size_t c = 0; c < parent.components.size(); ++c)
        if (model_graph_.precedes(parent.components[c], component)) input += contribution.deltas[c];
    }
    return input;
  };

  for (const graph::Component& component : node.components) {
    if (component.kind == Kind::embed) {
      values.push_back(cache_.clean_output(component, own));
      continue;
    }
    const Stream stream = input_stream(component, weights_.config);
    const RowMatrix base_stream = ablated ? background_stream(stream, own, base) : cache_.gather(stream, own);
    count_cost(component, batch, length);
    switch (component.kind) {
      case Kind::head: {
        const RowMatrix q = port_input(component, base_stream, Port::q);
        const RowMatrix k = port_input(component, base_stream, Port::k);
        const RowMatrix v = port_input(component, base_stream, Port::v);
        values.push_back(engine::head_output(weights_, component.layer, component.head, batch, length, q, k, v));
        break;
      }
      case Kind::mlp:
        values.push_back(engine::mlp_output(weights_, component.layer, port_input(component, base_stream, Port::in)));
        break;
      case Kind::output: values.push_back(port_input(component, base_stream, Port::in)); break;
      case Kind::embed: break;
    }
  }
  return values;
}

RowMatrix Scrubber::final_rows(std::span<const int> references, uint64_t seed) {
  const data::Dataset& dataset = cache_.dataset();
  RowMatrix rows(static_cast<Eigen::Index>(references.size()), weights_.config.d_model);
  // Batches of references from one alignment group, in the order given.
  std::map<std::string, std::vector<int>> slots_by_group;
  std::vector<std::string> group_order;
  for (size_t i = 0; i < references.size(); ++i) {
    const std::string& group = dataset.examples[static_cast<size_t>(references[i])].group;
    if (sampler_.random_group_size(references[i]) < 2 && options_.ablation == Ablation::resample)
      throw Error("alignment group '" + group + "' has a single prompt: its random input would always be itself",
                  "use a larger --n so that every template occurs at least twice");
    auto [found, inserted] = slots_by_group.try_emplace(group);
    if (inserted) group_order.push_back(group);
    found->second.push_back(static_cast<int>(i));
  }
  for (const std::string& group : group_order) {
    const std::vector<int>& slots = slots_by_group[group];
    for (size_t start = 0; start < slots.size(); start += static_cast<size_t>(options_.batch_size)) {
      const size_t end = std::min(slots.size(), start + static_cast<size_t>(options_.batch_size));
      std::vector<int> batch_references;
      for (size_t s = start; s < end; ++s) batch_references.push_back(references[static_cast<size_t>(slots[s])]);
      TreePath path;
      const std::vector<RowMatrix> output =
          evaluate(hypothesis_.output_node, batch_references, batch_references, path, seed);
      const int length = static_cast<int>(dataset.examples[static_cast<size_t>(batch_references.front())].tokens.size());
      for (size_t b = 0; b < batch_references.size(); ++b) {
        const int answer = dataset.answer_position(dataset.examples[static_cast<size_t>(batch_references[b])]);
        rows.row(slots[start + b]) = output.front().row(static_cast<Eigen::Index>(b) * length + answer);
      }
    }
  }
  return rows;
}

}  // namespace cscrub::scrub
