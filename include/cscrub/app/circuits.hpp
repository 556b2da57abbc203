// What `cscrub faithfulness`, `cscrub circuit` and the Python module's faithfulness() and circuit() share: their
// options, reading graph files, the computation, and the result as JSON (the same bytes from both) or as the files
// `circuit` writes.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cscrub/app/prompt_pairs.hpp"
#include "cscrub/app/staged_progress.hpp"
#include "cscrub/discover/circuit_export.hpp"
#include "cscrub/discover/faithfulness.hpp"
#include "cscrub/discover/graph_provenance.hpp"
#include "cscrub/discover/metrics.hpp"
#include "cscrub/parallel/ranks.hpp"

namespace cscrub::app {

// A graph file: EAP-IG's and MIB's JSON, with cscrub's provenance when cscrub wrote it.
struct GraphFile {
  std::string path;
  discover::ScoredGraph graph;
  std::optional<discover::GraphProvenance> provenance;
};
// Throws cscrub::Error naming the file and the problem.
GraphFile read_graph_file(const std::string& path);
// How a file is named in tables and legends: its name, and its method when cscrub recorded one.
std::string graph_label(const GraphFile& file);

struct FaithfulnessOptions {
  std::vector<std::string> graphs;
  std::string model;
  std::string matmul = "auto";
  PromptPairChoice prompts;
  int batch_size = 32;
  std::string ablation = "counterfactual";
  std::vector<double> sizes;  // empty: MIB's grid
  std::string metric = "logit_diff";
  std::string signed_order = "auto";  // or a ranking: descending, ascending
  bool greedy = false;
};

struct FaithfulnessRun {
  std::string model_dir;
  engine::ModelConfig config;
  std::vector<GraphFile> files;
  std::string prompts, corruption, task;
  int pairs = 0;
  discover::Metric metric = discover::Metric::logit_diff;
  discover::CircuitAblation ablation = discover::CircuitAblation::counterfactual;
  std::vector<double> sizes;
  discover::FaithfulnessReference reference;
  // Per file: the curve of circuits by |score| (MIB's CMD), then by signed score, important edges first (CPR).
  std::vector<std::vector<discover::FaithfulnessCurve>> curves;
  // With several files, each pair's rank agreement (rank_agreement.hpp): Spearman's rho on |score| (NaN when a
  // file scores every edge alike) and how many of the kRankTop strongest edges they share.
  static constexpr int kRankTop = 20;
  struct RankAgreement {
    size_t first = 0, second = 0;  // indices into files
    double spearman = 0;
    int common_top = 0;
  };
  std::vector<RankAgreement> rank_agreement;
};

// Throws cscrub::Error for bad options (before loading anything), unreadable files, graphs of another model.
FaithfulnessRun run_faithfulness(const FaithfulnessOptions& options, const StagedProgress& progress = {});
// The same, its circuits (every file's, in order: a unit each) shared among `ranks` (parallel/ranks.hpp): each rank
// evaluates its block on every pair and sends the per-pair metrics to rank 0, which makes the curves. The run on
// rank 0, nullopt on the others; collective, one rank's failure ends every rank with its message.
std::optional<FaithfulnessRun> run_faithfulness_on(const parallel::Ranks& ranks, const FaithfulnessOptions& options,
                                                   const StagedProgress& progress = {});
// {"model", "prompts", "task", "pairs", "corruption", "metric", "ablation", "model_metric", "empty_metric", "sizes",
//  "files": [{"file", "method", "cpr", "cmd", "curves": [{"ranking", "greedy", "points": [...], "area_under",
//  "area_from_one"}]}], "rank_agreement": [{"files": [a, b], "spearman" (null if undefined), "top", "common_top"}]}
nlohmann::ordered_json faithfulness_json(const FaithfulnessRun& run);
// The smallest point of a curve whose faithfulness reaches `level`, or nullptr.
const discover::CircuitPoint* smallest_reaching(const discover::FaithfulnessCurve& curve, double level);

struct CircuitOptions {
  std::string graph;
  std::optional<int> top;            // grow greedily from the logits to this many edges
  std::optional<double> threshold;   // or keep the edges whose score reaches it
  std::string ranking = "absolute";
  std::string name;                  // default: "circuit of FILE (N edges)"
  std::string task;                  // default: the task the scores were made on, else ioi
};

struct CircuitCut {
  GraphFile file;
  discover::ScoredGraph circuit;  // pruned, in_graph marks set
  std::string how;                // how the circuit was cut, in words
  discover::CircuitText text;     // name, description, task, metric for the exports
  bool task_guessed = false;      // the file recorded no task cscrub knows: ioi
};

// Throws cscrub::Error for bad options or an unreadable file.
CircuitCut cut_circuit(const CircuitOptions& options);
// The circuit's graph JSON (with the file's provenance when it had one), hypothesis file and Graphviz source.
std::string circuit_graph_json(const CircuitCut& cut);
std::string circuit_toml(const CircuitCut& cut);
std::string circuit_dot(const CircuitCut& cut);
// {"edges": [{"edge", "score"}...] strongest first, "nodes": [...], "edge_count", "node_count", "how", "task"}
nlohmann::ordered_json circuit_json(const CircuitCut& cut);

}  // namespace cscrub::app
