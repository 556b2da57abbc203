// Exact edge patching of every edge (32,491 on a GPT-2-small-shaped model), in one run against two references:
// - the naive way, a full forward pass per edge with the child's input patched (timed on an evenly spaced
//   sample of each layer's edges and extrapolated to all of them, as the table says); its scores checked
//   against cscrub's;
// - exact_torch.py, an expert PyTorch implementation of the same downstream-only algorithm; its scores checked
//   against cscrub's.
// The three alternate layer by layer, the order rotated each time, and `--repeat R` times per layer, so that the
// load of a shared machine meets all three; the table gives each layer's best and median, and the totals sum them.
// Optionally also the time of ACDC on the bundled model.
//
// The pairs: random prompts whose corrupted twin differs at one position (`--start`, like IOI's p_ABC prompts,
// which differ at S2 only), so both implementations recompute the positions from there on.
//
// usage: bench_exact MODEL_DIR [--pairs 16] [--positions 16] [--start 10] [--naive-edges 48] [--repeat 1] [--no-torch]
//                    [--layers L,L,...] [--acdc-model DIR [--acdc-pairs 100] [--acdc-threshold 0.01]]
// (--layers: only the edges into those layers, "logits" for the logits' edges, for a quick look; the totals then
// cover those edges only.)
// (tools/bench/run_exact_bench.sh makes the GPT-2-small-shaped random model and runs this.)
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cscrub/discover/acdc.hpp"
#include "cscrub/discover/exact_patching.hpp"
#include "cscrub/discover/pair_batch.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/interventions.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/tokenizer.hpp"
#include "torch_server.hpp"

namespace {

using namespace cscrub;
using engine::RowMatrix;
using engine::Site;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string cpu_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// Random pairs whose corrupted prompt differs from the clean one at position `start` only.
discover::PairedDataset bench_pairs(int count, int positions, int start, int vocab, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int32_t> token(0, vocab - 1);
  discover::PairedDataset pairs;
  pairs.clean.schema.task = "bench";
  pairs.clean.schema.positions = {"END"};
  pairs.corrupted.schema = pairs.clean.schema;
  pairs.corruption = "one token changed at position " + std::to_string(start);
  for (int i = 0; i < count; ++i) {
    data::Example clean;
    for (int p = 0; p < positions; ++p) clean.tokens.push_back(token(generator));
    clean.answer = token(generator);
    do clean.distractor = token(generator);
    while (clean.distractor == clean.answer);
    clean.positions = {positions - 1};
    clean.group = "all";
    clean.text = "bench";
    data::Example corrupted = clean;
    do corrupted.tokens[static_cast<size_t>(start)] = token(generator);
    while (corrupted.tokens[static_cast<size_t>(start)] == clean.tokens[static_cast<size_t>(start)]);
    pairs.clean.examples.push_back(clean);
    pairs.corrupted.examples.push_back(corrupted);
  }
  return pairs;
}

// ln(x) * weight + bias, row by row (the naive route's own layer norm).
RowMatrix layer_norm(const RowMatrix& x, const engine::RowVector& weight, const engine::RowVector& bias, float epsilon) {
  RowMatrix out(x.rows(), x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const float mean = x.row(r).mean();
    const float variance = (x.row(r).array() - mean).square().mean();
    out.row(r) = ((x.row(r).array() - mean) / std::sqrt(variance + epsilon)) * weight.array() + bias.array();
  }
  return out;
}

// Overwrites columns of one hook point with fixed values.
class Overwrite : public engine::Interventions {
 public:
  Overwrite(engine::HookPoint hook, RowMatrix values, Eigen::Index first_column)
      : hook_(hook), values_(std::move(values)), column_(first_column) {}
  bool wants(engine::HookPoint hook) const override { return hook == hook_; }
  void visit(const engine::Activation& activation) override {
    engine::RowMatrixMap data(activation.data.data(), values_.rows(),
                              static_cast<Eigen::Index>(activation.data.size()) / values_.rows());
    data.middleCols(column_, values_.cols()) = values_;
  }

 private:
  engine::HookPoint hook_;
  RowMatrix values_;
  Eigen::Index column_;
};

// The naive way: for each edge, a full forward pass of every pair with the child's input (the clean run's
// stream plus the parent's change) written into the hook that reads it.
class NaivePatching {
 public:
  NaivePatching(const engine::Weights& weights, const discover::EdgeGraph& graph, const discover::PairedDataset& pairs)
      : weights_(weights), graph_(graph), pairs_(pairs) {
    const engine::ModelConfig& config = weights.config;
    batch_ = static_cast<int>(pairs.clean.examples.size());
    positions_ = static_cast<int>(pairs.clean.examples.front().tokens.size());
    for (const auto& example : pairs.clean.examples) clean_tokens_.insert(clean_tokens_.end(), example.tokens.begin(), example.tokens.end());
    std::vector<int32_t> corrupted_tokens;
    for (const auto& example : pairs.corrupted.examples)
      corrupted_tokens.insert(corrupted_tokens.end(), example.tokens.begin(), example.tokens.end());
    for (const auto& example : pairs.clean.examples) {
      ids_.push_back(example.answer);
      ids_.push_back(example.distractor);
    }
    std::sort(ids_.begin(), ids_.end());
    ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
    std::set<engine::HookPoint> hooks{{Site::embed, -1}, {Site::resid_post, config.n_layer - 1}};
    for (int layer = 0; layer < config.n_layer; ++layer)
      for (Site site : {Site::resid_pre, Site::resid_mid, Site::attn_result, Site::mlp_out}) hooks.insert({site, layer});
    clean_ = std::make_unique<engine::ActivationCache>(hooks);
    corrupted_ = std::make_unique<engine::ActivationCache>(hooks);
    clean_metric_ = metric(engine::forward(weights, {clean_tokens_, batch_, positions_}, request(), clean_.get()));
    (void)engine::forward(weights, {corrupted_tokens, batch_, positions_}, request(), corrupted_.get());
  }

  double score(const discover::Edge& edge) {
    const engine::ModelConfig& config = weights_.config;
    const RowMatrix change = output(*corrupted_, edge.source) - output(*clean_, edge.source);
    const discover::Destination child = graph_.destination(edge.destination);
    std::unique_ptr<Overwrite> patch;
    if (child.port == discover::Port::logits) {
      const engine::HookPoint hook{Site::resid_post, config.n_layer - 1};
      patch = std::make_unique<Overwrite>(hook, stored(*clean_, hook) + change, 0);
    } else if (child.port == discover::Port::mlp) {
      const engine::LayerWeights& lw = weights_.layers[static_cast<size_t>(child.layer)];
      patch = std::make_unique<Overwrite>(
          engine::HookPoint{Site::ln2_normalized, child.layer},
          layer_norm(stored(*clean_, {Site::resid_mid, child.layer}) + change, lw.ln2_weight, lw.ln2_bias,
                     config.layer_norm_epsilon),
          0);
    } else {
      const engine::LayerWeights& lw = weights_.layers[static_cast<size_t>(child.layer)];
      const int part = child.port == discover::Port::q ? 0 : child.port == discover::Port::k ? 1 : 2;
      const Eigen::Index column = part * config.d_model + child.head * config.d_head();
      RowMatrix projected = layer_norm(stored(*clean_, {Site::resid_pre, child.layer}) + change, lw.ln1_weight,
                                       lw.ln1_bias, config.layer_norm_epsilon) *
                            lw.qkv_weight.middleCols(column, config.d_head());
      projected.rowwise() += lw.qkv_bias.segment(column, config.d_head());
      const Site site = part == 0 ? Site::attn_q : part == 1 ? Site::attn_k : Site::attn_v;
      patch = std::make_unique<Overwrite>(engine::HookPoint{site, child.layer}, std::move(projected),
                                          child.head * config.d_head());
    }
    return metric(engine::forward(weights_, {clean_tokens_, batch_, positions_}, request(), patch.get())) - clean_metric_;
  }

 private:
  engine::LogitRequest request() const {
    engine::LogitRequest request;
    request.positions = engine::LogitRequest::Positions::last;
    request.token_ids = ids_;
    return request;
  }
  double metric(const RowMatrix& logits) const {
    double sum = 0;
    for (int b = 0; b < batch_; ++b) {
      const auto& example = pairs_.clean.examples[static_cast<size_t>(b)];
      auto column = [&](int32_t id) { return std::lower_bound(ids_.begin(), ids_.end(), id) - ids_.begin(); };
      sum += static_cast<double>(logits(b, column(example.answer))) - logits(b, column(example.distractor));
    }
    return sum / batch_;
  }
  RowMatrix stored(const engine::ActivationCache& cache, engine::HookPoint hook) const {
    const auto& values = cache.at(hook).values;
    const Eigen::Index rows = static_cast<Eigen::Index>(batch_) * positions_;
    return engine::ConstRowMatrixMap(values.data(), rows, static_cast<Eigen::Index>(values.size()) / rows);
  }
  RowMatrix output(const engine::ActivationCache& cache, int source) const {
    const discover::Source s = graph_.source(source);
    if (s.kind == discover::Source::Kind::input) return stored(cache, {Site::embed, -1});
    if (s.kind == discover::Source::Kind::mlp) return stored(cache, {Site::mlp_out, s.layer});
    const int d_model = weights_.config.d_model;
    return stored(cache, {Site::attn_result, s.layer}).middleCols(static_cast<Eigen::Index>(s.head) * d_model, d_model);
  }

  const engine::Weights& weights_;
  const discover::EdgeGraph& graph_;
  const discover::PairedDataset& pairs_;
  int batch_ = 0, positions_ = 0;
  std::vector<int32_t> clean_tokens_, ids_;
  std::unique_ptr<engine::ActivationCache> clean_, corrupted_;
  double clean_metric_ = 0;
};

std::string write_pairs_json(const discover::PairedDataset& pairs, const std::string& path) {
  nlohmann::json root;
  for (size_t i = 0; i < pairs.clean.examples.size(); ++i) {
    root["clean"].push_back(pairs.clean.examples[i].tokens);
    root["corrupted"].push_back(pairs.corrupted.examples[i].tokens);
    root["answer"].push_back(pairs.clean.examples[i].answer);
    root["distractor"].push_back(pairs.clean.examples[i].distractor);
  }
  std::ofstream(path) << root.dump();
  return path;
}

void run_acdc(const std::string& model_dir, int count, double threshold) {
  engine::Weights weights = io::load_weights(model_dir);
  const io::Tokenizer tokenizer = io::Tokenizer::load(model_dir);
  const discover::PairedDataset pairs = discover::make_paired_dataset("ioi", count, 0, tokenizer);
  const discover::EdgeGraph graph(discover::graph_shape(weights.config));
  for (const auto metric : {discover::Metric::kl, discover::Metric::logit_diff}) {
    const auto start = std::chrono::steady_clock::now();
    const auto result = discover::acdc(weights, graph, pairs, {.metric = metric, .threshold = threshold, .batch_size = 32});
    const double seconds = seconds_since(start);
    std::printf("ACDC on %s, %d IOI pairs (p_ABC), metric %s, tau %g: %.1f s for %d edges (%d measured, %.1f ms each); "
                "kept %d, %d after pruning\n",
                model_dir.c_str(), count, discover::to_string(metric).c_str(), threshold, seconds, graph.edge_count(),
                result.tried, 1000 * seconds / std::max(1, result.tried), result.kept, result.graph.edges_in_graph());
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::fprintf(stderr, "usage: bench_exact MODEL_DIR [--pairs 16] [--positions 16] [--start 10] [--naive-edges 48] "
                           "[--repeat 1] [--no-torch] [--acdc-model DIR [--acdc-pairs 100] [--acdc-threshold 0.01]]\n");
      return 2;
    }
    const std::string model_dir = argv[1];
    int count = 16, positions = 16, start = 10, naive_edges = 48, acdc_pairs = 100, repeats = 1;
    double acdc_threshold = 0.01;
    bool with_torch = true;
    std::string acdc_model, layer_list;
    for (int i = 2; i < argc; ++i) {
      const std::string arg = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw Error(arg + " needs a value");
        return argv[++i];
      };
      if (arg == "--pairs") count = std::stoi(next());
      else if (arg == "--positions") positions = std::stoi(next());
      else if (arg == "--start") start = std::stoi(next());
      else if (arg == "--naive-edges") naive_edges = std::stoi(next());
      else if (arg == "--no-torch") with_torch = false;
      else if (arg == "--repeat") repeats = std::max(1, std::stoi(next()));
      else if (arg == "--layers") layer_list = next();
      else if (arg == "--acdc-model") acdc_model = next();
      else if (arg == "--acdc-pairs") acdc_pairs = std::stoi(next());
      else if (arg == "--acdc-threshold") acdc_threshold = std::stod(next());
      else throw Error("unknown option " + arg);
    }
    std::printf("CPU: %s, %d hardware threads\n", cpu_name().c_str(), omp_get_max_threads());
    const engine::Weights weights = io::load_weights(model_dir);
    const engine::ModelConfig& config = weights.config;
    const discover::EdgeGraph graph(discover::graph_shape(config));
    const discover::PairedDataset pairs = bench_pairs(count, positions, start, config.vocab_size, 1);
    std::printf("model: %s (%d layers x %d heads, d_model %d): %d edges; %d pairs x %d tokens, %s\n", model_dir.c_str(),
                config.n_layer, config.n_head, config.d_model, graph.edge_count(), count, positions,
                pairs.corruption.c_str());

    std::unique_ptr<bench::TorchServer> torch;
    const std::string pairs_file = model_dir + "/../bench-exact-pairs.json";
    if (with_torch) {
      write_pairs_json(pairs, pairs_file);
      torch = std::make_unique<bench::TorchServer>(std::string("GLIBC_TUNABLES=glibc.malloc.hugetlb=1 /usr/bin/python3 ") +
                                                   CSCRUB_SOURCE_DIR + "/tools/bench/exact_torch.py '" + model_dir +
                                                   "' '" + pairs_file + "' --serve");
      if (!torch->ready()) throw Error("the PyTorch implementation did not start (its error is above); --no-torch skips it");
      std::printf("PyTorch: OpenBLAS core type and torch threads: %s; glibc huge pages\n", torch->ready_words().c_str());
    }

    // cscrub's best thread count here, as exact_torch.py finds PyTorch's: on a machine other jobs share, a
    // second thread can cost more in waiting for its partner than it saves.
    {
      double best_seconds = 0;
      int best_threads = 1;
      const discover::ExactPatchingOptions probe{.batch_size = count, .destinations = {3 * config.n_head}};
      for (int threads : {1, 2}) {
        omp_set_num_threads(threads);
        const auto begin = std::chrono::steady_clock::now();
        (void)discover::exact_edge_scores(weights, graph, pairs, probe);
        const double seconds = seconds_since(begin);
        if (threads == 1 || seconds < best_seconds) {
          best_seconds = seconds;
          best_threads = threads;
        }
      }
      omp_set_num_threads(best_threads);
      std::printf("cscrub: %d thread%s (the faster here on the edges into the first MLP)\n", best_threads,
                  best_threads == 1 ? "" : "s");
    }

    // Layer by layer (the logits last), cscrub's, PyTorch's and the naive way's work alternating, the order rotated
    // from layer to layer and repeat to repeat, so that the load other jobs put on the machine meets all three.
    // The naive way runs on a sample of each layer's edges, evenly spaced, extrapolated to the layer's edges.
    const int per_layer = 3 * config.n_head + 1;
    std::vector<double> scores(static_cast<size_t>(graph.edge_count()), std::nan(""));
    std::vector<std::pair<size_t, double>> naive_values;  // sampled edge, its naive score
    NaivePatching naive(weights, graph, pairs);
    struct Totals {
      double best = 0, median = 0;
    } ours_total, theirs_total, naive_total;
    auto best_and_median = [](std::vector<double> values) {
      std::sort(values.begin(), values.end());
      const size_t n = values.size();
      return std::pair{values.front(), n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2])};
    };
    std::printf("\n%6s %7s %6s | %9s %9s | %9s %9s | %9s %9s | %7s %7s\n", "layer", "edges", "naive", "cscrub",
                "(median)", "torch", "(median)", "naive", "(median)", "torch/", "naive/");
    std::printf("%6s %7s %6s | %9s %9s | %9s %9s | %9s %9s | %7s %7s\n", "", "", "sample", "best s", "s", "best s", "s",
                "best s", "s", "cscrub", "cscrub");
    int edges_scored = 0;
    int total_edges = 0;
    for (int layer = 0; layer <= config.n_layer; ++layer) {
      const std::string name = layer == config.n_layer ? "logits" : std::to_string(layer);
      if (layer_list.empty() || ("," + layer_list + ",").find("," + name + ",") != std::string::npos)
        total_edges += layer == config.n_layer ? graph.readable_sources(graph.destination_count() - 1)
                                               : [&] {
                                                   int n = 0;
                                                   for (int d = 0; d < per_layer; ++d)
                                                     n += graph.readable_sources(layer * per_layer + d);
                                                   return n;
                                                 }();
    }
    for (int layer = 0; layer <= config.n_layer; ++layer) {
      const std::string name = layer == config.n_layer ? "logits" : std::to_string(layer);
      if (!layer_list.empty() && ("," + layer_list + ",").find("," + name + ",") == std::string::npos) continue;
      discover::ExactPatchingOptions options{.metric = discover::Metric::logit_diff, .batch_size = count};
      if (layer == config.n_layer) options.destinations = {graph.destination_count() - 1};
      for (int d = 0; layer < config.n_layer && d < per_layer; ++d) options.destinations.push_back(layer * per_layer + d);
      std::vector<size_t> layer_edges;
      for (size_t e = 0; e < graph.edges().size(); ++e)
        if (std::find(options.destinations.begin(), options.destinations.end(), graph.edges()[e].destination) !=
            options.destinations.end())
          layer_edges.push_back(e);
      const int edges = static_cast<int>(layer_edges.size());
      edges_scored += edges;
      const int sample = std::clamp(static_cast<int>(std::lround(static_cast<double>(naive_edges) * edges / total_edges)),
                                    1, edges);
      std::vector<double> ours(static_cast<size_t>(repeats)), theirs(static_cast<size_t>(repeats)),
          naive_times(static_cast<size_t>(repeats));
      for (int repeat = 0; repeat < repeats; ++repeat) {
        const auto r = static_cast<size_t>(repeat);
        auto run_ours = [&] {
          const auto begin = std::chrono::steady_clock::now();
          const std::vector<double> layer_scores = discover::exact_edge_scores(weights, graph, pairs, options);
          ours[r] = seconds_since(begin);
          for (size_t e = 0; e < scores.size(); ++e)
            if (!std::isnan(layer_scores[e])) scores[e] = layer_scores[e];
        };
        auto run_theirs = [&] {
          if (torch) theirs[r] = std::atof(torch->request("layer " + std::to_string(layer)).c_str());
        };
        auto run_naive = [&] {
          double seconds = 0;
          for (int i = 0; i < sample; ++i) {
            const size_t e = layer_edges[static_cast<size_t>(static_cast<int64_t>(i) * edges / sample)];
            const auto begin = std::chrono::steady_clock::now();
            const double value = naive.score(graph.edges()[e]);
            seconds += seconds_since(begin);
            if (repeat == 0) naive_values.emplace_back(e, value);
          }
          naive_times[r] = seconds / sample * edges;  // extrapolated to the layer's edges
        };
        const std::function<void()> order[3] = {run_ours, run_theirs, run_naive};
        for (int k = 0; k < 3; ++k) order[(layer + repeat + k) % 3]();
      }
      const auto [ours_best, ours_median] = best_and_median(ours);
      const auto [theirs_best, theirs_median] = best_and_median(theirs);
      const auto [naive_best, naive_median] = best_and_median(naive_times);
      ours_total.best += ours_best;
      ours_total.median += ours_median;
      theirs_total.best += theirs_best;
      theirs_total.median += theirs_median;
      naive_total.best += naive_best;
      naive_total.median += naive_median;
      std::printf("%6s %7d %6d | %9.2f %9.2f | %9.2f %9.2f | %9.1f %9.1f | %6.2fx %6.2fx\n", name.c_str(), edges, sample,
                  ours_best, ours_median, theirs_best, theirs_median, naive_best, naive_median,
                  theirs_median / ours_median, naive_median / ours_median);
      std::fflush(stdout);
    }
    std::printf("%6s %7d %6zu | %9.2f %9.2f | %9.2f %9.2f | %9.1f %9.1f | %6.2fx %6.2fx\n", "all", edges_scored,
                naive_values.size(), ours_total.best, ours_total.median, theirs_total.best, theirs_total.median,
                naive_total.best, naive_total.median, theirs_total.median / ours_total.median,
                naive_total.median / ours_total.median);
    const auto cost = discover::exact_patching_cost(config, graph, pairs, {.batch_size = count});
    std::printf("cscrub: %.0f edges/s (all %d edges: %.3g TFLOP of patched runs; the naive way needs %.3g)\n",
                edges_scored / ours_total.median, graph.edge_count(), cost.exact_flops / 1e12, cost.naive_flops / 1e12);

    if (torch) {
      const std::string torch_scores_file = model_dir + "/../bench-exact-torch-scores.json";
      if (torch->request("scores " + torch_scores_file) != "ok") throw Error("PyTorch did not write its scores");
      std::ifstream in(torch_scores_file);
      const nlohmann::json theirs = nlohmann::json::parse(in);
      double worst = 0, largest = 0;
      for (size_t e = 0; e < scores.size(); ++e) {
        if (std::isnan(scores[e]) || theirs.at(e).is_null()) continue;
        worst = std::max(worst, std::abs(scores[e] - theirs.at(e).get<double>()));
        largest = std::max(largest, std::abs(scores[e]));
      }
      std::printf("PyTorch's scores against cscrub's: max |difference| %.3g (largest |score| %.3g)\n", worst, largest);
    }
    double worst = 0;
    for (const auto& [e, value] : naive_values) worst = std::max(worst, std::abs(value - scores[e]));
    std::printf("naive (a full forward pass per edge), on %zu edges spread over the layers: its scores against "
                "cscrub's: max |difference| %.3g\n",
                naive_values.size(), worst);
    std::printf("\nexact patching of %d edges, %d repeat%s (sums over the layers of each layer's best, and of its "
                "median):\n  cscrub best %.1f s, median %.1f s\n  naive (extrapolated) best %.0f s, median %.0f s: "
                "%.2fx (best), %.2fx (median)\n",
                edges_scored, repeats, repeats == 1 ? "" : "s", ours_total.best, ours_total.median, naive_total.best,
                naive_total.median, naive_total.best / ours_total.best, naive_total.median / ours_total.median);
    if (torch)
      std::printf("  PyTorch (same algorithm) best %.1f s, median %.1f s: %.2fx (best), %.2fx (median)\n",
                  theirs_total.best, theirs_total.median, theirs_total.best / ours_total.best,
                  theirs_total.median / ours_total.median);
    if (!acdc_model.empty()) run_acdc(acdc_model, acdc_pairs, acdc_threshold);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_exact: %s\n", error.what());
    return 1;
  }
  return 0;
}
