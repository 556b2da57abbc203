// The backward pass on small random models of each family (GPT-2; GPT-Neo's unscaled scores and local window;
// Pythia's rotary q/k, parallel blocks, exact GELU and untied unembedding): every gradient it offers against
// central finite differences of the metric (the forward run again with the hook point moved along a random direction), the discovery graph's
// destination gradients against the hook points they equal, and the same bits at 1 and 2 threads and whatever
// the rest of the batch. (tests/io/test_backward_parity.cpp compares every gradient with PyTorch's autograd.)
#include <omp.h>

#include <catch2/catch.hpp>
#include <random>

#include "cscrub/engine/backward.hpp"
#include "cscrub/engine/interventions.hpp"
#include "cscrub/error.hpp"
#include "matmul_kernels.hpp"
#include "random_weights.hpp"

using namespace cscrub::engine;
using cscrub::test::random_tokens;

namespace {

struct ThreadCount {
  explicit ThreadCount(int threads) : saved(omp_get_max_threads()) { omp_set_num_threads(threads); }
  ~ThreadCount() { omp_set_num_threads(saved); }
  int saved;
};

// metric = Σ over sequences of logit(answer) − logit(distractor) at the last position.
struct LogitDifference {
  std::vector<int32_t> answers, distractors;  // per sequence

  LogitRequest request() const {
    LogitRequest request;
    request.positions = LogitRequest::Positions::last;
    request.token_ids = answers;
    request.token_ids.insert(request.token_ids.end(), distractors.begin(), distractors.end());
    std::sort(request.token_ids.begin(), request.token_ids.end());
    request.token_ids.erase(std::unique(request.token_ids.begin(), request.token_ids.end()), request.token_ids.end());
    return request;
  }
  int column(const LogitRequest& request, int32_t id) const {
    return static_cast<int>(std::lower_bound(request.token_ids.begin(), request.token_ids.end(), id) -
                            request.token_ids.begin());
  }
  double value(const RowMatrix& logits, const LogitRequest& request) const {
    double sum = 0;
    for (size_t b = 0; b < answers.size(); ++b)
      sum += static_cast<double>(logits(static_cast<Eigen::Index>(b), column(request, answers[b]))) -
             logits(static_cast<Eigen::Index>(b), column(request, distractors[b]));
    return sum;
  }
  RowMatrix gradient(const LogitRequest& request) const {
    RowMatrix gradient = RowMatrix::Zero(static_cast<Eigen::Index>(answers.size()),
                                         static_cast<Eigen::Index>(request.token_ids.size()));
    for (size_t b = 0; b < answers.size(); ++b) {
      gradient(static_cast<Eigen::Index>(b), column(request, answers[b])) += 1.0f;
      gradient(static_cast<Eigen::Index>(b), column(request, distractors[b])) -= 1.0f;
    }
    return gradient;
  }
};

LogitDifference random_labels(int batch, int vocab, unsigned seed) {
  const std::vector<int32_t> ids = random_tokens(2 * batch, vocab, seed);
  LogitDifference metric;
  for (int b = 0; b < batch; ++b) {
    metric.answers.push_back(ids[static_cast<size_t>(2 * b)]);
    metric.distractors.push_back(ids[static_cast<size_t>(2 * b + 1)] == ids[static_cast<size_t>(2 * b)]
                                     ? (ids[static_cast<size_t>(2 * b)] + 1) % vocab
                                     : ids[static_cast<size_t>(2 * b + 1)]);
  }
  return metric;
}

// Adds `scale * direction` to one hook point's activation.
class Nudge : public Interventions {
 public:
  Nudge(HookPoint hook, const std::vector<float>& direction, float scale)
      : hook_(hook), direction_(direction), scale_(scale) {}
  bool wants(HookPoint hook) const override { return hook == hook_; }
  void visit(const Activation& activation) override {
    REQUIRE(activation.data.size() == direction_.size());
    for (size_t i = 0; i < direction_.size(); ++i) activation.data[i] += scale_ * direction_[i];
  }

 private:
  HookPoint hook_;
  const std::vector<float>& direction_;
  float scale_;
};

// Every hook point the backward offers a gradient for.
std::set<HookPoint> gradient_hooks(const ModelConfig& config) {
  std::set<HookPoint> hooks;
  for (const SiteInfo& info : sites()) {
    if (!has_gradient(info.site) || !has_site(config, info.site)) continue;
    if (!info.per_layer) hooks.insert({info.site, -1});
    else
      for (int layer = 0; layer < config.n_layer; ++layer) hooks.insert({info.site, layer});
  }
  return hooks;
}

struct Run {
  double metric;
  ActivationCache gradients;
};

Run run_backward(const Weights& weights, const std::vector<int32_t>& tokens, int batch, int positions,
                 const LogitDifference& metric, const std::set<HookPoint>& hooks,
                 DestinationGradients* destinations = nullptr) {
  const LogitRequest request = metric.request();
  BackwardTape tape;
  RowMatrix logits;
  forward_for_backward(weights, {tokens, batch, positions}, request, logits, tape);
  Run run{metric.value(logits, request), ActivationCache(hooks)};
  backward(weights, tape, request, metric.gradient(request), &run.gradients, destinations);
  return run;
}

// GPT-2, GPT-Neo and GPT-NeoX (Pythia) shapes.
std::vector<ModelConfig> family_configs() {
  return {cscrub::test::small_config(), cscrub::test::small_gpt_neo_config(), cscrub::test::small_gpt_neox_config()};
}

// Records the destination gradients the backward hands over.
struct RecordedDestinations : DestinationGradients {
  RowMatrix final;
  std::map<int, RowMatrix> layers;
  void final_residual(const RowMatrix& gradient) override { final = gradient; }
  void layer_inputs(int layer, const RowMatrix& gradients) override { layers[layer] = gradients; }
};

}  // namespace

TEST_CASE("every gradient the backward offers matches central finite differences of the metric",
          "[backward][gradients]") {
  Weights weights = cscrub::test::random_weights(GENERATE(from_range(family_configs())), 3);
  weights.matmul = GENERATE(from_range(cscrub::test::matmul_kernels_here()));
  INFO(to_string(weights.matmul) << ", " << to_string(weights.config.family));
  const ModelConfig& config = weights.config;
  const int batch = 2, positions = 7;
  const auto tokens = random_tokens(batch * positions, config.vocab_size, 4);
  const LogitDifference metric = random_labels(batch, config.vocab_size, 5);
  const std::set<HookPoint> hooks = gradient_hooks(config);
  const Run run = run_backward(weights, tokens, batch, positions, metric, hooks);
  CHECK(run.gradients.all().size() == hooks.size());

  std::mt19937 generator(6);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const LogitRequest request = metric.request();
  const float step = 2e-3f;
  for (const HookPoint hook : hooks) {
    const StoredActivation& gradient = run.gradients.at(hook);
    std::vector<float> direction(gradient.values.size());
    for (float& value : direction) value = normal(generator);
    double directional = 0;
    for (size_t i = 0; i < direction.size(); ++i) directional += static_cast<double>(gradient.values[i]) * direction[i];
    Nudge up(hook, direction, step), down(hook, direction, -step);
    const double plus = metric.value(forward(weights, {tokens, batch, positions}, request, &up), request);
    const double minus = metric.value(forward(weights, {tokens, batch, positions}, request, &down), request);
    const double central = (plus - minus) / (2.0 * step);
    INFO(hook_name(hook) << ": gradient · direction " << directional << ", finite difference " << central);
    CHECK(directional == Approx(central).epsilon(1e-2).margin(5e-3));
  }
}

TEST_CASE("the destination gradients are the q/k/v inputs', the MLP inputs' and the final residual's",
          "[backward][gradients]") {
  Weights weights = cscrub::test::random_weights(GENERATE(from_range(family_configs())), 8);
  weights.matmul = GENERATE(from_range(cscrub::test::matmul_kernels_here()));
  INFO(to_string(weights.matmul) << ", " << to_string(weights.config.family));
  const ModelConfig& config = weights.config;
  const int batch = 3, positions = 5, rows = batch * positions, heads = config.n_head, d = config.d_model;
  const auto tokens = random_tokens(rows, config.vocab_size, 9);
  const LogitDifference metric = random_labels(batch, config.vocab_size, 10);
  RecordedDestinations destinations;
  const Run run = run_backward(weights, tokens, batch, positions, metric, gradient_hooks(config), &destinations);
  REQUIRE(destinations.layers.size() == static_cast<size_t>(config.n_layer));
  auto stored = [&](Site site, int layer) {
    const StoredActivation& values = run.gradients.at({site, layer});
    return Eigen::Map<const RowMatrix>(values.values.data(), rows, static_cast<Eigen::Index>(values.values.size()) / rows);
  };
  CHECK(destinations.final == stored(Site::resid_post, config.n_layer - 1));
  for (int layer = 0; layer < config.n_layer; ++layer) {
    const RowMatrix& blocks = destinations.layers[layer];
    REQUIRE(blocks.rows() == (3 * heads + 1) * rows);
    const Site ports[3] = {Site::q_input, Site::k_input, Site::v_input};
    for (int port = 0; port < 3; ++port)
      for (int h = 0; h < heads; ++h)
        CHECK(blocks.middleRows((port * heads + h) * rows, rows) == stored(ports[port], layer).middleCols(h * d, d));
    CHECK(blocks.middleRows(3 * heads * rows, rows) == stored(Site::mlp_in, layer));
    // The residual stream entering the block gets what it passes on unchanged plus every head's inputs (and the
    // MLP's in a parallel block).
    RowMatrix sum = stored(Site::resid_mid, layer);
    const int summed = 3 * heads + (config.parallel_attn_mlp ? 1 : 0);
    for (int block = 0; block < summed; ++block) sum += blocks.middleRows(block * rows, rows);
    CHECK((sum - stored(Site::resid_pre, layer)).cwiseAbs().maxCoeff() == 0.0f);
  }

  // Without per-head inputs wanted the backward takes the fused path: the same gradients up to rounding.
  std::set<HookPoint> shared;
  for (int layer = 0; layer < config.n_layer; ++layer) shared.insert({Site::resid_pre, layer});
  const Run fused = run_backward(weights, tokens, batch, positions, metric, shared);
  for (int layer = 0; layer < config.n_layer; ++layer) {
    const auto& a = fused.gradients.at({Site::resid_pre, layer}).values;
    const auto& b = run.gradients.at({Site::resid_pre, layer}).values;
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(b[i]).margin(1e-5));
  }
}

TEST_CASE("gradients are bit-identical at 1 and 2 threads and whatever the rest of the batch",
          "[backward][determinism]") {
  Weights weights = cscrub::test::random_weights(GENERATE(from_range(family_configs())), 11);
  weights.matmul = GENERATE(from_range(cscrub::test::matmul_kernels_here()));
  INFO(to_string(weights.matmul) << ", " << to_string(weights.config.family));
  const ModelConfig& config = weights.config;
  const int batch = 4, positions = 9;
  const auto tokens = random_tokens(batch * positions, config.vocab_size, 12);
  const LogitDifference metric = random_labels(batch, config.vocab_size, 13);
  const std::set<HookPoint> hooks = gradient_hooks(config);
  RecordedDestinations one_thread, two_threads;
  std::optional<Run> one, two;
  {
    ThreadCount threads(1);
    one.emplace(run_backward(weights, tokens, batch, positions, metric, hooks, &one_thread));
  }
  {
    ThreadCount threads(2);
    two.emplace(run_backward(weights, tokens, batch, positions, metric, hooks, &two_threads));
  }
  for (const HookPoint hook : hooks) {
    INFO(hook_name(hook));
    CHECK(one->gradients.at(hook).values == two->gradients.at(hook).values);
  }
  for (int layer = 0; layer < config.n_layer; ++layer) CHECK(one_thread.layers[layer] == two_threads.layers[layer]);

  // Sequence 2 alone: its rows of every gradient are the batch's rows, bit for bit.
  const std::vector<int32_t> alone_tokens(tokens.begin() + 2 * positions, tokens.begin() + 3 * positions);
  const LogitDifference alone_metric{{metric.answers[2]}, {metric.distractors[2]}};
  RecordedDestinations alone_destinations;
  const Run alone = run_backward(weights, alone_tokens, 1, positions, alone_metric, hooks, &alone_destinations);
  for (const HookPoint hook : hooks) {
    INFO(hook_name(hook));
    const auto& all = one->gradients.at(hook).values;
    const auto& single = alone.gradients.at(hook).values;
    const size_t per_sequence = single.size();
    REQUIRE(all.size() == per_sequence * batch);
    CHECK(std::equal(single.begin(), single.end(), all.begin() + 2 * static_cast<std::ptrdiff_t>(per_sequence)));
  }
  for (int layer = 0; layer < config.n_layer; ++layer)
    for (int block = 0; block < 3 * config.n_head + 1; ++block)
      CHECK(alone_destinations.layers[layer].middleRows(block * positions, positions) ==
            one_thread.layers[layer].middleRows(block * batch * positions + 2 * positions, positions));
}

TEST_CASE("the backward refuses an empty tape and a logit gradient of the wrong shape", "[backward]") {
  const Weights weights = cscrub::test::random_weights(cscrub::test::small_config(), 14);
  LogitRequest last;
  last.positions = LogitRequest::Positions::last;
  BackwardTape tape;
  CHECK_THROWS_WITH(backward(weights, tape, last, RowMatrix::Zero(2, weights.config.vocab_size)),
                    Catch::Contains("holds no forward pass"));
  const auto tokens = random_tokens(2 * 4, weights.config.vocab_size, 15);
  RowMatrix logits;
  forward_for_backward(weights, {tokens, 2, 4}, last, logits, tape);
  CHECK(tape.batch() == 2);
  CHECK(tape.positions() == 4);
  CHECK_THROWS_WITH(backward(weights, tape, last, RowMatrix::Zero(3, weights.config.vocab_size)),
                    Catch::Contains("the logit gradient is 3 x 101, the request's logits 2 x 101"));
  ActivationCache inputs({{Site::q_input, 1}});
  CHECK_THROWS_WITH(forward_for_backward(weights, {tokens, 2, 4}, last, logits, tape, &inputs),
                    Catch::Contains("cannot intervene on blocks.1.hook_q_input"));
}

TEST_CASE("a forward kept for the backward gives the forward's logits, bit for bit", "[backward][forward]") {
  Weights weights = cscrub::test::random_weights(GENERATE(from_range(family_configs())), 16);
  weights.matmul = GENERATE(from_range(cscrub::test::matmul_kernels_here()));
  const auto tokens = random_tokens(3 * 6, weights.config.vocab_size, 17);
  for (const auto positions : {LogitRequest::Positions::all, LogitRequest::Positions::last}) {
    LogitRequest request;
    request.positions = positions;
    BackwardTape tape;
    RowMatrix kept;
    forward_for_backward(weights, {tokens, 3, 6}, request, kept, tape);
    CHECK(kept == forward(weights, {tokens, 3, 6}, request));
  }
}
