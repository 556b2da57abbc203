// What `cscrub discover --method eap|eap-ig|exact|acdc` and the Python module's discover() share: their options,
// the prompt pairs, the memory estimate made before the weights load, the scoring (edge attribution, exact edge
// patching or ACDC), and the scored graph as EAP-IG's and MIB's graph JSON with cscrub's provenance record (the
// same bytes from both).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cscrub/app/prompt_pairs.hpp"
#include "cscrub/discover/acdc.hpp"
#include "cscrub/discover/edge_attribution.hpp"
#include "cscrub/discover/exact_patching.hpp"
#include "cscrub/discover/graph_provenance.hpp"
#include "cscrub/discover/pairs.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::app {

enum class DiscoveryMethod { eap, eap_ig, exact, acdc };
std::string to_string(DiscoveryMethod method);  // "eap", "eap-ig", "exact", "acdc"
// Throws cscrub::Error naming the closest method.
DiscoveryMethod parse_discovery_method(const std::string& name);

struct EdgeDiscoveryOptions {
  std::string model;
  std::string matmul = "auto";     // see matmul_kernel_for
  std::string method;              // eap, eap-ig, exact or acdc
  std::optional<int> steps;        // EAP-IG's M (default 5); only for eap-ig
  std::optional<double> threshold;  // ACDC's tau (>= 0, or inf); required for acdc, refused otherwise
  std::string metric;              // empty: kl for acdc (as ACDC's paper), logit_diff otherwise
  PromptPairChoice prompts;
  int batch_size = 32;
  double max_memory_gib = 0;  // 0: half of the physical memory; the limit of the estimated peak
  int ranks_on_machine = 1;   // MPI ranks on this machine, sharing the default limit (app/ranks_work.hpp)
};

// Everything before the weights load: the pairs, the kernel and the memory estimate.
struct PreparedEdgeDiscovery {
  std::string model_dir;
  engine::ModelConfig config;
  engine::MatmulKernel kernel{};
  DiscoveryMethod method = DiscoveryMethod::eap_ig;
  discover::EdgeAttributionSettings settings;  // settings.method only means something for eap and eap-ig
  double threshold = 0;                        // acdc's tau
  discover::PairedDataset pairs;
  std::string prompts;  // describe_prompt_pairs: "200 ioi (seed 0)", "32 pairs from FILE", "24 prompts of FILE"
  std::string command;  // the options as a `cscrub discover` command line, for the graph file's record
  discover::EdgeAttributionMemory memory;  // eap and eap-ig
  uint64_t patching_bytes = 0;             // exact and acdc: their peak beyond the weights
  uint64_t weight_bytes = 0, program_bytes = 0, limit_bytes = 0;
  uint64_t method_bytes() const;
  uint64_t peak_bytes() const { return program_bytes + weight_bytes + method_bytes(); }
  // "activation differences 1.2 MiB, tape ..., weights ..., program ..."
  std::string memory_parts() const;
};

// Throws cscrub::Error for bad options and unreadable or bad pairs, before loading the weights.
PreparedEdgeDiscovery prepare_edge_discovery(const EdgeDiscoveryOptions& options);
// Throws cscrub::Error when the estimated peak exceeds the limit.
void check_edge_discovery_memory(const PreparedEdgeDiscovery& prepared);

struct EdgeDiscoveryRun {
  // Every method's scores and the metric's means on the clean and corrupted prompts; the passes are EAP's and
  // EAP-IG's (0 for exact and acdc). For acdc the scores are each edge's metric change when it was tried and
  // the in_graph marks the circuit it kept, pruned.
  discover::EdgeAttribution attribution;
  std::optional<discover::AcdcResult> acdc{};  // acdc: its counts and metrics (its graph, a copy of attribution.graph)
  discover::GraphProvenance provenance{};      // what the graph file records about the run
  double seconds = 0;
  // Σ of the scores of the input's edges: every path from the input starts with one, so for EAP and EAP-IG they
  // estimate the metric's whole change from clean to corrupted (to first order for EAP; for EAP-IG by
  // completeness as M grows).
  double input_edge_sum = 0;
  // exact: the floating-point work done, and that of a full forward pass per edge and batch.
  discover::ExactPatchingCost exact_cost{};
};

// Loads the weights and scores every edge. Throws cscrub::Error for a non-finite metric on the clean or
// corrupted prompts.
EdgeDiscoveryRun run_edge_discovery(const PreparedEdgeDiscovery& prepared, const discover::Progress& progress = {});

// The weights, with the prepared kernel.
engine::Weights load_edge_discovery_weights(const PreparedEdgeDiscovery& prepared);
// What every run adds to its scores and time: the provenance record, the input's edge sum; throws cscrub::Error for a
// non-finite metric on the clean or corrupted prompts.
EdgeDiscoveryRun finish_edge_discovery(const PreparedEdgeDiscovery& prepared, EdgeDiscoveryRun run);
// Exact patching's or ACDC's scores (all edges, or with `destinations` exact patching's of the edges into those
// alone; NaN for the others), without the clean and corrupted means.
EdgeDiscoveryRun score_by_patching(const engine::Weights& weights, const PreparedEdgeDiscovery& prepared,
                                   const discover::Progress& progress, const std::vector<int>& destinations = {});
// The clean and corrupted mean metric of exact patching's and ACDC's runs, measured apart.
void measure_means(const engine::Weights& weights, const PreparedEdgeDiscovery& prepared, EdgeDiscoveryRun& run);

// "EAP-IG (M = 5)", "EAP", "exact patching", "ACDC (tau = 0.01)".
std::string method_label(const PreparedEdgeDiscovery& prepared);
// The scored graph as EAP-IG's and MIB's graph JSON with the "cscrub" provenance record, the bytes --out holds.
std::string edge_discovery_graph_json(const EdgeDiscoveryRun& run);

}  // namespace cscrub::app
