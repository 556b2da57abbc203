// Exact edge patching against two direct implementations that run the whole model once per edge: the literal
// sum of each destination's sources (edge_reference.hpp), and the engine's forward pass with the child's input
// patched through hooks. In every family: GPT-2, GPT-Neo (a local window of 3 keys, unscaled scores) and
// Pythia (rotary queries and keys, parallel attention and MLP).
#include <omp.h>

#include <catch2/catch.hpp>
#include <iostream>

#include "cscrub/discover/circuit_evaluation.hpp"
#include "cscrub/discover/exact_patching.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/interventions.hpp"
#include "edge_fixtures.hpp"
#include "edge_reference.hpp"

using namespace cscrub;
using discover::Port;
using engine::RowMatrix;
using engine::Site;

namespace {

// ln(x) * weight + bias, row by row, in double (the hook route's own layer norm).
RowMatrix layer_norm(const RowMatrix& x, const engine::RowVector& weight, const engine::RowVector& bias, float epsilon) {
  RowMatrix out(x.rows(), x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const Eigen::RowVectorXd row = x.row(r).cast<double>();
    const double mean = row.mean();
    const double variance = (row.array() - mean).square().mean();
    const Eigen::RowVectorXd normalized = (row.array() - mean) / std::sqrt(variance + epsilon);
    out.row(r) = (normalized.array() * weight.cast<double>().array() + bias.cast<double>().array()).cast<float>();
  }
  return out;
}

RowMatrix stored(const engine::ActivationCache& cache, engine::HookPoint hook, Eigen::Index rows) {
  const engine::StoredActivation& activation = cache.at(hook);
  return engine::ConstRowMatrixMap(activation.values.data(), rows, static_cast<Eigen::Index>(activation.values.size()) / rows);
}

// Overwrites one hook point (optionally one head's columns of it) with fixed values.
class Overwrite : public engine::Interventions {
 public:
  Overwrite(engine::HookPoint hook, RowMatrix values, int first_column) : hook_(hook), values_(std::move(values)), column_(first_column) {}
  bool wants(engine::HookPoint hook) const override { return hook == hook_; }
  void visit(const engine::Activation& activation) override {
    engine::RowMatrixMap data(activation.data.data(), values_.rows(), static_cast<Eigen::Index>(activation.data.size()) / values_.rows());
    data.middleCols(column_, values_.cols()) = values_;
  }

 private:
  engine::HookPoint hook_;
  RowMatrix values_;
  int column_;
};

// metric(clean run with edge `edge` carrying the corrupted output) - metric(clean run), for one pair, through
// the forward pass: the child's input is computed from the clean run's recorded stream plus the parent's change,
// and written into the hook that reads it (a head's q, k or v; ln_2's output; the final residual stream).
double edge_effect_through_hooks(const engine::Weights& weights, const discover::EdgeGraph& graph,
                                 const discover::Edge& edge, const data::Example& clean, const data::Example& corrupted) {
  const engine::ModelConfig& config = weights.config;
  const int layers = config.n_layer, d_head = config.d_head();
  const auto positions = static_cast<Eigen::Index>(clean.tokens.size());
  std::set<engine::HookPoint> hooks{{Site::embed, -1}, {Site::resid_post, layers - 1}};
  for (int layer = 0; layer < layers; ++layer)
    for (Site site : {Site::resid_pre, Site::resid_mid, Site::attn_result, Site::mlp_out}) hooks.insert({site, layer});
  engine::ActivationCache clean_run(hooks), corrupted_run(hooks);
  engine::LogitRequest request;
  request.positions = engine::LogitRequest::Positions::last;
  request.token_ids = {clean.answer, clean.distractor};
  const RowMatrix clean_logits = engine::forward(weights, {clean.tokens, 1, static_cast<int>(positions)}, request, &clean_run);
  (void)engine::forward(weights, {corrupted.tokens, 1, static_cast<int>(positions)}, request, &corrupted_run);

  auto output_of = [&](const engine::ActivationCache& run, int source) -> RowMatrix {
    const discover::Source s = graph.source(source);
    if (s.kind == discover::Source::Kind::input) return stored(run, {Site::embed, -1}, positions);
    if (s.kind == discover::Source::Kind::mlp) return stored(run, {Site::mlp_out, s.layer}, positions);
    return stored(run, {Site::attn_result, s.layer}, positions).middleCols(s.head * config.d_model, config.d_model);
  };
  const RowMatrix change = output_of(corrupted_run, edge.source) - output_of(clean_run, edge.source);
  const discover::Destination child = graph.destination(edge.destination);
  std::unique_ptr<Overwrite> patch;
  if (child.port == Port::logits) {
    patch = std::make_unique<Overwrite>(engine::HookPoint{Site::resid_post, layers - 1},
                                        stored(clean_run, {Site::resid_post, layers - 1}, positions) + change, 0);
  } else if (child.port == Port::mlp) {
    const engine::LayerWeights& lw = weights.layers[static_cast<size_t>(child.layer)];
    const Site read = config.parallel_attn_mlp ? Site::resid_pre : Site::resid_mid;  // a parallel block's MLP: its input
    patch = std::make_unique<Overwrite>(engine::HookPoint{Site::ln2_normalized, child.layer},
                                        layer_norm(stored(clean_run, {read, child.layer}, positions) + change,
                                                   lw.ln2_weight, lw.ln2_bias, config.layer_norm_epsilon), 0);
  } else {
    const engine::LayerWeights& lw = weights.layers[static_cast<size_t>(child.layer)];
    const int part = child.port == Port::q ? 0 : child.port == Port::k ? 1 : 2;
    const int column = part * config.d_model + child.head * d_head;
    const RowMatrix normalized = layer_norm(stored(clean_run, {Site::resid_pre, child.layer}, positions) + change,
                                            lw.ln1_weight, lw.ln1_bias, config.layer_norm_epsilon);
    RowMatrix projected = (normalized.cast<double>() * lw.qkv_weight.middleCols(column, d_head).cast<double>()).cast<float>();
    projected.rowwise() += lw.qkv_bias.segment(column, d_head);
    const Site site = part == 0 ? Site::attn_q : part == 1 ? Site::attn_k : Site::attn_v;  // before any rotation
    patch = std::make_unique<Overwrite>(engine::HookPoint{site, child.layer}, projected, child.head * d_head);
  }
  const RowMatrix patched = engine::forward(weights, {clean.tokens, 1, static_cast<int>(positions)}, request, patch.get());
  return (static_cast<double>(patched(0, 0)) - patched(0, 1)) - (static_cast<double>(clean_logits(0, 0)) - clean_logits(0, 1));
}

struct ThreadCount {
  explicit ThreadCount(int threads) : saved(omp_get_max_threads()) { omp_set_num_threads(threads); }
  ~ThreadCount() { omp_set_num_threads(saved); }
  int saved;
};

}  // namespace

TEST_CASE("exact scores are the metric's change when one edge carries the corrupted output", "[exact]") {
  const engine::ModelConfig config = GENERATE(from_range(test::small_configs_of_every_family()));
  INFO(to_string(config.family));
  const test::DiscoverFixture fixture = test::DiscoverFixture::of(config);
  const engine::Weights& weights = fixture.weights;
  const discover::EdgeGraph graph = test::graph_of(weights);
  const discover::PairedDataset pairs = test::pairs_with_common_prefix(3);
  const std::vector<double> scores = discover::exact_edge_scores(weights, graph, pairs, {.batch_size = 4, .max_rows = 50});
  REQUIRE(scores.size() == static_cast<size_t>(graph.edge_count()));

  // By hand: every destination reads the sum of its sources, the patched edge's source plus its change.
  std::vector<std::vector<RowMatrix>> clean_out, corrupted_out;
  for (size_t i = 0; i < pairs.clean.examples.size(); ++i) {
    clean_out.push_back(test::source_outputs_by_hand(weights, graph, pairs.clean.examples[i].tokens));
    corrupted_out.push_back(test::source_outputs_by_hand(weights, graph, pairs.corrupted.examples[i].tokens));
  }
  double worst = 0, largest = 0;
  for (size_t e = 0; e < graph.edges().size(); ++e) {
    const discover::Edge edge = graph.edges()[e];
    double sum = 0;
    for (size_t i = 0; i < pairs.clean.examples.size(); ++i) {
      const auto& clean = pairs.clean.examples[i];
      auto contribution = [&](bool patched) {
        return [&, patched](int source, int destination, const RowMatrix& run) -> RowMatrix {
          if (!patched || source != edge.source || destination != edge.destination) return run;
          return run + (corrupted_out[i][static_cast<size_t>(source)] - clean_out[i][static_cast<size_t>(source)]);
        };
      };
      sum += test::logit_diff_by_hand(weights, graph, clean.tokens, clean, contribution(true)) -
             test::logit_diff_by_hand(weights, graph, clean.tokens, clean, contribution(false));
    }
    const double expected = sum / static_cast<double>(pairs.clean.examples.size());
    INFO(graph.edge_name(edge));
    CHECK(scores[e] == Approx(expected).margin(2e-4));
    worst = std::max(worst, std::abs(scores[e] - expected));
    largest = std::max(largest, std::abs(expected));
  }
  CHECK(largest > 0.1);  // the edges matter
  std::cout << to_string(config.family) << ": exact patching vs by hand: max |diff| " << worst << " (largest |score| "
            << largest << ")\n";

  // Through the forward pass with hooks: one edge of each kind, into each port.
  std::vector<std::string> names = {"input->a0.h1<q>", "a0.h2->a1.h3<k>", "m0->a2.h0<v>", "a0.h1->m1", "input->m2",
                                    "a2.h3->logits", "m1->logits"};
  if (!config.parallel_attn_mlp) names.push_back("a1.h1->m1");  // a parallel block's MLP does not read its heads
  CHECK(graph.find_edge("a1.h1->m1").has_value() == !config.parallel_attn_mlp);
  for (const std::string& name : names) {
    const discover::Edge edge = *graph.find_edge(name);
    double sum = 0;
    for (size_t i = 0; i < pairs.clean.examples.size(); ++i)
      sum += edge_effect_through_hooks(weights, graph, edge, pairs.clean.examples[i], pairs.corrupted.examples[i]);
    INFO(name);
    CHECK(scores[static_cast<size_t>(*graph.edge_index(edge.source, edge.destination))] ==
          Approx(sum / static_cast<double>(pairs.clean.examples.size())).margin(2e-4));
  }
}

TEST_CASE("an exact score is the circuit of every edge but that one, measured against the model", "[exact]") {
  const engine::ModelConfig config = GENERATE(from_range(test::small_configs_of_every_family()));
  INFO(to_string(config.family));
  const test::DiscoverFixture fixture = test::DiscoverFixture::of(config);
  const discover::EdgeGraph graph = test::graph_of(fixture.weights);
  const discover::PairedDataset pairs = test::pairs_with_common_prefix(2);
  const std::vector<double> scores = discover::exact_edge_scores(fixture.weights, graph, pairs, {});
  discover::CircuitEvaluator evaluator(fixture.weights, graph, pairs, discover::CircuitAblation::counterfactual,
                                       discover::Metric::logit_diff, 8, true);
  for (int e = 0; e < graph.edge_count(); e += 7) {
    std::vector<uint8_t> all_but_one(static_cast<size_t>(graph.edge_count()), 1);
    all_but_one[static_cast<size_t>(e)] = 0;
    INFO(graph.edge_name(graph.edges()[static_cast<size_t>(e)]));
    CHECK(scores[static_cast<size_t>(e)] == Approx(evaluator.mean(all_but_one) - evaluator.clean_mean()).margin(1e-4));
  }
}

TEST_CASE("exact scores do not depend on batch size, run size or thread count", "[exact][determinism]") {
  const engine::ModelConfig config = GENERATE(from_range(test::small_configs_of_every_family()));
  INFO(to_string(config.family));
  const test::DiscoverFixture fixture = test::DiscoverFixture::of(config);
  const discover::EdgeGraph graph = test::graph_of(fixture.weights);
  const discover::PairedDataset pairs = test::pairs_with_common_prefix(3);
  std::vector<double> reference;
  {
    ThreadCount threads(1);
    reference = discover::exact_edge_scores(fixture.weights, graph, pairs, {.batch_size = 1, .max_rows = 1});
  }
  ThreadCount threads(2);
  CHECK(discover::exact_edge_scores(fixture.weights, graph, pairs, {.batch_size = 6, .max_rows = 4096}) == reference);
  const auto kl = discover::exact_edge_scores(fixture.weights, graph, pairs,
                                              {.metric = discover::Metric::kl, .batch_size = 2, .max_rows = 64});
  for (double score : kl) CHECK(score >= 0.0);  // KL from the clean run can only grow
}

TEST_CASE("the exact method's cost is a fraction of a forward pass per edge", "[exact]") {
  const test::DiscoverFixture fixture = test::DiscoverFixture::of(GENERATE(from_range(test::small_configs_of_every_family())));
  const discover::EdgeGraph graph = test::graph_of(fixture.weights);
  const auto cost = discover::exact_patching_cost(fixture.weights.config, graph, test::pairs_with_common_prefix(3), {});
  CHECK(cost.exact_flops > 0);
  CHECK(cost.exact_flops < 0.7 * cost.naive_flops);
}
