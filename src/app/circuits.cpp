#include "cscrub/app/circuits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "cscrub/app/model_choice.hpp"
#include "cscrub/app/ranks_work.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/discover/circuit_selection.hpp"
#include "cscrub/discover/rank_agreement.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/input_file.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/sha256.hpp"

namespace cscrub::app {
namespace {

// The signed ranking that puts a file's important edges first: for a metric where higher is better, corrupting
// an important edge lowers it (a negative score); for KL or a loss it raises it. Files without cscrub's record
// (EAP-IG, MIB) follow MIB's convention: positive means important.
discover::Ranking importance_first(const std::string& signed_order, const GraphFile& file) {
  if (signed_order != "auto") return discover::parse_ranking(signed_order);
  if (file.provenance && file.provenance->higher_is_better) return discover::Ranking::ascending;
  return discover::Ranking::descending;
}

nlohmann::ordered_json curve_json(const discover::FaithfulnessCurve& curve) {
  nlohmann::ordered_json points = nlohmann::ordered_json::array();
  for (const discover::CircuitPoint& point : curve.points)
    points.push_back({{"fraction", point.fraction}, {"requested_edges", point.requested}, {"edges", point.edges},
                      {"metric", point.metric}, {"faithfulness", point.faithfulness}});
  return {{"ranking", discover::to_string(curve.ranking)}, {"greedy", curve.greedy}, {"points", std::move(points)},
          {"area_under", curve.area_under}, {"area_from_one", curve.area_from_one}};
}

}  // namespace

GraphFile read_graph_file(const std::string& path) {
  const std::string text = io::read_input_file(path, io::input_limits::graph_json);
  return {.path = path, .graph = discover::parse_graph_json(text, path),
          .provenance = discover::parse_graph_provenance(text, path)};
}

std::string graph_label(const GraphFile& file) {
  const std::string name = std::filesystem::path(file.path).filename().string();
  if (!file.provenance || file.provenance->method.empty()) return name;
  return name + " (" + file.provenance->method + ")";
}

FaithfulnessRun run_faithfulness(const FaithfulnessOptions& options, const StagedProgress& progress) {
  return *run_faithfulness_on(parallel::Ranks(), options, progress);
}

std::optional<FaithfulnessRun> run_faithfulness_on(const parallel::Ranks& ranks, const FaithfulnessOptions& options,
                                                   const StagedProgress& progress) {
  FaithfulnessRun run;
  std::optional<engine::Weights> weights;
  std::optional<discover::PairedDataset> pairs;
  ranks.together([&] {
    if (options.graphs.empty()) throw Error("no graph file given");
    if (options.batch_size <= 0)
      throw Error("the batch size must be positive (got " + std::to_string(options.batch_size) + ")");
    check_prompt_choice(options.prompts);
    run.sizes = options.sizes.empty() ? discover::mib_sizes() : options.sizes;
    discover::check_sizes(run.sizes);
    run.ablation = discover::parse_circuit_ablation(options.ablation);
    run.metric = discover::parse_metric(options.metric);
    if (options.signed_order != "auto") discover::parse_ranking(options.signed_order);

    for (const std::string& path : options.graphs) run.files.push_back(read_graph_file(path));
    run.model_dir = options.model.empty() ? io::default_model_dir().string() : options.model;
    weights.emplace(io::load_weights(run.model_dir));
    weights->matmul = matmul_kernel_for(options.matmul);
    run.config = weights->config;
    const discover::GraphShape shape = discover::graph_shape(weights->config);
    for (const GraphFile& file : run.files) discover::check_graph_matches(file.graph, shape, file.path);
    const std::optional<io::Tokenizer> tokenizer = load_tokenizer_if_present(run.model_dir);
    pairs.emplace(
        load_prompt_pairs(options.prompts, run.model_dir, weights->config, tokenizer ? &*tokenizer : nullptr));
    run.pairs = static_cast<int>(pairs->clean.examples.size());
    run.prompts = describe_prompt_pairs(options.prompts, pairs->clean.examples.size());
    run.corruption = pairs->corruption;
    run.task = pairs->clean.schema.task;
  });
  // Every rank evaluates its share of the circuits on its own copy of the inputs: a graph file or pairs that
  // differ on one machine would mix two experiments in one curve.
  if (ranks.size() > 1) {
    const nlohmann::json inputs = ranks.together([&] {
      nlohmann::json fingerprint = pairs_fingerprint(*pairs, run.model_dir);
      for (const std::string& path : options.graphs) fingerprint["graphs_sha256"].push_back(io::sha256_file(path));
      return fingerprint;
    });
    check_same_inputs(ranks, inputs);
  }

  // Every file's circuits, in order: the units.
  std::vector<discover::CurveCircuits> circuits;
  std::vector<const std::vector<uint8_t>*> units;
  ranks.together([&] {
    for (const GraphFile& file : run.files) {
      circuits.push_back(discover::faithfulness_circuits(
          file.graph, run.sizes, {discover::Ranking::absolute, importance_first(options.signed_order, file)},
          options.greedy));
      for (const auto& circuit : circuits.back().circuits) units.push_back(&circuit);
    }
  });
  const parallel::Block mine = ranks.share(static_cast<int>(units.size()));
  std::optional<discover::CircuitEvaluator> evaluator;  // records the clean runs: every rank, every pair
  const std::string values = ranks.together([&] {
    evaluator.emplace(*weights, discover::EdgeGraph(discover::graph_shape(run.config)), *pairs, run.ablation,
                      run.metric, options.batch_size, false);
    std::vector<std::vector<uint8_t>> block;
    for (int unit = mine.begin; unit < mine.end; ++unit) block.push_back(*units[static_cast<size_t>(unit)]);
    std::string bytes;
    if (block.empty()) return bytes;  // more ranks than circuits
    for (const std::vector<double>& metrics : evaluator->per_pair(block, [&](int done, int total) {
           if (done == 1) ranks.fault_point("evaluating");
           if (progress) progress("circuits", done, total);
         }))
      bytes.append(reinterpret_cast<const char*>(metrics.data()), metrics.size() * sizeof(double));
    return bytes;
  });
  // Rank 0: each circuit's per-pair metrics, in unit order.
  std::vector<std::vector<double>> metrics;
  ranks.gather_to_root(values, [&](int, std::string_view bytes) {
    const size_t width = sizeof(double) * static_cast<size_t>(run.pairs);
    for (size_t at = 0; at + width <= bytes.size(); at += width) {
      metrics.emplace_back(static_cast<size_t>(run.pairs));
      std::memcpy(metrics.back().data(), bytes.data() + at, width);
    }
  });
  return ranks.together([&]() -> std::optional<FaithfulnessRun> {
    if (!ranks.root()) return std::nullopt;
    if (metrics.size() != units.size()) throw Error("the metrics of some circuits did not arrive (an internal error)");
    size_t next = 0;
    for (discover::CurveCircuits& file : circuits) {
      const size_t count = file.circuits.size();
      const std::vector<std::vector<double>> values_of_file(metrics.begin() + static_cast<std::ptrdiff_t>(next),
                                                            metrics.begin() + static_cast<std::ptrdiff_t>(next + count));
      next += count;
      run.curves.push_back(
          discover::finish_curves(std::move(file), values_of_file, evaluator->clean_mean(), run.sizes, run.reference));
    }
    for (size_t a = 0; a < run.files.size(); ++a)
      for (size_t b = a + 1; b < run.files.size(); ++b) {
        const std::vector<double>& x = run.files[a].graph.scores;
        const std::vector<double>& y = run.files[b].graph.scores;
        run.rank_agreement.push_back({.first = a, .second = b, .spearman = discover::spearman_of_magnitudes(x, y),
                                      .common_top = discover::common_top(x, y, FaithfulnessRun::kRankTop)});
      }
    return std::move(run);
  });
}

nlohmann::ordered_json faithfulness_json(const FaithfulnessRun& run) {
  nlohmann::ordered_json root;
  root["model"] = run.model_dir;
  root["prompts"] = run.prompts;
  root["task"] = run.task;
  root["pairs"] = run.pairs;
  root["corruption"] = run.corruption;
  root["metric"] = discover::to_string(run.metric);
  root["ablation"] = discover::to_string(run.ablation);
  root["model_metric"] = run.reference.model;
  root["empty_metric"] = run.reference.empty;
  root["sizes"] = run.sizes;
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (size_t f = 0; f < run.files.size(); ++f) {
    nlohmann::ordered_json curves = nlohmann::ordered_json::array();
    for (const auto& curve : run.curves[f]) curves.push_back(curve_json(curve));
    const discover::CircuitPoint* smallest = smallest_reaching(run.curves[f][0], 0.9);
    files.push_back({{"file", run.files[f].path},
                     {"method", run.files[f].provenance ? run.files[f].provenance->method : ""},
                     {"cpr", run.curves[f][1].area_under},
                     {"cmd", run.curves[f][0].area_from_one},
                     {"smallest_faithful_edges", smallest != nullptr ? nlohmann::ordered_json(smallest->edges) : nullptr},
                     {"curves", std::move(curves)}});
  }
  root["files"] = std::move(files);
  nlohmann::ordered_json agreement = nlohmann::ordered_json::array();
  for (const FaithfulnessRun::RankAgreement& pair : run.rank_agreement)
    agreement.push_back({{"files", {run.files[pair.first].path, run.files[pair.second].path}},
                         {"spearman", std::isnan(pair.spearman) ? nlohmann::ordered_json(nullptr)
                                                                : nlohmann::ordered_json(pair.spearman)},
                         {"top", FaithfulnessRun::kRankTop},
                         {"common_top", pair.common_top}});
  root["rank_agreement"] = std::move(agreement);
  return root;
}

const discover::CircuitPoint* smallest_reaching(const discover::FaithfulnessCurve& curve, double level) {
  for (const discover::CircuitPoint& point : curve.points)
    if (point.faithfulness >= level) return &point;
  return nullptr;
}

CircuitCut cut_circuit(const CircuitOptions& options) {
  if (options.top && options.threshold)
    throw Error("--top and --threshold both given: a circuit is cut one way",
                "give one of them, or neither to keep the file's marks");
  if (options.top && *options.top < 0) throw Error("--top must be a number of edges >= 0");
  if (options.threshold && !std::isfinite(*options.threshold)) throw Error("--threshold must be a finite number");
  const discover::Ranking ranking = discover::parse_ranking(options.ranking);
  if (!options.task.empty()) data::task_schema(options.task);  // an unknown task fails here, naming the closest

  CircuitCut cut{.file = read_graph_file(options.graph), .circuit = discover::ScoredGraph{discover::EdgeGraph({1, 1, 1})},
                 .how = "", .text = {}, .task_guessed = false};
  cut.circuit = cut.file.graph;
  if (options.top) {
    if (*options.top > cut.circuit.graph.edge_count())
      throw Error(fmt::format("--top {}: the graph has {} edges", *options.top, cut.circuit.graph.edge_count()));
    discover::select_greedy(cut.circuit, *options.top, ranking);
    cut.how = fmt::format("{} edges chosen greedily from the logits by {} score, then pruned", *options.top,
                          discover::to_string(ranking));
  } else if (options.threshold) {
    discover::select_threshold(cut.circuit, *options.threshold, ranking);
    cut.how = fmt::format("edges whose {} score is at least {} kept, then pruned", discover::to_string(ranking),
                          *options.threshold);
  } else {
    const int marked = cut.circuit.edges_in_graph();
    discover::prune(cut.circuit);
    cut.how = fmt::format("the file's {} in_graph edges, pruned", marked);
  }

  discover::CircuitText& text = cut.text;
  const auto& provenance = cut.file.provenance;
  const auto tasks = data::task_names();
  if (!options.task.empty()) {
    text.task = options.task;
  } else if (provenance && std::find(tasks.begin(), tasks.end(), provenance->task) != tasks.end()) {
    text.task = provenance->task;
  } else {
    text.task = "ioi";
    cut.task_guessed = true;
  }
  text.origin = std::filesystem::path(options.graph).filename().string();
  text.name = options.name.empty() ? fmt::format("circuit of {} ({} edges)", text.origin, cut.circuit.edges_in_graph())
                                   : options.name;
  if (provenance) {
    text.description = fmt::format("{} scores ({}{}{}), {} edges", provenance->method, provenance->metric,
                                   provenance->pairs > 0 ? fmt::format(", {} pairs", provenance->pairs) : "",
                                   provenance->corruption.empty() ? "" : ", " + provenance->corruption,
                                   cut.circuit.edges_in_graph());
    // The scrubbing metric, when the scores' metric is one (KL has no counterpart there).
    if (provenance->metric == "logit_diff" || provenance->metric == "prob_diff" || provenance->metric == "loss")
      text.metric = provenance->metric;
  }
  return cut;
}

std::string circuit_graph_json(const CircuitCut& cut) {
  return cut.file.provenance ? discover::to_graph_json(cut.circuit, *cut.file.provenance)
                             : discover::to_graph_json(cut.circuit);
}

std::string circuit_toml(const CircuitCut& cut) { return discover::circuit_hypothesis_toml(cut.circuit, cut.text); }

std::string circuit_dot(const CircuitCut& cut) { return discover::circuit_dot(cut.circuit, cut.text); }

nlohmann::ordered_json circuit_json(const CircuitCut& cut) {
  const discover::EdgeGraph& graph = cut.circuit.graph;
  std::vector<size_t> edges;
  for (size_t e = 0; e < cut.circuit.edge_in_graph.size(); ++e)
    if (cut.circuit.edge_in_graph[e]) edges.push_back(e);
  std::stable_sort(edges.begin(), edges.end(), [&](size_t a, size_t b) {
    return std::abs(cut.circuit.scores[a]) > std::abs(cut.circuit.scores[b]);
  });
  nlohmann::ordered_json edge_list = nlohmann::ordered_json::array(), nodes = nlohmann::ordered_json::array();
  for (size_t e : edges) edge_list.push_back({{"edge", graph.edge_name(graph.edges()[e])}, {"score", cut.circuit.scores[e]}});
  for (int s = 0; s < graph.source_count(); ++s)
    if (cut.circuit.node_in_graph[static_cast<size_t>(s)]) nodes.push_back(graph.source_name(s));
  return {{"file", cut.file.path},  {"how", cut.how},          {"edge_count", cut.circuit.edges_in_graph()},
          {"node_count", cut.circuit.nodes_in_graph()}, {"nodes", std::move(nodes)},
          {"edges", std::move(edge_list)}, {"task", cut.text.task}, {"name", cut.text.name}};
}

}  // namespace cscrub::app
