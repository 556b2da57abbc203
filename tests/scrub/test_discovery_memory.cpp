// The memory estimates of the edge-level methods (exact patching, circuit evaluation, ACDC) against the heap's
// measured peak (heap_tracking counts every allocation exactly): each must bound the peak, and not loosely.
#include <catch2/catch.hpp>
#include <functional>
#include <random>

#include "cscrub/discover/acdc.hpp"
#include "cscrub/discover/circuit_evaluation.hpp"
#include "cscrub/discover/exact_patching.hpp"
#include "heap_tracking.hpp"
#include "random_weights.hpp"
#include "synthetic_prompts.hpp"

using namespace cscrub;

namespace {

discover::PairedDataset random_pairs(int per_group, int vocab) {
  data::Dataset dataset;
  dataset.schema = test::synthetic_schema({"a"});
  std::mt19937 generator(5);
  for (int length : {9, 12})
    for (int i = 0; i < per_group; ++i) {
      data::Example example = test::random_prompt(generator, vocab, length);
      example.features = {"0"};
      dataset.examples.push_back(example);
    }
  return discover::pair_within_groups(dataset, 6);
}

int64_t peak_of(const std::function<void()>& run) {
  const int64_t before = test::heap_restart_peak();
  run();
  return test::heap_peak() - before;
}

void check_estimate(const char* what, int64_t peak, uint64_t estimate) {
  INFO(what << ": measured peak " << peak << " bytes, estimated " << estimate);
  CHECK(peak <= static_cast<int64_t>(estimate));
  CHECK(peak >= static_cast<int64_t>(estimate) / 4);
}

}  // namespace

TEST_CASE("the edge-level methods' memory estimates bound their heap peaks, and not loosely", "[scrub][memory]") {
  if (!test::heap_tracking_available()) {
    WARN("heap tracking is unavailable in this build (sanitizers): peaks not measured");
    return;
  }
  engine::ModelConfig config = test::small_config();
  config.vocab_size = 3000;  // so that the metrics over the vocabulary weigh something
  const engine::Weights weights = test::random_weights(config, 9);
  const discover::PairedDataset pairs = random_pairs(12, config.vocab_size);
  const discover::EdgeGraph graph(discover::graph_shape(config));

  for (const discover::Metric metric : {discover::Metric::logit_diff, discover::Metric::kl}) {
    INFO(discover::to_string(metric));
    const discover::ExactPatchingOptions exact{.metric = metric, .batch_size = 8, .max_rows = 2048};
    check_estimate("exact patching", peak_of([&] { (void)discover::exact_edge_scores(weights, graph, pairs, exact); }),
                   discover::exact_patching_bytes(config, pairs, exact));

    const std::vector<std::vector<uint8_t>> circuits(3, std::vector<uint8_t>(static_cast<size_t>(graph.edge_count()), 1));
    for (const bool resident : {false, true}) {
      INFO((resident ? "resident" : "streamed"));
      check_estimate("circuit evaluation", peak_of([&] {
                       discover::CircuitEvaluator evaluator(weights, graph, pairs, discover::CircuitAblation::counterfactual,
                                                            metric, 8, resident);
                       std::vector<std::vector<uint8_t>> mixed = circuits;
                       for (size_t e = 0; e < mixed[1].size(); e += 2) mixed[1][e] = 0;
                       std::fill(mixed[2].begin(), mixed[2].end(), 0);
                       (void)evaluator.per_pair(mixed);
                     }),
                     discover::circuit_evaluation_bytes(config, pairs, discover::CircuitAblation::counterfactual, metric, 8,
                                                        resident));
    }
  }
  const discover::AcdcOptions acdc{.metric = discover::Metric::kl, .threshold = 0.01, .batch_size = 8};
  check_estimate("ACDC", peak_of([&] { (void)discover::acdc(weights, graph, pairs, acdc); }),
                 discover::acdc_bytes(config, pairs, acdc));
}
