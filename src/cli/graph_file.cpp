#include "graph_file.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cscrub/error.hpp"

namespace cscrub::cli {

GraphFile read_graph_file(const std::string& path) {
  GraphFile file{.path = path, .graph = discover::read_graph_json(path), .provenance = std::nullopt};
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  file.provenance = discover::parse_graph_provenance(text.str(), path);
  return file;
}

std::string graph_label(const GraphFile& file) {
  const std::string name = std::filesystem::path(file.path).filename().string();
  if (!file.provenance || file.provenance->method.empty()) return name;
  return name + " (" + file.provenance->method + ")";
}

}  // namespace cscrub::cli
