#include "cscrub/graph/builtin.hpp"

#include "cscrub/error.hpp"
#include "cscrub/graph/component_id.hpp"
#include "suggestions.hpp"

namespace cscrub::graph {

std::vector<std::string> builtin_hypothesis_names() { return {"builtin:full", "builtin:none"}; }

bool is_builtin_hypothesis(std::string_view name) { return name.starts_with("builtin:"); }

Hypothesis builtin_hypothesis(std::string_view name, const engine::ModelConfig& config, const std::string& task) {
  const auto names = builtin_hypothesis_names();
  const bool full = name == names[0];
  if (!full && name != names[1])
    throw Error("unknown builtin hypothesis '" + std::string(name) + "'" + did_you_mean(name, names),
                "the builtins are: " + join(names));

  InterpNode output;
  output.name = "output";
  output.node_class = "output";
  output.components = {output_component()};
  output.feature = {"prompt"};
  output.rest = full ? InterpNode::Rest::same : InterpNode::Rest::random;
  output.description = full ? "The whole model on the reference prompt: reproduces its behaviour exactly."
                            : "Every input of the output resampled from a random prompt: the baseline.";
  output.location = SourceLocation{std::string(name), 0, 0};
  output.components_location = output.positions_location = output.feature_location = output.location;

  Hypothesis hypothesis;
  hypothesis.name = std::string(name);
  hypothesis.description = output.description;
  hypothesis.source_file = std::string(name);
  hypothesis.nodes = {output};
  hypothesis.output_node = 0;
  hypothesis.defaults.task = task;
  hypothesis.model_layers = config.n_layer;
  hypothesis.model_heads = config.n_head;
  return hypothesis;
}

}  // namespace cscrub::graph
