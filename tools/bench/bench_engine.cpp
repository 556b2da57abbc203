// The engine against tuned PyTorch on the same weights, in the same run (issue: >= 1.2x with full logits,
// >= 1.5x with last-position logits), and as a fraction of the machine's measured FP32 peak.
//
// usage: bench_engine MODEL_DIR [--batch 64] [--positions 16] [--repeat 5] [--no-torch]
// (tools/bench/run_engine_bench.sh makes a GPT-2-small-shaped random model and runs this.)
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "cscrub/engine/forward.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "peak_flops.hpp"

namespace {

using namespace cscrub;

double best_seconds(int repeat, const auto& run) {
  run();  // warm-up
  double best = 1e30;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

double torch_tokens_per_second(const std::string& model_dir, int batch, int positions, int repeat, bool last_only) {
  // glibc's huge-page tunable: without it PyTorch's fresh tensors are faulted in 4 KiB at a time, which
  // halves its speed on virtual machines (measured 550 -> 1,100 tokens/s with full logits).
  // OPENBLAS_CORETYPE is forced, not inherited: machines here export OPENBLAS_CORETYPE=Haswell, which
  // costs OpenBLAS 40% on this CPU (measured 1,130 -> 690 tokens/s); CSCRUB_BENCH_OPENBLAS_CORETYPE overrides.
  const std::string command = std::string("GLIBC_TUNABLES=glibc.malloc.hugetlb=1 ") +
                              "OPENBLAS_CORETYPE=\"${CSCRUB_BENCH_OPENBLAS_CORETYPE:-SkylakeX}\" /usr/bin/python3 " +
                              CSCRUB_SOURCE_DIR + "/tools/bench/bench_torch.py '" +
                              model_dir + "' --batch " + std::to_string(batch) + " --positions " +
                              std::to_string(positions) + " --repeat " + std::to_string(repeat) +
                              (last_only ? " --last-only" : "");
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return 0;
  char line[256] = {};
  const bool read = std::fgets(line, sizeof line, pipe) != nullptr;
  const int status = ::pclose(pipe);
  return read && status == 0 ? std::atof(line) : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_engine MODEL_DIR [--batch B] [--positions P] [--repeat R] [--no-torch]\n");
    return 2;
  }
  const std::string model_dir = argv[1];
  int batch = 64, positions = 16, repeat = 5;
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
    const engine::Weights weights = io::load_weights(model_dir);
    const engine::ModelConfig& config = weights.config;
    std::mt19937 generator(0);
    std::uniform_int_distribution<int32_t> pick(0, config.vocab_size - 1);
    std::vector<int32_t> tokens(static_cast<size_t>(batch) * positions);
    for (auto& token : tokens) token = pick(generator);
    const int threads = omp_get_max_threads();
    const double peak = cscrub::bench::measure_peak_gflops(threads);
    std::printf("model %s: %d layers x %d heads x %d, vocab %d; batch %d x %d tokens; %d threads\n", model_dir.c_str(),
                config.n_layer, config.n_head, config.d_model, config.vocab_size, batch, positions, threads);
    std::printf("measured FP32 FMA peak: %.0f GFLOP/s\n", peak);
    const char* coretype = std::getenv("CSCRUB_BENCH_OPENBLAS_CORETYPE");
    if (with_torch)
      std::printf("PyTorch: OpenBLAS core type %s, 1 torch thread, glibc huge pages\n", coretype ? coretype : "SkylakeX");
    std::printf("\n");
    std::printf("%-22s %12s %12s %8s %10s %8s\n", "logits", "cscrub tok/s", "torch tok/s", "ratio", "GFLOP/s", "% peak");
    for (bool last_only : {false, true}) {
      engine::LogitRequest request;
      if (last_only) request.positions = engine::LogitRequest::Positions::last;
      const double seconds =
          best_seconds(repeat, [&] { engine::forward(weights, {tokens, batch, positions}, request); });
      const double tokens_per_second = batch * positions / seconds;
      const int logit_rows = last_only ? batch : batch * positions;
      const double gflops = engine::forward_flops(config, batch, positions, logit_rows, config.vocab_size) / seconds / 1e9;
      const double torch = with_torch ? torch_tokens_per_second(model_dir, batch, positions, repeat, last_only) : 0;
      std::printf("%-22s %12.1f %12.1f %8s %10.1f %7.1f%%\n", last_only ? "last position" : "all positions",
                  tokens_per_second, torch, torch > 0 ? (std::to_string(tokens_per_second / torch).substr(0, 5) + "x").c_str() : "-",
                  gflops, 100 * gflops / peak);
    }
  } catch (const cscrub::Error& error) {
    std::fprintf(stderr, "bench_engine: %s\n", error.what());
    return 1;
  }
  return 0;
}
