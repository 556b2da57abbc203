// Rendering Graphviz source with the `dot` program, in memory: the source goes to dot's standard input and
// the image comes back from its standard output, so that the image is written like every other output
// (whole or not at all) and no temporary .dot file is left beside it.
#pragma once
#include <string>

namespace cscrub::cli {

// The image of `dot_source` in `format` (svg, png). `output` names the file it is for, in messages; throws
// cscrub::Error when Graphviz is not installed or fails.
std::string render_with_graphviz(const std::string& dot_source, const std::string& format, const std::string& output);

}  // namespace cscrub::cli
