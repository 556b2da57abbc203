// libFuzzer target: a hypothesis file (TOML), read in memory by read_hypothesis_text and, when it reads,
// checked against a model graph and its task (find_problems) and drawn (to_dot) if valid. Its directory
// holds the two hypotheses the shipped variants extend (gpt2-ioi-mini's ioi.toml, gpt2-small's full.toml),
// so `extends` chains resolve. Only cscrub::Error may escape, and its message starts with a file's name.
#include <string>

#include "cscrub/error.hpp"
#include "cscrub/graph/check.hpp"
#include "cscrub/graph/dot.hpp"
#include "cscrub/graph/hypothesis_file.hpp"
#include "cscrub/graph/model_graph.hpp"
#include "fuzz_support.hpp"

namespace fs = std::filesystem;
using namespace cscrub;

namespace {

const fs::path& input_path() {
  static const fs::path path = [] {
    const fs::path& scratch = fuzz::scratch_dir();
    const fs::path shipped = fs::path(CSCRUB_SOURCE_DIR) / "hypotheses";
    fs::copy_file(shipped / "gpt2-ioi-mini" / "ioi.toml", scratch / "ioi.toml");
    fs::copy_file(shipped / "gpt2-small" / "ioi" / "full.toml", scratch / "full.toml");
    return scratch / "input.toml";
  }();
  return path;
}

engine::ModelConfig gpt2_shape(int layers, int heads, int d_model, int n_ctx) {
  engine::ModelConfig config;
  config.n_layer = layers;
  config.n_head = heads;
  config.d_model = d_model;
  config.n_ctx = n_ctx;
  config.vocab_size = 50257;
  config.d_mlp = 4 * d_model;
  return config;
}

// The model the hypothesis was written for: gpt2-ioi-mini if its [model] says 3 x 4, else GPT-2 small.
const graph::ModelGraph& model_for(const graph::Hypothesis& hypothesis) {
  static const graph::ModelGraph mini(gpt2_shape(3, 4, 128, 128));
  static const graph::ModelGraph small(gpt2_shape(12, 12, 768, 1024));
  return hypothesis.model_layers == 3 && hypothesis.model_heads.value_or(4) == 4 ? mini : small;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path& path = input_path();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const graph::Hypothesis hypothesis = graph::read_hypothesis_text(text, path);
    fuzz::require(hypothesis.output_node >= 0 && static_cast<size_t>(hypothesis.output_node) < hypothesis.nodes.size(),
                  "the output node is a node");
    for (const graph::InterpEdge& edge : hypothesis.edges) {
      fuzz::require(edge.parent >= 0 && static_cast<size_t>(edge.parent) < hypothesis.nodes.size() &&
                        edge.child >= 0 && static_cast<size_t>(edge.child) < hypothesis.nodes.size(),
                    "edges join nodes");
    }
    const graph::ModelGraph& model = model_for(hypothesis);
    const std::vector<graph::Problem> problems = graph::find_problems(hypothesis, model, graph::task_schema_for(hypothesis));
    for (const graph::Problem& problem : problems) fuzz::require(!problem.message.empty(), "problems say what is wrong");
    if (problems.empty()) fuzz::require(!graph::to_dot(hypothesis, model).empty(), "a valid hypothesis draws");
    graph::summarize(hypothesis);
  } catch (const Error& error) {
    // The input's own problems name it; those of a file it extends name that file (wherever `extends`
    // pointed), which exists.
    const std::string_view message = error.what();
    const std::string_view named = message.substr(0, message.find(':'));
    fuzz::require(named == path.string() || fs::exists(named), "hypothesis errors start with the file they are in");
  }
  return 0;
}
