// What made a graph file's scores, kept next to EAP-IG's keys under a top-level "cscrub" object (EAP-IG's and
// MIB's readers take "cfg", "nodes" and "edges" and ignore the rest): the method, the metric and the pairs. It
// tells later commands which sign of a score means "important" (for a metric where higher is better, an edge
// whose corruption hurts has a negative score) and which task the circuit is about.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "cscrub/discover/scored_graph.hpp"

namespace cscrub::discover {

struct GraphProvenance {
  std::string method;      // "exact", "acdc", "eap", "eap-ig", ...
  std::string metric;      // "logit_diff", "kl", ...
  bool higher_is_better = true;  // the metric's direction
  std::string task;        // the task the pairs come from ("ioi", "pairs", ...)
  std::string corruption;  // how the corrupted prompts differ ("p_ABC", ...)
  int pairs = 0;
  std::string command;     // the command line that made the file, for the record
};

// The graph JSON with its provenance: to_graph_json's text plus the "cscrub" object.
std::string to_graph_json(const ScoredGraph& graph, const GraphProvenance& provenance);
// The provenance of a graph file's text, if it has a well-formed "cscrub" object; nullopt otherwise (a file
// from EAP-IG or MIB). `origin` names the file in errors: a "cscrub" object that is not an object of the
// expected types is refused.
std::optional<GraphProvenance> parse_graph_provenance(std::string_view text, const std::string& origin);

}  // namespace cscrub::discover
