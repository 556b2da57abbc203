// What scrubbing a hypothesis costs, in clean forward passes of the dataset (issue target: the 26-head IOI
// circuit on 200 prompts of a GPT-2-small-shaped model costs <= 5). Prints the FLOP-count ratio the
// scrubber reports and the measured wall-time ratio against a clean forward pass of the same prompts.
//
// usage: bench_scrub MODEL_DIR HYPOTHESIS.toml [--n 200] [--seeds 1]
// (tools/bench/run_scrub_bench.sh runs it on a GPT-2-small-shaped random model.)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cscrub/data/tasks.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/error.hpp"
#include "cscrub/graph/builtin.hpp"
#include "cscrub/graph/check.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/tokenizer.hpp"
#include "cscrub/scrub/experiment.hpp"

int main(int argc, char** argv) {
  using namespace cscrub;
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_scrub MODEL_DIR HYPOTHESIS.toml [--n N] [--seeds K]\n");
    return 2;
  }
  const std::string model_dir = argv[1], hypothesis_file = argv[2];
  int n = 200, seeds = 1;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--n") n = std::atoi(argv[i + 1]);
    else if (arg == "--seeds") seeds = std::atoi(argv[i + 1]);
  }
  try {
    const engine::Weights weights = io::load_weights(model_dir);
    const graph::Hypothesis hypothesis = graph::load_hypothesis(hypothesis_file, weights.config);
    const graph::Hypothesis baseline = graph::builtin_hypothesis("builtin:none", weights.config, hypothesis.defaults.task);
    const data::Dataset dataset =
        data::make_dataset(hypothesis.defaults.task, n, 0, io::Tokenizer::load(model_dir));

    // Reference: one clean forward pass over the prompts, batched by length, last-position logits only.
    const auto clean_start = std::chrono::steady_clock::now();
    for (const auto& example : dataset.examples) {
      engine::LogitRequest last;
      last.positions = engine::LogitRequest::Positions::last;
      last.token_ids = {example.answer, example.distractor};
      engine::forward(weights, {example.tokens, 1, static_cast<int>(example.tokens.size())}, last);
    }
    const double clean_unbatched = std::chrono::duration<double>(std::chrono::steady_clock::now() - clean_start).count();

    scrub::ExperimentSettings settings;
    settings.seeds = seeds;
    const auto scrub_start = std::chrono::steady_clock::now();
    const scrub::ExperimentResult result = scrub::run_experiment(weights, dataset, {hypothesis}, baseline, settings);
    const double scrub_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - scrub_start).count();

    const auto& score = result.hypotheses.front();
    std::printf("hypothesis %s on %s: %d prompts, %d seed(s)\n", hypothesis.name.c_str(), model_dir.c_str(), result.n, seeds);
    std::printf("recovered %.1f%%  (%lld head and %lld MLP re-evaluations)\n", 100 * score.recovered.value,
                static_cast<long long>(result.cost.head_evaluations), static_cast<long long>(result.cost.mlp_evaluations));
    std::printf("cost in FLOPs: %.2f clean forward passes (1 cache pass + %.3f of recomputation, baseline included)\n",
                result.cost.forward_equivalents(), result.cost.scrub_flops / result.cost.clean_forward_flops);
    std::printf("wall time: whole experiment %.2f s; one clean forward of the prompts, one by one: %.2f s; ratio %.2f\n",
                scrub_seconds, clean_unbatched, scrub_seconds / clean_unbatched);
  } catch (const cscrub::Error& error) {
    std::fprintf(stderr, "bench_scrub: %s\n", error.what());
    return 1;
  }
  return 0;
}
