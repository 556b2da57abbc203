// The memory estimate against the bytes actually allocated (the cache's matrices, and the heap's peak
// counted exactly by heap_tracking), the refusal, and the streaming: peak memory follows the batch, not the
// seeds or the references, and the numbers do not depend on batch size, threads or the number of seeds.
#include <omp.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <regex>

#include "cscrub/error.hpp"
#include "cscrub/scrub/experiment.hpp"
#include "cscrub/scrub/memory.hpp"
#include "heap_tracking.hpp"
#include "matmul_kernels.hpp"
#include "scrub_fixtures.hpp"

using namespace cscrub;
using graph::InterpNode;
using graph::Port;
using test::HypothesisBuilder;

namespace {

// A vocabulary large enough makes the logits of the loss and KL metrics weigh as much as the cache.
engine::ModelConfig memory_config(int vocab = 211, const engine::ModelConfig& family = test::small_config()) {
  engine::ModelConfig config = family;
  config.n_layer = 4;
  config.d_model = 128;
  config.d_mlp = 512;
  config.vocab_size = vocab;
  return config;
}

// Three alignment groups of 12, 14 and 16 tokens, interleaved (so that any prefix is a smaller dataset of
// the same kind); features "a" and "b"; positions P1 and END.
data::Dataset interleaved_dataset(int prompts, int vocab, unsigned seed) {
  data::Dataset dataset;
  dataset.schema = test::synthetic_schema({"a", "b"});
  std::mt19937 generator(seed);
  for (int i = 0; i < prompts; ++i) {
    data::Example example = test::random_prompt(generator, vocab, 12 + 2 * (i % 3));
    example.features = {std::to_string((i / 3) % 3), std::to_string((i / 3) % 2)};
    dataset.examples.push_back(example);
  }
  return dataset;
}

// Shaped like the IOI circuit: movers at END fed by an inhibition node (a head and an MLP) fed by earlier
// heads, and token embeddings feeding both ends.
graph::Hypothesis chain_hypothesis() {
  HypothesisBuilder h("chain");
  const int movers = h.node("movers", {test::head(3, 1), test::head(3, 2), test::head(2, 0)}, {"a"}, {{"END"}, {}});
  const int inhibition = h.node("inhibition", {test::head(2, 3), test::mlp(1)}, {"b"}, {{"END"}, {}});
  const int previous = h.node("previous", {test::head(0, 1), test::head(1, 2)}, {"a", "b"}, {{"P1"}, {}});
  const int tokens = h.node("tokens", {test::embed()}, {"prompt"});
  h.edge(movers, 0).edge(inhibition, movers, {Port::q}).edge(previous, inhibition).edge(tokens, movers, {Port::v});
  h.edge(tokens, previous);
  return h.hypothesis;
}

graph::Hypothesis mlp_hypothesis() {
  HypothesisBuilder h("mlps", InterpNode::Rest::random);
  const int late = h.node("late", {test::mlp(3), test::head(3, 0)}, {"b"});
  const int early = h.node("early", {test::head(0, 2), test::mlp(0)}, {"none"}, {{"END"}, {}});
  h.edge(late, 0).edge(early, late);
  return h.hypothesis;
}

graph::Hypothesis none_hypothesis() { return HypothesisBuilder("none").hypothesis; }

struct Setup {
  explicit Setup(int vocab = 211, const engine::ModelConfig& family = test::small_config())
      : weights(test::random_weights(memory_config(vocab, family), 41)), dataset(interleaved_dataset(90, vocab, 42)) {}
  engine::Weights weights;
  data::Dataset dataset;
  std::vector<graph::Hypothesis> hypotheses{chain_hypothesis(), mlp_hypothesis()};
  graph::Hypothesis baseline = none_hypothesis();
};

scrub::ExperimentSettings settings_with(int batch_size, int seeds, scrub::Metric metric = scrub::Metric::logit_diff) {
  scrub::ExperimentSettings settings;
  settings.batch_size = batch_size;
  settings.seeds = seeds;
  settings.seed = 3;
  settings.metric = metric;
  settings.bootstrap_resamples = 500;
  return settings;
}

// The heap's peak above its use before `run`, in bytes.
template <class Run>
int64_t heap_growth(Run&& run) {
  const int64_t before = test::heap_restart_peak();
  run();
  return test::heap_peak() - before;
}

// Equal, or both NaN (% recovered is undefined on a random model, whose behaviour the baseline matches).
bool same(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }
bool same(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](double x, double y) { return same(x, y); });
}

void check_same_numbers(const scrub::ExperimentResult& a, const scrub::ExperimentResult& b) {
  CHECK(a.model.value == b.model.value);
  CHECK(a.baseline.value == b.baseline.value);
  CHECK(a.baseline.low == b.baseline.low);
  CHECK(a.baseline_per_seed == b.baseline_per_seed);
  CHECK(a.recoverable.defined == b.recoverable.defined);
  CHECK(a.recoverable.gap.low == b.recoverable.gap.low);
  REQUIRE(a.hypotheses.size() == b.hypotheses.size());
  for (size_t h = 0; h < a.hypotheses.size(); ++h) {
    CHECK(a.hypotheses[h].scrubbed.value == b.hypotheses[h].scrubbed.value);
    CHECK(same(a.hypotheses[h].recovered.value, b.hypotheses[h].recovered.value));
    CHECK(same(a.hypotheses[h].recovered.low, b.hypotheses[h].recovered.low));
    CHECK(same(a.hypotheses[h].recovered.high, b.hypotheses[h].recovered.high));
    CHECK(same(a.hypotheses[h].difference_to_first.value, b.hypotheses[h].difference_to_first.value));
    CHECK(same(a.hypotheses[h].recovered_per_seed, b.hypotheses[h].recovered_per_seed));
    CHECK(a.hypotheses[h].values.scrubbed == b.hypotheses[h].values.scrubbed);
    CHECK(a.hypotheses[h].scrubbed_per_seed == b.hypotheses[h].scrubbed_per_seed);
  }
}

}  // namespace

TEST_CASE("the cache estimate is the bytes the cache allocates", "[scrub][memory]") {
  Setup setup;
  setup.weights.matmul = GENERATE(from_range(test::matmul_kernels_here()));
  INFO(engine::to_string(setup.weights.matmul));
  const auto settings = settings_with(16, 1);
  const scrub::MemoryEstimate estimate = scrub::estimate_memory(
      setup.weights.config, setup.weights.matmul, setup.dataset, setup.hypotheses, setup.baseline, settings);
  std::set<scrub::Stream> streams = scrub::streams_needed(setup.baseline, setup.weights.config);
  for (const auto& hypothesis : setup.hypotheses) streams.merge(scrub::streams_needed(hypothesis, setup.weights.config));
  CHECK(estimate.streams == static_cast<int>(streams.size()));
  CHECK(estimate.tokens == 90u / 3 * (12 + 14 + 16));

  const int64_t before = test::heap_restart_peak();
  const scrub::CleanCache cache(setup.weights, setup.dataset, streams, settings.batch_size);
  CHECK(cache.bytes() == estimate.clean_cache);
  CHECK(estimate.clean_cache == estimate.tokens * streams.size() * 128 * sizeof(float));
  if (test::heap_tracking_available()) {
    const int64_t kept = test::heap_in_use() - before, peak = test::heap_peak() - before;
    INFO("kept " << kept << ", peak " << peak << ", estimated cache " << estimate.clean_cache << " + forward "
                 << estimate.clean_forward);
    CHECK(kept >= static_cast<int64_t>(estimate.clean_cache));
    CHECK(kept <= static_cast<int64_t>(estimate.clean_cache) + (64 << 10));  // offsets, map nodes
    CHECK(peak <= static_cast<int64_t>(estimate.clean_cache + estimate.clean_forward));
  }
}

TEST_CASE("the estimated peak bounds the measured heap peak, and not loosely", "[scrub][memory]") {
  if (!test::heap_tracking_available()) {
    WARN("heap tracking is unavailable in this build (sanitizers): peak not measured");
    return;
  }
  const engine::MatmulKernel kernel = GENERATE(from_range(test::matmul_kernels_here()));
  // GPT-2, and a Pythia-shaped model (an untied unembedding, no position embedding, MLPs reading resid_pre).
  const engine::ModelConfig family = GENERATE(test::small_config(), test::small_gpt_neox_config());
  INFO(engine::to_string(kernel) << ", " << engine::to_string(family.family));
  Setup small_vocabulary(211, family), large_vocabulary(20000, family);
  small_vocabulary.weights.matmul = large_vocabulary.weights.matmul = kernel;
  scrub::run_experiment(small_vocabulary.weights, small_vocabulary.dataset, small_vocabulary.hypotheses,
                        small_vocabulary.baseline, settings_with(16, 1));  // warm-up
  for (scrub::Metric metric : {scrub::Metric::logit_diff, scrub::Metric::kl, scrub::Metric::loss})
    for (int batch_size : {4, 16, 64}) {
      const Setup& setup = metric == scrub::Metric::logit_diff ? small_vocabulary : large_vocabulary;
      const auto settings = settings_with(batch_size, 2, metric);
      const scrub::MemoryEstimate estimate = scrub::estimate_memory(
          setup.weights.config, setup.weights.matmul, setup.dataset, setup.hypotheses, setup.baseline, settings);
      const int64_t measured = heap_growth(
          [&] { scrub::run_experiment(setup.weights, setup.dataset, setup.hypotheses, setup.baseline, settings); });
      // The weights exist before the run; the estimate's other parts are what the run allocates.
      const auto estimated = static_cast<int64_t>(estimate.peak() - estimate.weights);
      INFO(scrub::to_string(metric) << ", batch " << batch_size << ": measured " << measured << " bytes, estimated "
                                    << estimated << " (" << scrub::describe(estimate) << ")");
      CHECK(measured <= estimated);
      CHECK(static_cast<double>(estimated) <= 1.5 * static_cast<double>(measured));
    }
}

TEST_CASE("peak memory follows the batch, not the seeds or the references beyond the cache", "[scrub][memory]") {
  if (!test::heap_tracking_available()) {
    WARN("heap tracking is unavailable in this build (sanitizers): peaks not measured");
    return;
  }
  Setup setup;
  auto measure = [&](const data::Dataset& dataset, int batch_size, int seeds) {
    return heap_growth([&] {
      scrub::run_experiment(setup.weights, dataset, setup.hypotheses, setup.baseline, settings_with(batch_size, seeds));
    });
  };
  measure(setup.dataset, 8, 1);  // warm-up
  const int64_t one_seed = measure(setup.dataset, 8, 1), four_seeds = measure(setup.dataset, 8, 4);
  // Only the values kept per reference and seed (a few kB here) grow with the seeds.
  const auto results_bytes = [&](int seeds) {
    return static_cast<int64_t>(scrub::estimate_memory(setup.weights.config, setup.weights.matmul, setup.dataset,
                                                       setup.hypotheses, setup.baseline, settings_with(8, seeds))
                                    .results);
  };
  const int64_t per_seed_values = results_bytes(4) - results_bytes(1);
  INFO("1 seed " << one_seed << " bytes, 4 seeds " << four_seeds << ", per-seed values estimated " << per_seed_values);
  CHECK(per_seed_values < 16384);
  CHECK(std::abs(four_seeds - one_seed) <= 4096 + per_seed_values);

  const int64_t small_batches = measure(setup.dataset, 2, 1), large_batches = measure(setup.dataset, 30, 1);
  INFO("batch 2: " << small_batches << " bytes, batch 30: " << large_batches);
  CHECK(large_batches > small_batches);

  // Twice the references: the peak grows by about the estimate's growth (cache and results), which is linear.
  const data::Dataset twice = interleaved_dataset(180, memory_config().vocab_size, 43);
  const int64_t doubled = measure(twice, 8, 1);
  auto estimated = [&](const data::Dataset& dataset) {
    return static_cast<int64_t>(scrub::estimate_memory(setup.weights.config, setup.weights.matmul, dataset,
                                                       setup.hypotheses, setup.baseline, settings_with(8, 1))
                                    .peak());
  };
  INFO("90 prompts: " << one_seed << " bytes, 180 prompts: " << doubled << "; estimates " << estimated(setup.dataset)
                      << ", " << estimated(twice));
  CHECK(doubled - one_seed <= estimated(twice) - estimated(setup.dataset));
  CHECK(doubled - one_seed >= (estimated(twice) - estimated(setup.dataset)) / 2);
}

TEST_CASE("same numbers whatever the batch size, threads and number of seeds", "[scrub][memory][determinism]") {
  Setup setup;
  for (scrub::Metric metric : {scrub::Metric::logit_diff, scrub::Metric::kl}) {
    const int saved_threads = omp_get_max_threads();
    omp_set_num_threads(2);
    const auto reference =
        scrub::run_experiment(setup.weights, setup.dataset, setup.hypotheses, setup.baseline, settings_with(64, 3, metric));
    omp_set_num_threads(1);
    const auto small_batches =
        scrub::run_experiment(setup.weights, setup.dataset, setup.hypotheses, setup.baseline, settings_with(1, 3, metric));
    omp_set_num_threads(saved_threads);
    const auto odd_batches =
        scrub::run_experiment(setup.weights, setup.dataset, setup.hypotheses, setup.baseline, settings_with(7, 3, metric));
    INFO(scrub::to_string(metric));
    check_same_numbers(reference, small_batches);
    check_same_numbers(reference, odd_batches);
    // Seeds are streamed independently: the first seed of three is the only seed of one.
    const auto one_seed =
        scrub::run_experiment(setup.weights, setup.dataset, setup.hypotheses, setup.baseline, settings_with(5, 1, metric));
    CHECK(one_seed.model.value == reference.model.value);
    CHECK(one_seed.baseline_per_seed.front() == reference.baseline_per_seed.front());
    for (size_t h = 0; h < reference.hypotheses.size(); ++h) {
      REQUIRE(one_seed.hypotheses[h].recovered_per_seed.size() == 1);
      CHECK(same(one_seed.hypotheses[h].recovered_per_seed[0], reference.hypotheses[h].recovered_per_seed[0]));
      REQUIRE(one_seed.hypotheses[h].scrubbed_per_seed.size() == 1);
      CHECK(one_seed.hypotheses[h].scrubbed_per_seed[0] == reference.hypotheses[h].scrubbed_per_seed[0]);
    }
    CHECK(reference.hypotheses[0].scrubbed_per_seed[1] != reference.hypotheses[0].scrubbed_per_seed[0]);
  }
}

TEST_CASE("a run over the limit is refused before allocating, with a number of prompts that fits", "[scrub][memory]") {
  Setup setup;
  auto settings = settings_with(16, 2);
  const scrub::MemoryEstimate estimate = scrub::estimate_memory(
      setup.weights.config, setup.weights.matmul, setup.dataset, setup.hypotheses, setup.baseline, settings);
  settings.max_memory_bytes = estimate.peak() - estimate.clean_cache / 2;
  std::string message, hint;
  const int64_t allocated = heap_growth([&] {
    try {
      scrub::run_experiment(setup.weights, setup.dataset, setup.hypotheses, setup.baseline, settings);
    } catch (const Error& error) {
      message = error.what();
      hint = error.hint();
    }
  });
  INFO(message << "\nhint: " << hint);
  CHECK_THAT(message, Catch::Contains("would need about " + scrub::memory_text(estimate.peak())) &&
                          Catch::Contains("limit of " + scrub::memory_text(settings.max_memory_bytes)) &&
                          Catch::Contains("activation cache would need " + scrub::memory_text(estimate.clean_cache)));
  CHECK_THAT(hint, Catch::Contains("fewer activations") && Catch::Contains("raise --max-memory"));
  if (test::heap_tracking_available()) CHECK(allocated < static_cast<int64_t>(estimate.clean_cache / 10));

  std::smatch match;
  REQUIRE(std::regex_search(hint, match, std::regex("--n ([0-9]+) or fewer")));
  const int fits = std::stoi(match[1]);
  CHECK(fits < 90);
  CHECK(fits > 90 / 4);  // half the cache over the limit: about half the prompts fit
  data::Dataset smaller = setup.dataset;
  smaller.examples.resize(static_cast<size_t>(fits));
  CHECK(scrub::estimate_memory(setup.weights.config, setup.weights.matmul, smaller, setup.hypotheses, setup.baseline,
                               settings)
            .peak() <= settings.max_memory_bytes);
  CHECK_NOTHROW(scrub::run_experiment(setup.weights, smaller, setup.hypotheses, setup.baseline, settings));

  // The cache alone has its own limit.
  auto cache_limited = settings_with(16, 1);
  cache_limited.max_cache_bytes = estimate.clean_cache - 1;
  CHECK_THROWS_WITH(scrub::run_experiment(setup.weights, setup.dataset, setup.hypotheses, setup.baseline, cache_limited),
                    Catch::Contains("activation cache would need") && Catch::Contains("more than its limit"));
}
