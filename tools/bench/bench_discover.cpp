// Discovery's costs, measured in one run, the compared runs alternating so that both sides of each ratio meet the
// same moment of a shared machine:
//   1. EAP-IG over every edge (M steps) against an expert PyTorch implementation of the same scores
//      (tools/bench/bench_eap_torch.py, on the same pairs; issue: >= 1.5x with M = 5); the scores are compared too;
//   2. one backward pass against one forward pass (issue: backward <= 2x the forward), for the logit difference at
//      the last position: the plain forward (two logit columns), the forward that keeps the tape, the backward
//      alone, and the backward handing over every destination's gradient (what EAP contracts).
// Each line gives the best time, the median, and the median of the paired ratios.
//
// usage: bench_discover MODEL_DIR [--batch 32] [--positions 16] [--steps 5] [--repeat 5] [--no-torch]
// (tools/bench/run_discover_bench.sh makes a GPT-2-small-shaped random model and runs this.)
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cscrub/discover/edge_attribution.hpp"
#include "cscrub/discover/pair_file.hpp"
#include "cscrub/engine/backward.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/npy.hpp"
#include "peak_flops.hpp"
#include "torch_server.hpp"

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

double best(const std::vector<double>& values) { return *std::min_element(values.begin(), values.end()); }

// Counts the destination gradients handed over, so that the compiler keeps the work.
struct CountingDestinations : engine::DestinationGradients {
  double sum = 0;
  void final_residual(const engine::RowMatrix& gradient) override { sum += gradient(0, 0); }
  void layer_inputs(int, const engine::RowMatrix& gradients) override { sum += gradients(0, 0); }
};

std::string torch_command(const std::string& model_dir, int batch, int positions, int steps, const std::string& extra) {
  // glibc's huge pages for fresh tensors, as bench_engine gives PyTorch (2x on virtual machines).
  return std::string("GLIBC_TUNABLES=glibc.malloc.hugetlb=1 /usr/bin/python3 ") + CSCRUB_SOURCE_DIR +
         "/tools/bench/bench_eap_torch.py '" + model_dir + "' --batch " + std::to_string(batch) + " --positions " +
         std::to_string(positions) + " --steps " + std::to_string(steps) + " " + extra;
}

// Part 1: cscrub's EAP-IG and PyTorch's on the pairs PyTorch draws (written to a pair file), alternating.
void compare_eap_ig(const engine::Weights& weights, const std::string& model_dir, int batch, int positions, int steps,
                    int repeat, bool with_torch) {
  const std::string pairs_file = "/tmp/cscrub-bench-discover-pairs.jsonl";
  const std::string scores_file = "/tmp/cscrub-bench-discover-torch-scores.npy";
  std::unique_ptr<bench::TorchServer> torch;
  if (with_torch) {
    torch = std::make_unique<bench::TorchServer>(
        torch_command(model_dir, batch, positions, steps, "--serve --pairs-out " + pairs_file + " --scores " + scores_file));
    if (!torch->ready()) throw Error("the PyTorch EAP-IG did not start (its error is above); --no-torch measures cscrub alone");
    std::printf("PyTorch: OpenBLAS core type %s, %s torch thread(s) (the faster of 1 and 2), glibc huge pages\n",
                torch->openblas_core().c_str(), torch->details().c_str());
  } else {
    const std::string command = torch_command(model_dir, batch, positions, steps, "--repeat 0 --threads 1 --pairs-out " + pairs_file);
    if (std::system(command.c_str()) != 0) throw Error("could not write the pairs with " + command);
  }
  const discover::PairedDataset pairs = discover::read_pair_file(pairs_file, weights.config, nullptr);
  const discover::EdgeAttributionSettings settings{.method = discover::EdgeMethod::eap_ig, .steps = steps,
                                                   .metric = discover::Metric::logit_diff, .batch_size = batch};
  discover::EdgeAttribution attribution = discover::attribute_edges(weights, pairs, settings);  // warm-up
  if (torch) {
    // The same scores: PyTorch's [source, destination] matrix against cscrub's edges.
    const io::NpyArray theirs = io::read_npy(scores_file);
    const auto& values = std::get<std::vector<float>>(theirs.values);
    const discover::EdgeGraph& graph = attribution.graph.graph;
    double largest = 0, difference = 0;
    for (size_t e = 0; e < graph.edges().size(); ++e) {
      const discover::Edge edge = graph.edges()[e];
      const double expected = values[static_cast<size_t>(edge.source) * graph.destination_count() + edge.destination];
      largest = std::max(largest, std::abs(expected));
      difference = std::max(difference, std::abs(expected - attribution.graph.scores[e]));
    }
    std::printf("scores: max |cscrub - PyTorch| %.2e over %d edges (largest |score| %.3g)\n", difference,
                graph.edge_count(), largest);
    torch->seconds("run");  // warm-up
  }
  std::vector<double> ours, theirs, ratios;
  for (int i = 0; i < repeat; ++i) {
    ours.push_back(seconds_of([&] { attribution = discover::attribute_edges(weights, pairs, settings); }));
    if (!torch) continue;
    theirs.push_back(torch->seconds("run"));
    if (theirs.back() <= 0) throw Error("the PyTorch EAP-IG stopped answering (its error is above)");
    ratios.push_back(theirs.back() / ours.back());
  }
  const std::string title = "EAP-IG (M = " + std::to_string(steps) + "), every edge";
  std::printf("\n%-34s %10s %10s %12s %12s\n", title.c_str(), "best", "median", "best ratio", "median ratio");
  std::printf("%-34s %8.3f s %8.3f s\n", "cscrub", best(ours), median(ours));
  if (torch)
    std::printf("%-34s %8.3f s %8.3f s %11.3fx %11.3fx\n", "PyTorch (expert, CPU)", best(theirs), median(theirs),
                best(theirs) / best(ours), median(ratios));
}

// Part 2: one backward against one forward.
void compare_backward(engine::Weights& weights, int batch, int positions, int repeat, double peak) {
  const engine::ModelConfig& config = weights.config;
  std::mt19937 generator(0);
  std::uniform_int_distribution<int32_t> pick(0, config.vocab_size - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(batch) * positions);
  for (auto& token : tokens) token = pick(generator);
  engine::LogitRequest request;  // the logit difference of two tokens at the last position
  request.positions = engine::LogitRequest::Positions::last;
  request.token_ids = {11, 345};
  engine::RowMatrix logit_gradient(batch, 2);
  logit_gradient.col(0).setConstant(1.0f);
  logit_gradient.col(1).setConstant(-1.0f);

  engine::ForwardScratch scratch;
  engine::BackwardScratch backward_scratch, destination_scratch;
  engine::BackwardTape tape;
  engine::RowMatrix logits;
  CountingDestinations destinations;
  const engine::TokenBatch token_batch{tokens, batch, positions};
  const auto forward = [&] { engine::forward_into(weights, token_batch, request, logits, nullptr, &scratch); };
  const auto taped = [&] { engine::forward_for_backward(weights, token_batch, request, logits, tape, nullptr, &scratch); };
  const auto backward = [&] { engine::backward(weights, tape, request, logit_gradient, nullptr, nullptr, &backward_scratch); };
  const auto to_destinations = [&] {
    engine::backward(weights, tape, request, logit_gradient, nullptr, &destinations, &destination_scratch);
  };
  forward();
  taped();
  backward();
  to_destinations();  // warm-ups
  std::vector<double> forwards, tapeds, backwards, destination_backwards;
  for (int i = 0; i < repeat; ++i) {
    forwards.push_back(seconds_of(forward));
    tapeds.push_back(seconds_of(taped));
    backwards.push_back(seconds_of(backward));
    destination_backwards.push_back(seconds_of(to_destinations));
  }
  const double forward_flops = engine::forward_flops(config, batch, positions, batch, 2) -
                               engine::skipped_last_block_flops(config, batch, positions, batch);
  const double backward_flops = engine::backward_flops(config, batch, positions);
  auto row = [&](const char* what, const std::vector<double>& times, double flops) {
    std::vector<double> ratios;
    for (size_t i = 0; i < times.size(); ++i) ratios.push_back(times[i] / forwards[i]);
    std::printf("%-42s %8.1f ms %8.1f ms %9.3fx %11.3fx %8.1f %7.1f%%\n", what, 1e3 * best(times), 1e3 * median(times),
                best(times) / best(forwards), median(ratios), flops / best(times) / 1e9,
                100 * flops / best(times) / 1e9 / peak);
  };
  std::printf("\n%-42s %11s %11s %10s %12s %8s %8s\n", "one pass", "best", "median", "best/fwd", "median/fwd",
              "GFLOP/s", "% peak");
  row("forward (2 logit columns, last position)", forwards, forward_flops);
  row("forward keeping the tape", tapeds, engine::forward_flops(config, batch, positions, batch, 2));
  row("backward", backwards, backward_flops);
  row("backward, every destination's gradient", destination_backwards, backward_flops);
  std::printf("(checksum %g)\n", destinations.sum);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_discover MODEL_DIR [--batch B] [--positions P] [--steps M] [--repeat R] [--no-torch]\n");
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines as they come, also into a pipe or a log
  const std::string model_dir = argv[1];
  int batch = 32, positions = 16, repeat = 5, steps = 5;
  bool with_torch = true;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--no-torch") with_torch = false;
    else if (i + 1 < argc && arg == "--steps") steps = std::atoi(argv[++i]);
    else if (i + 1 < argc && arg == "--batch") batch = std::atoi(argv[++i]);
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
    const int threads = omp_get_max_threads();
    double peak = 0;
    for (int attempt = 0; attempt < 5; ++attempt) peak = std::max(peak, bench::measure_peak_gflops(threads));
    std::printf("model %s: %d layers x %d heads x %d, vocab %d; %d pairs x %d tokens; %d threads; %s products\n",
                model_dir.c_str(), config.n_layer, config.n_head, config.d_model, config.vocab_size, batch, positions,
                threads, std::string(engine::to_string(weights.matmul)).c_str());
    std::printf("measured FP32 FMA peak: %.0f GFLOP/s\n", peak);
    std::signal(SIGPIPE, SIG_IGN);  // a PyTorch server that died reads as "no result", not as our death
    compare_eap_ig(weights, model_dir, batch, positions, steps, repeat, with_torch);
    compare_backward(weights, batch, positions, repeat, peak);
  } catch (const cscrub::Error& error) {
    std::fprintf(stderr, "bench_discover: %s\n", error.what());
    return 1;
  }
  return 0;
}
