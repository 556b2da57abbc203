// The engine against tuned PyTorch on the same weights, in the same run (issue: >= 1.2x with full logits,
// >= 1.5x with last-position logits), in each matrix-product kernel this machine runs, and as a fraction of
// the machine's measured FP32 FMA peak (the AMX kernel does not use FMAs, so it can pass 100%). cscrub's and
// PyTorch's forwards alternate; the table gives each side's best and the median ratio of adjacent pairs.
//
// usage: bench_engine MODEL_DIR [--batch 64] [--positions 16] [--repeat 10] [--no-torch]
// (tools/bench/run_engine_bench.sh makes a GPT-2-small-shaped random model and runs this.)
#include <omp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cscrub/engine/forward.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
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

std::string ratio_text(double ratio) {
  if (ratio <= 0) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.3fx", ratio);
  return text;
}

std::string torch_command(const std::string& model_dir, int batch, int positions) {
  // glibc's huge-page tunable: without it PyTorch's fresh tensors are faulted in 4 KiB at a time, which
  // halves its speed on virtual machines (measured 550 -> 1,100 tokens/s with full logits). bench_torch.py
  // chooses OpenBLAS's core type for this CPU (CSCRUB_BENCH_OPENBLAS_CORETYPE overrides).
  return std::string("GLIBC_TUNABLES=glibc.malloc.hugetlb=1 /usr/bin/python3 ") + CSCRUB_SOURCE_DIR +
         "/tools/bench/bench_torch.py '" + model_dir + "' --batch " + std::to_string(batch) + " --positions " +
         std::to_string(positions) + " --serve";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_engine MODEL_DIR [--batch B] [--positions P] [--repeat R] [--no-torch]\n");
    return 2;
  }
  const std::string model_dir = argv[1];
  int batch = 64, positions = 16, repeat = 10;
  bool with_torch = true;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--no-torch") with_torch = false;
    else if (i + 1 < argc && arg == "--batch") batch = std::atoi(argv[++i]);
    else if (i + 1 < argc && arg == "--positions") positions = std::atoi(argv[++i]);
    else if (i + 1 < argc && arg == "--repeat") repeat = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "bench_engine: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  try {
    engine::Weights weights = io::load_weights(model_dir);
    // Every kernel this machine runs, each against PyTorch.
    std::vector<engine::MatmulKernel> kernels{engine::MatmulKernel::fp32_fma};
    if (engine::amx_usable()) kernels.push_back(engine::MatmulKernel::amx_split_bf16);
    const engine::ModelConfig& config = weights.config;
    std::mt19937 generator(0);
    std::uniform_int_distribution<int32_t> pick(0, config.vocab_size - 1);
    std::vector<int32_t> tokens(static_cast<size_t>(batch) * positions);
    for (auto& token : tokens) token = pick(generator);
    const int threads = omp_get_max_threads();
    // The best of five: a moment's contention on a shared machine reads as a lower peak.
    double peak = 0;
    for (int attempt = 0; attempt < 5; ++attempt) peak = std::max(peak, cscrub::bench::measure_peak_gflops(threads));
    std::printf("model %s: %d layers x %d heads x %d, vocab %d; batch %d x %d tokens; %d threads\n", model_dir.c_str(),
                config.n_layer, config.n_head, config.d_model, config.vocab_size, batch, positions, threads);
    std::printf("measured FP32 FMA peak: %.0f GFLOP/s\n", peak);
    std::signal(SIGPIPE, SIG_IGN);  // a PyTorch server that died reads as "no result", not as our death
    std::unique_ptr<bench::TorchServer> torch;
    if (with_torch) {
      torch = std::make_unique<bench::TorchServer>(torch_command(model_dir, batch, positions));
      if (!torch->ready())
        throw Error(
            "the PyTorch reference did not start (its error is above); --no-torch "
            "measures cscrub alone");
      std::printf("PyTorch: OpenBLAS core type %s, 1 torch thread, glibc huge pages\n", torch->openblas_core().c_str());
    }
    std::printf("\n");
    std::printf("%-15s %-15s %12s %12s %11s %13s %9s %10s\n", "logits", "matmul", "cscrub tok/s", "torch tok/s",
                "best ratio", "median ratio", "GFLOP/s", "% FMA peak");
    for (bool last_only : {false, true})
      for (const engine::MatmulKernel kernel : kernels) {
        weights.matmul = kernel;
        engine::LogitRequest request;
        if (last_only) request.positions = engine::LogitRequest::Positions::last;
        // As a caller running many forwards does (`cscrub forward --repeat`, the activation cache): one scratch
        // and one logits matrix.
        engine::ForwardScratch scratch;
        engine::RowMatrix logits;
        const auto run = [&] {
          engine::forward_into(weights, {tokens, batch, positions}, request, logits, nullptr, &scratch);
        };
        // Alternating forwards, each side's best, and the median of the paired ratios (each pair ran within
        // a second of each other).
        run();
        if (torch) torch->seconds(last_only);  // warm-ups
        std::vector<double> ours, theirs, ratios;
        for (int i = 0; i < repeat; ++i) {
          ours.push_back(seconds_of(run));
          if (!torch) continue;
          const double torch_seconds = torch->seconds(last_only);
          if (torch_seconds <= 0) throw Error("the PyTorch reference stopped answering (its error is above)");
          theirs.push_back(torch_seconds);
          ratios.push_back(torch_seconds / ours.back());
        }
        const double seconds = *std::min_element(ours.begin(), ours.end());
        const double tokens_per_second = batch * positions / seconds;
        const double torch_tokens_per_second =
            theirs.empty() ? 0 : batch * positions / *std::min_element(theirs.begin(), theirs.end());
        const int logit_rows = last_only ? batch : batch * positions;
        // The work actually done: last-position logits skip most of the last block for the other rows.
        const double flops = engine::forward_flops(config, batch, positions, logit_rows, config.vocab_size) -
                             engine::skipped_last_block_flops(config, batch, positions, logit_rows);
        const double gflops = flops / seconds / 1e9;
        const double best_ratio = torch_tokens_per_second > 0 ? tokens_per_second / torch_tokens_per_second : 0;
        std::printf("%-15s %-15s %12.1f %12.1f %11s %13s %9.1f %9.1f%%\n",
                    last_only ? "last position" : "all positions", std::string(engine::to_string(kernel)).c_str(),
                    tokens_per_second, torch_tokens_per_second, ratio_text(best_ratio).c_str(),
                    ratio_text(median(ratios)).c_str(), gflops, 100 * gflops / peak);
      }
  } catch (const cscrub::Error& error) {
    std::fprintf(stderr, "bench_engine: %s\n", error.what());
    return 1;
  }
  return 0;
}
