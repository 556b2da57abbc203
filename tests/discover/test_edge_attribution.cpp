// EAP and EAP-IG over every edge, on GPT-2, GPT-Neo and Pythia-shaped random models (a parallel block's MLP does
// not read its own layer's heads), against a direct implementation of EAP-IG's definitions written here from the
// engine's hook points (the activation differences read at hook_embed, attn.hook_result and hook_mlp_out, the
// gradients at hook_q_input, hook_k_input, hook_v_input, hook_mlp_in and the last hook_resid_post, every sum in
// double), against the metric's own first-order change along each edge (no backward at all), and for the same
// bits at any batch size and thread count.
#include <omp.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "cscrub/discover/edge_attribution.hpp"
#include "cscrub/engine/backward.hpp"
#include "cscrub/engine/interventions.hpp"
#include "cscrub/error.hpp"
#include "discover_fixtures.hpp"

using namespace cscrub;
using discover::EdgeGraph;
using discover::Port;
using discover::Source;

namespace {

struct ThreadCount {
  explicit ThreadCount(int threads) : saved(omp_get_max_threads()) { omp_set_num_threads(threads); }
  ~ThreadCount() { omp_set_num_threads(saved); }
  int saved;
};

// One pair's row of a [batch, pos, ...] activation: the values of position p of sequence b, width floats from
// `offset` within a row of `row_width`.
const float* at(const engine::StoredActivation& stored, int b, int p, int positions, int64_t row_width, int64_t offset) {
  return stored.values.data() + (static_cast<int64_t>(b) * positions + p) * row_width + offset;
}

// Overwrites the token embeddings with corrupted + alpha (clean - corrupted).
struct Interpolation : engine::Interventions {
  const engine::StoredActivation *clean, *corrupted;
  float alpha;
  bool wants(engine::HookPoint hook) const override { return hook.site == engine::Site::embed; }
  void visit(const engine::Activation& activation) override {
    for (size_t i = 0; i < activation.data.size(); ++i)
      activation.data[i] = corrupted->values[i] + alpha * (clean->values[i] - corrupted->values[i]);
  }
};

// EAP-IG's definitions, one pair at a time, every sum in double: scores indexed like graph.edges().
std::vector<double> direct_scores(const engine::Weights& weights, const discover::PairedDataset& pairs,
                                  discover::Metric metric, int steps, bool gradient_on_clean) {
  const engine::ModelConfig& config = weights.config;
  const EdgeGraph graph(discover::graph_shape(config));
  const int d = config.d_model, heads = config.n_head;
  std::set<engine::HookPoint> sources{{engine::Site::embed, -1}}, destinations;
  for (int layer = 0; layer < config.n_layer; ++layer) {
    sources.insert({engine::Site::attn_result, layer});
    sources.insert({engine::Site::mlp_out, layer});
    for (const auto site : {engine::Site::q_input, engine::Site::k_input, engine::Site::v_input, engine::Site::mlp_in})
      destinations.insert({site, layer});
  }
  destinations.insert({engine::Site::resid_post, config.n_layer - 1});
  std::vector<double> scores(graph.edges().size(), 0.0);
  for (size_t i = 0; i < pairs.clean.examples.size(); ++i) {
    const data::Example& clean = pairs.clean.examples[i];
    const auto& corrupted_tokens = pairs.corrupted.examples[i].tokens;
    const int positions = static_cast<int>(clean.tokens.size());
    const discover::Batch batch{.examples = {static_cast<int>(i)}, .positions = positions, .named_positions = {}};
    const engine::LogitRequest request = discover::metric_logits(metric, pairs.clean, batch);
    engine::ActivationCache clean_run(sources), corrupted_run(sources);
    engine::RowMatrix clean_logits, corrupted_logits;
    engine::forward_into(weights, {clean.tokens, 1, positions}, request, clean_logits, &clean_run);
    engine::forward_into(weights, {corrupted_tokens, 1, positions}, request, corrupted_logits, &corrupted_run);
    // Δ[source] at position p (d floats).
    auto delta = [&](int source, int p) {
      const Source s = graph.source(source);
      std::vector<double> difference(static_cast<size_t>(d));
      const engine::HookPoint hook = s.kind == Source::Kind::input  ? engine::HookPoint{engine::Site::embed, -1}
                                     : s.kind == Source::Kind::head ? engine::HookPoint{engine::Site::attn_result, s.layer}
                                                                    : engine::HookPoint{engine::Site::mlp_out, s.layer};
      const int64_t row_width = s.kind == Source::Kind::head ? static_cast<int64_t>(heads) * d : d;
      const int64_t offset = s.kind == Source::Kind::head ? static_cast<int64_t>(s.head) * d : 0;
      const float* after = at(corrupted_run.at(hook), 0, p, positions, row_width, offset);
      const float* before = at(clean_run.at(hook), 0, p, positions, row_width, offset);
      for (int j = 0; j < d; ++j) difference[static_cast<size_t>(j)] = static_cast<double>(after[j]) - before[j];
      return difference;
    };
    for (int step = 0; step < steps; ++step) {
      engine::ActivationCache gradients(destinations);
      Interpolation interpolation;
      interpolation.clean = &clean_run.at({engine::Site::embed, -1});
      interpolation.corrupted = &corrupted_run.at({engine::Site::embed, -1});
      interpolation.alpha = static_cast<float>(step) / static_cast<float>(steps);
      engine::BackwardTape tape;
      engine::RowMatrix logits, logit_gradient;
      engine::forward_for_backward(weights, {clean.tokens, 1, positions}, request, logits, tape,
                                   gradient_on_clean ? nullptr : &interpolation);
      discover::metric_values(metric, pairs.clean, batch, request, logits, &clean_logits, &logit_gradient, "run");
      engine::backward(weights, tape, request, logit_gradient, &gradients);
      for (size_t e = 0; e < graph.edges().size(); ++e) {
        const discover::Edge edge = graph.edges()[e];
        const discover::Destination to = graph.destination(edge.destination);
        engine::HookPoint hook{engine::Site::resid_post, config.n_layer - 1};
        int64_t row_width = d, offset = 0;
        if (to.port == Port::mlp) hook = {engine::Site::mlp_in, to.layer};
        if (to.port == Port::q || to.port == Port::k || to.port == Port::v) {
          const engine::Site site = to.port == Port::q ? engine::Site::q_input
                                    : to.port == Port::k ? engine::Site::k_input
                                                         : engine::Site::v_input;
          hook = {site, to.layer};
          row_width = static_cast<int64_t>(heads) * d;
          offset = static_cast<int64_t>(to.head) * d;
        }
        double sum = 0;
        for (int p = 0; p < positions; ++p) {
          const std::vector<double> difference = delta(edge.source, p);
          const float* gradient = at(gradients.at(hook), 0, p, positions, row_width, offset);
          for (int j = 0; j < d; ++j) sum += difference[static_cast<size_t>(j)] * gradient[j];
        }
        scores[e] += sum / steps;
      }
    }
  }
  for (double& score : scores) score /= static_cast<double>(pairs.clean.examples.size());
  return scores;
}

void check_close(const std::vector<double>& scores, const std::vector<double>& expected, const EdgeGraph& graph) {
  REQUIRE(scores.size() == expected.size());
  double largest = 0;
  for (double value : expected) largest = std::max(largest, std::abs(value));
  REQUIRE(largest > 0);
  for (size_t e = 0; e < scores.size(); ++e) {
    INFO(graph.edge_name(graph.edges()[e]) << ": " << scores[e] << " vs " << expected[e]);
    CHECK(scores[e] == Approx(expected[e]).margin(1e-5 * largest).epsilon(1e-4));
  }
}

}  // namespace

TEST_CASE("EAP and EAP-IG scores follow the definitions, for every metric", "[discover][eap]") {
  const test::DiscoverFixture fixture(GENERATE(test::small_config(), test::small_gpt_neo_config(),
                                               test::small_gpt_neox_config()));
  INFO(engine::to_string(fixture.weights.config.family));
  const discover::PairedDataset pairs = fixture.pairs(3, 21);  // lengths 6 and 7: two batches at least
  const EdgeGraph graph(discover::graph_shape(fixture.weights.config));
  // The graph's edges as the definitions have them: no edge from a parallel block's heads to its own MLP.
  const int heads = fixture.weights.config.n_head, layers = fixture.weights.config.n_layer;
  const int per_layer_mlp_extra = fixture.weights.config.parallel_attn_mlp ? 0 : heads;
  int expected_edges = 0;
  for (int layer = 0; layer < layers; ++layer) {
    const int earlier = 1 + layer * (heads + 1);
    expected_edges += 3 * heads * earlier + earlier + per_layer_mlp_extra;
  }
  expected_edges += 1 + layers * (heads + 1);
  CHECK(graph.edge_count() == expected_edges);
  for (const discover::Metric metric : {discover::Metric::logit_diff, discover::Metric::prob_diff,
                                        discover::Metric::kl, discover::Metric::loss}) {
    for (const auto method : {discover::EdgeMethod::eap, discover::EdgeMethod::eap_ig}) {
      INFO(discover::to_string(metric) << ", " << discover::to_string(method));
      const discover::EdgeAttributionSettings settings{.method = method, .steps = 3, .metric = metric, .batch_size = 4};
      const discover::EdgeAttribution attribution = discover::attribute_edges(fixture.weights, pairs, settings);
      CHECK(attribution.pairs == 6);
      const bool eap = method == discover::EdgeMethod::eap;
      CHECK(attribution.forward_passes == (eap ? 2 : 4));
      CHECK(attribution.backward_passes == (eap ? 1 : 3));
      if (metric == discover::Metric::kl && eap) {
        // The gradient of KL from the clean run, on the clean run, is zero: so is every EAP score.
        for (double score : attribution.graph.scores) CHECK(std::abs(score) <= 1e-6);
        continue;
      }
      check_close(attribution.graph.scores, direct_scores(fixture.weights, pairs, metric, eap ? 1 : 3, eap), graph);
    }
  }
}

TEST_CASE("EAP scores are the metric's first-order change when one edge carries its corrupted activation",
          "[discover][eap]") {
  // The metric of the clean run whose child input at one port gets ±ε Δ[parent] added (hook_q_input, ...,
  // hook_mlp_in, the final hook_resid_post): its central difference / 2ε is what EAP estimates, no backward used.
  const test::DiscoverFixture fixture(GENERATE(test::small_config(), test::small_gpt_neox_config()));
  INFO(engine::to_string(fixture.weights.config.family));
  const engine::Weights& weights = fixture.weights;
  const engine::ModelConfig& config = weights.config;
  const discover::PairedDataset pairs = fixture.pairs(2, 22);
  const discover::EdgeAttribution attribution = discover::attribute_edges(
      weights, pairs, {.method = discover::EdgeMethod::eap, .steps = 1, .metric = discover::Metric::logit_diff, .batch_size = 8});
  const EdgeGraph& graph = attribution.graph.graph;
  const int d = config.d_model, heads = config.n_head;
  std::set<engine::HookPoint> recorded{{engine::Site::embed, -1}};
  for (int layer = 0; layer < config.n_layer; ++layer) {
    recorded.insert({engine::Site::attn_result, layer});
    recorded.insert({engine::Site::mlp_out, layer});
  }
  // A spread of edges: into q, k, v, MLPs and the logits, from the input, heads and MLPs.
  std::vector<size_t> edges;
  for (size_t e = 0; e < graph.edges().size(); e += 37) edges.push_back(e);
  edges.push_back(graph.edges().size() - 1);
  std::vector<double> expected(edges.size(), 0.0);
  const float epsilon = 1e-2f;
  for (size_t i = 0; i < pairs.clean.examples.size(); ++i) {
    const auto& clean = pairs.clean.examples[i];
    const int positions = static_cast<int>(clean.tokens.size());
    const discover::Batch batch{.examples = {static_cast<int>(i)}, .positions = positions, .named_positions = {}};
    const engine::LogitRequest request = discover::metric_logits(discover::Metric::logit_diff, pairs.clean, batch);
    engine::ActivationCache clean_run(recorded), corrupted_run(recorded);
    (void)engine::forward(weights, {clean.tokens, 1, positions}, request, &clean_run);
    (void)engine::forward(weights, {pairs.corrupted.examples[i].tokens, 1, positions}, request, &corrupted_run);
    for (size_t n = 0; n < edges.size(); ++n) {
      const discover::Edge edge = graph.edges()[edges[n]];
      const Source s = graph.source(edge.source);
      const discover::Destination to = graph.destination(edge.destination);
      engine::HookPoint from{engine::Site::embed, -1};
      int64_t from_width = d, from_offset = 0;
      if (s.kind == Source::Kind::head) {
        from = {engine::Site::attn_result, s.layer};
        from_width = static_cast<int64_t>(heads) * d;
        from_offset = static_cast<int64_t>(s.head) * d;
      } else if (s.kind == Source::Kind::mlp) {
        from = {engine::Site::mlp_out, s.layer};
      }
      engine::HookPoint into{engine::Site::resid_post, config.n_layer - 1};
      std::optional<int> head;
      if (to.port == Port::mlp) into = {engine::Site::mlp_in, to.layer};
      if (to.port == Port::q) into = {engine::Site::q_input, to.layer};
      if (to.port == Port::k) into = {engine::Site::k_input, to.layer};
      if (to.port == Port::v) into = {engine::Site::v_input, to.layer};
      if (to.head >= 0) head = to.head;
      auto metric_with = [&](float scale) {
        struct AddDifference : engine::Interventions {
          engine::HookPoint into;
          std::function<void(const engine::Activation&)> add;
          bool wants(engine::HookPoint hook) const override { return hook == into; }
          void visit(const engine::Activation& activation) override { add(activation); }
        } nudge;
        nudge.into = into;
        nudge.add = [&](const engine::Activation& activation) {
          const int64_t into_width = head ? static_cast<int64_t>(heads) * d : d, into_offset = head ? *head * d : 0;
          for (int p = 0; p < positions; ++p) {
            const float* after = at(corrupted_run.at(from), 0, p, positions, from_width, from_offset);
            const float* before = at(clean_run.at(from), 0, p, positions, from_width, from_offset);
            float* target = activation.data.data() + p * into_width + into_offset;
            for (int j = 0; j < d; ++j) target[j] += scale * (after[j] - before[j]);
          }
        };
        const engine::RowMatrix logits = engine::forward(weights, {clean.tokens, 1, positions}, request, &nudge);
        return discover::metric_values(discover::Metric::logit_diff, pairs.clean, batch, request, logits, nullptr,
                                       nullptr, "run")[0];
      };
      expected[n] += (metric_with(epsilon) - metric_with(-epsilon)) / (2.0 * epsilon) /
                     static_cast<double>(pairs.clean.examples.size());
    }
  }
  for (size_t n = 0; n < edges.size(); ++n) {
    INFO(graph.edge_name(graph.edges()[edges[n]]));
    CHECK(attribution.graph.scores[edges[n]] == Approx(expected[n]).epsilon(2e-2).margin(2e-3));
  }
}

TEST_CASE("edge scores are the same bits at any batch size and thread count", "[discover][eap][determinism]") {
  const test::DiscoverFixture fixture(GENERATE(test::small_config(), test::small_gpt_neox_config()));
  INFO(engine::to_string(fixture.weights.config.family));
  const discover::PairedDataset pairs = fixture.pairs(3, 23);
  discover::EdgeAttributionSettings settings{.method = discover::EdgeMethod::eap_ig, .steps = 2,
                                             .metric = discover::Metric::logit_diff, .batch_size = 32};
  std::vector<double> reference;
  {
    ThreadCount threads(1);
    reference = discover::attribute_edges(fixture.weights, pairs, settings).graph.scores;
  }
  for (const int batch_size : {1, 2, 5, 32}) {
    settings.batch_size = batch_size;
    ThreadCount threads(2);
    const discover::EdgeAttribution attribution = discover::attribute_edges(fixture.weights, pairs, settings);
    INFO("batch size " << batch_size);
    CHECK(attribution.graph.scores == reference);
  }
}

TEST_CASE("edge attribution refuses what it cannot compute", "[discover][eap]") {
  const test::DiscoverFixture fixture;
  discover::PairedDataset pairs = fixture.pairs(2, 24);
  CHECK_THROWS_WITH(discover::attribute_edges(fixture.weights, pairs, {.steps = 0}), Catch::Contains("--steps"));
  CHECK_THROWS_WITH(discover::parse_edge_method("eap_ig"), Catch::Contains("did you mean 'eap-ig'"));
  pairs.clean.examples[1].distractor = -1;
  CHECK_THROWS_WITH(discover::attribute_edges(fixture.weights, pairs, {}), Catch::Contains("no distractor"));
}
