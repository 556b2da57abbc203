// Reading graph files (EAP-IG's and MIB's JSON, with cscrub's provenance when it wrote them) for the commands
// that cut, evaluate and export circuits.
#pragma once
#include <optional>
#include <string>

#include "cscrub/discover/graph_provenance.hpp"
#include "cscrub/discover/scored_graph.hpp"

namespace cscrub::cli {

struct GraphFile {
  std::string path;
  discover::ScoredGraph graph;
  std::optional<discover::GraphProvenance> provenance;
};
// Throws cscrub::Error naming the file and the problem.
GraphFile read_graph_file(const std::string& path);

// How a file is named in tables and legends: its method when cscrub recorded one, else its file name.
std::string graph_label(const GraphFile& file);

}  // namespace cscrub::cli
