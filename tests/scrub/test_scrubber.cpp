#include <omp.h>

#include <catch2/catch.hpp>
#include <numeric>

#include "cscrub/engine/components.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/error.hpp"
#include "cscrub/scrub/experiment.hpp"
#include "cscrub/scrub/scrubber.hpp"
#include "reference_scrubber.hpp"
#include "scrub_fixtures.hpp"

using namespace cscrub;
using engine::RowMatrix;
using graph::InterpNode;
using graph::Port;
using test::HypothesisBuilder;

namespace {

std::vector<int> all_references(const data::Dataset& dataset) {
  std::vector<int> references(dataset.examples.size());
  std::iota(references.begin(), references.end(), 0);
  return references;
}

scrub::CleanCache make_cache(const engine::Weights& weights, const data::Dataset& dataset,
                             const std::vector<graph::Hypothesis>& hypotheses, int batch_size = 64) {
  std::set<scrub::Stream> streams;
  for (const auto& hypothesis : hypotheses) streams.merge(scrub::streams_needed(hypothesis, weights.config));
  return scrub::CleanCache(weights, dataset, streams, batch_size);
}

graph::Hypothesis full_hypothesis() { return HypothesisBuilder("full", InterpNode::Rest::same).hypothesis; }
graph::Hypothesis none_hypothesis() { return HypothesisBuilder("none").hypothesis; }

// A chain through every kind of component, with ports, positions, a shared parent (treeified twice) and
// a node whose unlisted inputs come from its own input.
std::vector<graph::Hypothesis> circuit_hypotheses() {
  std::vector<graph::Hypothesis> hypotheses;
  {
    HypothesisBuilder h("movers-chain");
    const int movers = h.node("movers", {test::head(2, 1), test::head(2, 3)}, {"a"}, {{"END"}, {}});
    const int inhibition = h.node("inhibition", {test::head(1, 0)}, {"b"}, {{}, {-1, 1}});
    const int previous = h.node("previous", {test::head(0, 2)}, {"a", "b"}, {{"P1"}, {}});
    const int tokens = h.node("tokens", {test::embed()}, {"prompt"});
    h.edge(movers, 0).edge(inhibition, movers, {Port::q}).edge(previous, inhibition, {Port::k, Port::v});
    h.edge(tokens, movers, {Port::v}).edge(tokens, previous);
    hypotheses.push_back(h.hypothesis);
  }
  {
    HypothesisBuilder h("mlps-and-same", InterpNode::Rest::random);
    const int late = h.node("late", {test::mlp(2), test::head(2, 0)}, {"b"});
    const int middle = h.node("middle", {test::mlp(1)}, {"a"}, {}, InterpNode::Rest::same);
    const int early = h.node("early", {test::head(0, 1), test::mlp(0)}, {"none"}, {{"END"}, {}});
    h.edge(late, 0).edge(middle, late).edge(early, middle).edge(early, late, {Port::k});
    hypotheses.push_back(h.hypothesis);
  }
  {
    // Parent components on both sides of a child: only those that come first feed it.
    HypothesisBuilder h("straddling");
    const int heads = h.node("heads", {test::head(1, 2), test::mlp(2)}, {"a"});
    const int spread = h.node("spread", {test::head(0, 0), test::head(2, 2)}, {"b"});
    h.edge(heads, 0).edge(spread, heads, {Port::q, Port::in});
    hypotheses.push_back(h.hypothesis);
  }
  return hypotheses;
}

struct Setup {
  explicit Setup(const engine::ModelConfig& config = test::small_config()) : weights(test::random_weights(config, 21)) {}
  engine::Weights weights;
  data::Dataset dataset = test::synthetic_dataset(9, test::small_config().vocab_size, 22);
};

}  // namespace

namespace {

// Each prompt's counterpart for the counterfactual ablation: other random tokens, the same length and
// named positions.
data::Dataset counterparts_of(const data::Dataset& dataset, unsigned seed) {
  data::Dataset twins = dataset;
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int32_t> token(0, test::small_config().vocab_size - 1);
  for (auto& example : twins.examples)
    for (int32_t& id : example.tokens) id = token(generator);
  return twins;
}

struct ScrubMode {
  scrub::Sampling sampling;
  scrub::Ablation ablation;
  std::vector<uint64_t> seeds;
};

}  // namespace

TEST_CASE("the efficient scrubber agrees with the direct recursive pseudocode", "[scrub][reference]") {
  // GPT-2, and the other families' variations: GPT-Neo's local attention, Pythia's rotary embedding and parallel
  // blocks (whose MLP reads resid_pre and none of its layer's heads: "straddling" gives mlp 2 a parent head 2.2).
  const auto [family, config] = GENERATE(table<const char*, engine::ModelConfig>(
      {{"gpt2", test::small_config()}, {"gpt_neo", test::small_gpt_neo_config()}, {"gpt_neox", test::small_gpt_neox_config()}}));
  INFO(family);
  Setup setup(config);
  auto hypotheses = circuit_hypotheses();
  hypotheses.push_back(full_hypothesis());
  hypotheses.push_back(none_hypothesis());
  const data::Dataset twins = counterparts_of(setup.dataset, 23);
  std::set<scrub::Stream> streams;
  for (const auto& hypothesis : hypotheses) streams.merge(scrub::streams_needed(hypothesis, setup.weights.config));
  const scrub::CleanCache cache(setup.weights, setup.dataset, streams, 5);
  const scrub::CleanCache twins_cache(setup.weights, twins, streams, 5);
  const auto references = all_references(setup.dataset);
  const ScrubMode mode = GENERATE(ScrubMode{scrub::Sampling::cscrub, scrub::Ablation::resample, {3, 4}},
                                  ScrubMode{scrub::Sampling::paper, scrub::Ablation::resample, {3, 5}},
                                  ScrubMode{scrub::Sampling::cscrub, scrub::Ablation::mean, {3}},
                                  ScrubMode{scrub::Sampling::cscrub, scrub::Ablation::zero, {3}},
                                  ScrubMode{scrub::Sampling::paper, scrub::Ablation::counterfactual, {3}});
  INFO("sampling " << scrub::to_string(mode.sampling) << ", ablation " << scrub::to_string(mode.ablation));
  const scrub::ScrubOptions options{
      .batch_size = 4, .sampling = mode.sampling, .ablation = mode.ablation, .counterfactual = &twins_cache};
  for (const auto& hypothesis : hypotheses) {
    for (uint64_t seed : mode.seeds) {
      scrub::Scrubber scrubber(setup.weights, cache, hypothesis, options);
      const RowMatrix fast = scrubber.final_rows(references, seed);
      test::ReferenceScrubber slow(setup.weights, setup.dataset, hypothesis, mode.sampling, mode.ablation, &twins);
      double max_difference = 0, largest = 0;
      for (int reference : references) {
        const auto expected = slow.final_row(reference, seed);
        max_difference = std::max<double>(max_difference, (fast.row(reference) - expected).cwiseAbs().maxCoeff());
        largest = std::max<double>(largest, expected.cwiseAbs().maxCoeff());
      }
      INFO(hypothesis.name << " seed " << seed << ": max |fast - reference| = " << max_difference << ", max |value| "
                           << largest);
      CHECK(max_difference < 2e-4);
      CHECK(largest > 1e-2);  // not vacuous
    }
  }
}

TEST_CASE("draws follow the documented sampling rules, checked against a brute-force search", "[scrub][sampling]") {
  Setup setup;
  const std::vector<std::vector<std::string>> feature_lists{{"a"}, {"b"}, {"a", "b"}, {"none"}, {"prompt"}};
  for (scrub::Sampling sampling : {scrub::Sampling::cscrub, scrub::Sampling::paper}) {
    scrub::Sampler sampler(setup.dataset, sampling);
    int self_draws = 0, draws = 0;
    double expected_self_draws = 0;
    for (const auto& features : feature_lists)
      for (int example = 0; example < static_cast<int>(setup.dataset.examples.size()); ++example)
        for (uint64_t seed = 0; seed < 40; ++seed) {
          const uint64_t key = scrub::draw_key(seed, example, {1, 2}, scrub::DrawPurpose::agreeing);
          const int drawn = sampler.agreeing(features, example, key);
          REQUIRE(drawn == test::reference_draw(setup.dataset, features, example, key, sampling));
          const size_t size = sampler.classes(features).agreeing(example).size();
          draws += 1;
          self_draws += drawn == example ? 1 : 0;
          expected_self_draws += sampling == scrub::Sampling::paper ? 1.0 / static_cast<double>(size) : size == 1 ? 1.0 : 0.0;
        }
    INFO(scrub::to_string(sampling) << ": " << self_draws << " of " << draws << " draws returned their own input, "
                                    << expected_self_draws << " expected");
    if (sampling == scrub::Sampling::cscrub) {
      CHECK(self_draws == expected_self_draws);  // only the "prompt" classes of one
    } else {
      // A binomial count: within four standard deviations of its expectation.
      CHECK(std::abs(self_draws - expected_self_draws) < 4 * std::sqrt(expected_self_draws));
      CHECK(self_draws > 0);
    }
  }
  CHECK(scrub::parse_sampling("paper") == scrub::Sampling::paper);
  CHECK_THROWS_WITH(scrub::parse_sampling("papper"), Catch::Contains("did you mean 'paper'"));
}

TEST_CASE("the sampled inputs matter: another seed gives other values", "[scrub][reference]") {
  Setup setup;
  const auto hypotheses = circuit_hypotheses();
  const auto cache = make_cache(setup.weights, setup.dataset, hypotheses);
  const auto references = all_references(setup.dataset);
  scrub::Scrubber scrubber(setup.weights, cache, hypotheses.front(), 64);
  const RowMatrix one = scrubber.final_rows(references, 1);
  const RowMatrix two = scrubber.final_rows(references, 2);
  CHECK((one - two).cwiseAbs().maxCoeff() > 1e-2);
}

TEST_CASE("everything-matters reproduces the model, nothing-matters reads random inputs", "[scrub][invariants]") {
  Setup setup;
  const std::vector<graph::Hypothesis> hypotheses{full_hypothesis(), none_hypothesis()};
  const auto cache = make_cache(setup.weights, setup.dataset, hypotheses);
  const auto references = all_references(setup.dataset);
  scrub::Scrubber full(setup.weights, cache, hypotheses[0], 64);
  const RowMatrix scrubbed = full.final_rows(references, 7);
  for (int reference : references) {
    const auto& tokens = setup.dataset.examples[reference].tokens;
    engine::LogitRequest last;
    last.positions = engine::LogitRequest::Positions::last;
    const int32_t ids[2] = {setup.dataset.examples[reference].answer, setup.dataset.examples[reference].distractor};
    last.token_ids.assign(ids, ids + 2);
    const RowMatrix logits = engine::forward(setup.weights, {tokens, 1, static_cast<int>(tokens.size())}, last);
    const RowMatrix scrubbed_logits = engine::unembed(setup.weights, scrubbed.row(reference), ids);
    CHECK(std::abs((scrubbed_logits(0, 0) - scrubbed_logits(0, 1)) - (logits(0, 0) - logits(0, 1))) <= 1e-5);
  }
  // Nothing matters: each reference's output is some input of its group, which is not always itself.
  scrub::Scrubber none(setup.weights, cache, hypotheses[1], 64);
  const RowMatrix baseline = none.final_rows(references, 7);
  int differs = 0;
  for (int reference : references) {
    bool matches_some_group_member = false;
    for (int other : references) {
      if (setup.dataset.examples[other].group != setup.dataset.examples[reference].group) continue;
      matches_some_group_member |= baseline.row(reference) == scrubbed.row(other);
    }
    CHECK(matches_some_group_member);
    differs += baseline.row(reference) != scrubbed.row(reference) ? 1 : 0;
  }
  CHECK(differs > static_cast<int>(references.size()) / 2);
}

TEST_CASE("results depend only on the seed: not on threads, batch size or reference order", "[scrub][determinism]") {
  Setup setup;
  const auto hypotheses = circuit_hypotheses();
  const auto references = all_references(setup.dataset);
  const auto cache = make_cache(setup.weights, setup.dataset, hypotheses, 64);
  const auto small_batches_cache = make_cache(setup.weights, setup.dataset, hypotheses, 3);
  for (const auto& hypothesis : hypotheses) {
    scrub::Scrubber reference_run(setup.weights, cache, hypothesis, 64);
    const int saved_threads = omp_get_max_threads();
    omp_set_num_threads(2);
    const RowMatrix expected = reference_run.final_rows(references, 11);
    omp_set_num_threads(1);
    scrub::Scrubber one_thread(setup.weights, small_batches_cache, hypothesis, 1);
    const RowMatrix single = one_thread.final_rows(references, 11);
    omp_set_num_threads(saved_threads);
    CHECK(single == expected);
    // Reversed order, odd batches.
    std::vector<int> reversed(references.rbegin(), references.rend());
    scrub::Scrubber odd(setup.weights, cache, hypothesis, 5);
    const RowMatrix backwards = odd.final_rows(reversed, 11);
    for (size_t i = 0; i < reversed.size(); ++i)
      CHECK(backwards.row(static_cast<Eigen::Index>(i)) == expected.row(reversed[i]));
  }
}

TEST_CASE("a hand-computed case: a model whose blocks write nothing", "[scrub][hand]") {
  // With every attention and MLP output zeroed, the logits at the last position depend only on the last
  // token and the length. The last token is 10 + a and the answer 50 + a, for a feature a in {0, 1, 2}
  // (each value 4 times per group). Claim: the embeddings at END matter through feature a.
  engine::ModelConfig config = test::small_config();
  engine::Weights weights = test::random_weights(config, 31);
  for (auto& layer : weights.layers) {
    layer.out_weight.setZero();
    layer.out_bias.setZero();
    layer.proj_weight.setZero();
    layer.proj_bias.setZero();
  }
  data::Dataset dataset = test::synthetic_dataset(12, config.vocab_size, 32);
  for (auto& example : dataset.examples) {
    const int a = std::stoi(example.features[0]);
    example.tokens.back() = 10 + a;
    example.answer = 50 + a;
    example.distractor = 60;
  }
  HypothesisBuilder claim("last token through a");
  const int tokens = claim.node("last token", {test::embed()}, {"a"}, {{"END"}, {}});
  claim.edge(tokens, 0);
  scrub::ExperimentSettings settings;
  settings.seeds = 20;
  const auto result = scrub::run_experiment(weights, dataset, {claim.hypothesis}, none_hypothesis(), settings);

  // logits[group][t][j]: the last position's logit of token j when the last token is 10 + t.
  auto logit = [&](int group, int t, int token) {
    std::vector<int32_t> prompt = dataset.examples[static_cast<size_t>(group * 12)].tokens;
    prompt.back() = 10 + t;
    engine::LogitRequest last;
    last.positions = engine::LogitRequest::Positions::last;
    last.token_ids = {token};
    return static_cast<double>(engine::forward(weights, {prompt, 1, static_cast<int>(prompt.size())}, last)(0, 0));
  };
  // By hand: the model gives g(a, a) with g(t, a) = logit_t(50 + a) - logit_t(60); scrubbing replaces the
  // last token by that of an input agreeing on a, i.e. the same token: everything is recovered. The
  // baseline's random input has a uniform a' in its group: E = mean over groups, a, a' of g(a', a).
  double model_by_hand = 0, baseline_by_hand = 0;
  for (int group = 0; group < 2; ++group)
    for (int a = 0; a < 3; ++a) {
      model_by_hand += (logit(group, a, 50 + a) - logit(group, a, 60)) / 6.0;
      for (int a_random = 0; a_random < 3; ++a_random)
        baseline_by_hand += (logit(group, a_random, 50 + a) - logit(group, a_random, 60)) / 18.0;
    }
  CHECK(result.model.value == Approx(model_by_hand).margin(1e-4));
  CHECK(result.hypotheses[0].scrubbed.value == Approx(model_by_hand).margin(1e-4));
  CHECK(result.hypotheses[0].recovered.value == Approx(1.0).margin(1e-4));
  // The baseline is an average over 20 seeds x 24 draws: within four standard errors of the expectation.
  const double standard_error = (result.baseline.high - result.baseline.low) / (2 * 1.96);
  INFO("baseline " << result.baseline.value << " [" << result.baseline.low << ", " << result.baseline.high
                   << "], by hand " << baseline_by_hand);
  CHECK(std::abs(result.baseline.value - baseline_by_hand) < 4 * standard_error);
  CHECK(std::abs(model_by_hand - baseline_by_hand) > 1.0);  // the case is not degenerate
}

TEST_CASE("bad scrubbing inputs are clear errors", "[scrub][errors]") {
  Setup setup;
  HypothesisBuilder unknown_feature("typo");
  const int node = unknown_feature.node("n", {test::head(1, 1)}, {"aa"});
  unknown_feature.edge(node, 0);
  auto cache = make_cache(setup.weights, setup.dataset, {unknown_feature.hypothesis});
  CHECK_THROWS_WITH(scrub::Scrubber(setup.weights, cache, unknown_feature.hypothesis, 8),
                    Catch::Contains("no feature 'aa'") && Catch::Contains("did you mean 'a'"));

  data::Dataset lonely = setup.dataset;
  lonely.examples[0].group = "alone";
  auto lonely_cache = make_cache(setup.weights, lonely, {none_hypothesis()});
  scrub::Scrubber lonely_scrubber(setup.weights, lonely_cache, none_hypothesis(), 8);
  const std::vector<int> alone{0};
  CHECK_THROWS_WITH(lonely_scrubber.final_rows(alone, 1), Catch::Contains("single prompt"));
  // An experiment leaves such prompts out, and says so.
  const auto kept = scrub::run_experiment(setup.weights, lonely, {}, none_hypothesis(), scrub::ExperimentSettings{});
  CHECK(kept.excluded == 1);
  CHECK(kept.n == static_cast<int>(lonely.examples.size()) - 1);

  scrub::ExperimentSettings settings;
  settings.max_cache_bytes = 1000;
  CHECK_THROWS_WITH(scrub::run_experiment(setup.weights, setup.dataset, {}, none_hypothesis(), settings),
                    Catch::Contains("activation cache would need"));
}
