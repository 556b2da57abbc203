// Discovery's costs, measured in one run with the runs alternating so that both sides of each ratio meet the
// same moment of a shared machine:
//   1. one backward pass against one forward pass (issue: backward <= 2x the forward), on the logit difference at
//      the last position: the plain forward (two logit columns), the forward that keeps the tape, the backward
//      alone, and the backward handing over every destination's gradient (what EAP contracts);
//   2. (with --eap-ig) cscrub's EAP-IG over every edge against an expert PyTorch implementation of the same scores
//      (tools/bench/bench_eap_torch.py; issue: >= 1.5x with M = 5).
//
// usage: bench_discover MODEL_DIR [--batch 32] [--positions 16] [--repeat 10] [--steps 5] [--no-torch]
// (tools/bench/run_discover_bench.sh makes a GPT-2-small-shaped random model and runs this.)
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cscrub/engine/backward.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "peak_flops.hpp"

namespace {

using namespace cscrub;

double seconds_of(const auto& run) {
  const auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n == 0 ? 0 : n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Counts the destination gradients handed over, so that the compiler keeps the work.
struct CountingDestinations : engine::DestinationGradients {
  double sum = 0;
  void final_residual(const engine::RowMatrix& gradient) override { sum += gradient(0, 0); }
  void layer_inputs(int, const engine::RowMatrix& gradients) override { sum += gradients(0, 0); }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_discover MODEL_DIR [--batch B] [--positions P] [--repeat R]\n");
    return 2;
  }
  const std::string model_dir = argv[1];
  int batch = 32, positions = 16, repeat = 10;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 < argc && arg == "--batch") batch = std::atoi(argv[++i]);
    else if (i + 1 < argc && arg == "--positions") positions = std::atoi(argv[++i]);
    else if (i + 1 < argc && arg == "--repeat") repeat = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "bench_discover: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  try {
    engine::Weights weights = io::load_weights(model_dir);
    const engine::ModelConfig& config = weights.config;
    std::mt19937 generator(0);
    std::uniform_int_distribution<int32_t> pick(0, config.vocab_size - 1);
    std::vector<int32_t> tokens(static_cast<size_t>(batch) * positions);
    for (auto& token : tokens) token = pick(generator);
    const int threads = omp_get_max_threads();
    double peak = 0;
    for (int attempt = 0; attempt < 5; ++attempt) peak = std::max(peak, cscrub::bench::measure_peak_gflops(threads));
    std::printf("model %s: %d layers x %d heads x %d, vocab %d; batch %d x %d tokens; %d threads; %s\n",
                model_dir.c_str(), config.n_layer, config.n_head, config.d_model, config.vocab_size, batch, positions,
                threads, std::string(engine::to_string(weights.matmul)).c_str());
    std::printf("measured FP32 FMA peak: %.0f GFLOP/s\n\n", peak);

    // The logit difference of two tokens at the last position.
    engine::LogitRequest request;
    request.positions = engine::LogitRequest::Positions::last;
    request.token_ids = {11, 345};
    engine::RowMatrix logit_gradient(batch, 2);
    logit_gradient.col(0).setConstant(1.0f);
    logit_gradient.col(1).setConstant(-1.0f);

    engine::ForwardScratch scratch;
    engine::BackwardScratch backward_scratch, backward_destination_scratch;
    engine::BackwardTape tape;
    engine::RowMatrix logits;
    CountingDestinations destinations;
    const engine::TokenBatch token_batch{tokens, batch, positions};
    const auto forward = [&] { engine::forward_into(weights, token_batch, request, logits, nullptr, &scratch); };
    const auto taped = [&] { engine::forward_for_backward(weights, token_batch, request, logits, tape, nullptr, &scratch); };
    const auto backward = [&] {
      engine::backward(weights, tape, request, logit_gradient, nullptr, nullptr, &backward_scratch);
    };
    const auto backward_to_destinations = [&] {
      engine::backward(weights, tape, request, logit_gradient, nullptr, &destinations, &backward_destination_scratch);
    };
    forward();
    taped();
    backward();
    backward_to_destinations();  // warm-ups
    std::vector<double> forwards, tapeds, backwards, destination_backwards;
    for (int i = 0; i < repeat; ++i) {
      forwards.push_back(seconds_of(forward));
      tapeds.push_back(seconds_of(taped));
      backwards.push_back(seconds_of(backward));
      destination_backwards.push_back(seconds_of(backward_to_destinations));
    }
    const double best_forward = *std::min_element(forwards.begin(), forwards.end());
    const double forward_flops = engine::forward_flops(config, batch, positions, batch, 2) -
                                 engine::skipped_last_block_flops(config, batch, positions, batch);
    const double backward_flops = engine::backward_flops(config, batch, positions);
    auto row = [&](const char* what, const std::vector<double>& times, double flops) {
      const double best = *std::min_element(times.begin(), times.end());
      std::vector<double> ratios;
      for (size_t i = 0; i < times.size(); ++i) ratios.push_back(times[i] / forwards[i]);
      std::printf("%-44s %9.1f ms %9.1f ms %9.3fx %9.3fx %8.1f %8.1f%%\n", what, 1e3 * best, 1e3 * median(times),
                  best / best_forward, median(ratios), flops / best / 1e9, 100 * flops / best / 1e9 / peak);
    };
    std::printf("%-44s %12s %12s %10s %10s %8s %9s\n", "pass", "best", "median", "best/fwd", "median/fwd",
                "GFLOP/s", "% peak");
    row("forward (2 logit columns, last position)", forwards, forward_flops);
    row("forward keeping the tape", tapeds, engine::forward_flops(config, batch, positions, batch, 2));
    row("backward", backwards, backward_flops);
    row("backward, every destination's gradient", destination_backwards, backward_flops);
    std::printf("(checksum %g)\n", destinations.sum);
  } catch (const cscrub::Error& error) {
    std::fprintf(stderr, "bench_discover: %s\n", error.what());
    return 1;
  }
  return 0;
}
