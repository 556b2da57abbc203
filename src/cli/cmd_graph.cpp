// `cscrub graph FILE.toml --dot OUT.dot [--svg OUT.svg] [--png OUT.png]`: draw a (valid) hypothesis: its
// interpretation graph placed on the model's layers. Images are rendered by Graphviz's `dot`.
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "commands.hpp"
#include "cscrub/error.hpp"
#include "cscrub/graph/check.hpp"
#include "cscrub/graph/dot.hpp"
#include "cscrub/io/model_dir.hpp"
#include "model_option.hpp"

extern char** environ;

namespace cscrub::cli {
namespace {

struct GraphOptions {
  std::string file;
  std::string model;
  std::string task;
  std::string dot;
  std::string svg;
  std::string png;
};

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) throw Error(path.string() + ": cannot write");
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string directories = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= directories.size()) {
    size_t end = directories.find(':', start);
    if (end == std::string::npos) end = directories.size();
    std::filesystem::path candidate = std::filesystem::path(directories.substr(start, end - start)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

// Runs `dot -T<format> dot_file -o out` (no shell, so no quoting issues).
void render(const std::string& dot_file, const std::string& format, const std::string& out) {
  if (!on_path("dot"))
    throw Error("cannot write " + out + ": Graphviz's `dot` program is not installed",
                "install Graphviz (apt-get install graphviz), or render the --dot file elsewhere");
  std::string format_flag = "-T" + format;
  std::vector<std::string> args = {"dot", format_flag, dot_file, "-o", out};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawnp(&pid, "dot", nullptr, nullptr, argv.data(), environ) != 0)
    throw Error("cannot run Graphviz's `dot` to write " + out);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error(fmt::format("Graphviz's `dot` failed to write {} (exit status {})", out,
                            WIFEXITED(status) ? WEXITSTATUS(status) : -1));
}

void run_graph(const GraphOptions& options) {
  if (options.dot.empty() && options.svg.empty() && options.png.empty())
    throw Error("nothing to write", "give --dot OUT.dot, --svg OUT.svg and/or --png OUT.png");
  const engine::ModelConfig config = io::read_config(std::filesystem::path(options.model) / "config.json");
  const graph::Hypothesis hypothesis = graph::load_hypothesis(options.file, config, options.task);
  const std::string dot = graph::to_dot(hypothesis, graph::ModelGraph(config));

  // The images are rendered from the .dot file; without --dot, from a temporary one next to the image.
  std::string dot_file = options.dot;
  if (dot_file.empty()) dot_file = (options.svg.empty() ? options.png : options.svg) + ".dot.tmp";
  write_text(dot_file, dot);
  try {
    if (!options.svg.empty()) render(dot_file, "svg", options.svg);
    if (!options.png.empty()) render(dot_file, "png", options.png);
  } catch (...) {
    if (options.dot.empty()) std::filesystem::remove(dot_file);
    throw;
  }
  if (options.dot.empty()) std::filesystem::remove(dot_file);
  for (const std::string* written : {&options.dot, &options.svg, &options.png})
    if (!written->empty()) fmt::print("wrote {}\n", *written);
}

}  // namespace

void add_graph_command(CLI::App& app) {
  auto options = std::make_shared<GraphOptions>();
  CLI::App* command = app.add_subcommand(
      "graph", "Draw a hypothesis: its nodes on the model's layers, coloured by class, edges labelled by port");
  command->add_option("file", options->file, "hypothesis file (.toml), or builtin:full / builtin:none")
      ->required()
      ->type_name("FILE");
  command->add_option("--dot", options->dot, "write the Graphviz source here")->type_name("OUT.dot");
  command->add_option("--svg", options->svg, "render an SVG here (needs Graphviz's dot)")->type_name("OUT.svg");
  command->add_option("--png", options->png, "render a PNG here (needs Graphviz's dot)")->type_name("OUT.png");
  add_model_option(*command, options->model);
  command->add_option("--task", options->task, "task to check the hypothesis against (default: its own)")
      ->type_name("TASK");
  command->callback([options] { run_graph(*options); });
}

}  // namespace cscrub::cli
