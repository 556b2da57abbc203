#include "cscrub/graph/hypothesis.hpp"

namespace cscrub::graph {

std::string SourceLocation::to_string() const {
  if (line <= 0) return file;
  std::string text = file + ":" + std::to_string(line);
  if (column > 0) text.append(":").append(std::to_string(column));
  return text;
}

}  // namespace cscrub::graph
