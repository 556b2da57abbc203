// libFuzzer target: a circuit graph file (EAP-IG's and MIB's graph JSON). parse_graph_json must refuse it
// with cscrub::Error naming the origin, or return a graph whose every score is finite and that survives
// to_graph_json + parse_graph_json unchanged. Only cscrub::Error may escape.
#include <cmath>
#include <optional>
#include <string>

#include "cscrub/discover/scored_graph.hpp"
#include "cscrub/error.hpp"
#include "fuzz_support.hpp"

using namespace cscrub;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string origin = "input.json";
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::optional<discover::ScoredGraph> parsed;
  try {
    parsed.emplace(discover::parse_graph_json(text, origin));
  } catch (const Error& error) {
    fuzz::require(std::string_view(error.what()).starts_with(origin), "graph file errors name the origin");
    return 0;
  }
  const discover::ScoredGraph& graph = *parsed;
  fuzz::require(graph.scores.size() == static_cast<size_t>(graph.graph.edge_count()), "one score per edge");
  for (double score : graph.scores) fuzz::require(std::isfinite(score), "scores are finite");
  try {
    const discover::ScoredGraph again = discover::parse_graph_json(discover::to_graph_json(graph), "written.json");
    fuzz::require(again.graph.shape() == graph.graph.shape() && again.scores == graph.scores &&
                      again.edge_in_graph == graph.edge_in_graph && again.node_in_graph == graph.node_in_graph &&
                      again.node_scores == graph.node_scores,
                  "what is read is written and read back unchanged");
  } catch (const Error&) {
    fuzz::require(false, "a graph that reads can be written and read back");
  }
  return 0;
}
