// What `cscrub discover --method eap|eap-ig` and the Python module's discover() share: their options, the prompt
// pairs, the memory estimate made before the weights load, the edge attribution, and the scored graph as
// EAP-IG's and MIB's graph JSON (the same bytes from both).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cscrub/discover/edge_attribution.hpp"
#include "cscrub/discover/pairs.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::app {

struct EdgeDiscoveryOptions {
  std::string model;
  std::string matmul = "auto";  // see matmul_kernel_for
  std::string method;           // eap or eap-ig
  int steps = 5;                // EAP-IG's M
  std::string metric = "logit_diff";
  // The prompt pairs: a pair file, or a task's generated pairs.
  std::string pairs;
  std::string task = "ioi";
  int n = 200;
  uint64_t seed = 0;
  std::vector<std::string> task_options;
  int batch_size = 32;
  double max_memory_gib = 0;  // 0: half of the physical memory; the limit of the estimated peak
  int ranks_on_machine = 1;   // MPI ranks on this machine, sharing the default limit (app/ranks_work.hpp)
};

// Everything before the weights load: the pairs, the kernel and the memory estimate.
struct PreparedEdgeDiscovery {
  std::string model_dir;
  engine::ModelConfig config;
  engine::MatmulKernel kernel{};
  discover::EdgeAttributionSettings settings;
  discover::PairedDataset pairs;
  std::string prompts;  // "200 ioi (seed 0)" or "32 pairs from FILE"
  discover::EdgeAttributionMemory memory;
  uint64_t weight_bytes = 0, program_bytes = 0, limit_bytes = 0;
  uint64_t peak_bytes() const { return program_bytes + weight_bytes + memory.total(); }
  // "activation differences 1.2 MiB, tape ..., weights ..., program ..."
  std::string memory_parts() const;
};

// Throws cscrub::Error for bad options and unreadable or bad pairs, before loading the weights.
PreparedEdgeDiscovery prepare_edge_discovery(const EdgeDiscoveryOptions& options);
// Throws cscrub::Error when the estimated peak exceeds the limit.
void check_edge_discovery_memory(const PreparedEdgeDiscovery& prepared);

struct EdgeDiscoveryRun {
  discover::EdgeAttribution attribution;
  double seconds = 0;
  // Σ of the scores of the input's edges: every path from the input starts with one, so they estimate the
  // metric's whole change from clean to corrupted (to first order for EAP; for EAP-IG by completeness as M grows).
  double input_edge_sum = 0;
};

// Loads the weights and scores every edge. Throws cscrub::Error for a non-finite metric on the clean or
// corrupted prompts.
EdgeDiscoveryRun run_edge_discovery(const PreparedEdgeDiscovery& prepared, const discover::Progress& progress = {});

// The weights, with the prepared kernel.
engine::Weights load_edge_discovery_weights(const PreparedEdgeDiscovery& prepared);
// The run from its scores and time: throws cscrub::Error for a non-finite metric on the clean or corrupted prompts.
EdgeDiscoveryRun finish_edge_discovery(const PreparedEdgeDiscovery& prepared, discover::EdgeAttribution attribution,
                                       double seconds);

// "EAP-IG (M = 5)" or "EAP".
std::string method_label(const discover::EdgeAttributionSettings& settings);
// The scored graph as EAP-IG's and MIB's graph JSON, the bytes --out holds.
std::string edge_discovery_graph_json(const EdgeDiscoveryRun& run);

}  // namespace cscrub::app
