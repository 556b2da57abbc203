// Issue 23, "lose nothing, hang on nothing", through the real cscrub binary: an output naming an input of
// its command (by any name) is refused before any work and every input keeps its hash; a full disk, a file
// size limit or a kill while writing leave the previous output intact and no temporary file; a record of
// 10^6 per-seed values is compared without hanging. Everything runs on copies in a scratch directory, so
// that a failure destroys nothing of the source tree.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cscrub/io/npy.hpp"
#include "cscrub/io/sha256.hpp"
#include "json_file.hpp"
#include "test_paths.hpp"

using Catch::Matchers::Contains;
using namespace cscrub::test;
namespace fs = std::filesystem;

extern char** environ;

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every file under `dir` (links as links) and its SHA-256 (a link: its target's name).
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const std::string name = fs::relative(entry.path(), dir).string();
    if (entry.is_symlink()) files[name] = "-> " + fs::read_symlink(entry.path()).string();
    else if (entry.is_regular_file()) files[name] = cscrub::io::sha256_file(entry.path());
    else files[name] = "(directory)";
  }
  return files;
}

// A scratch directory holding copies of every kind of input: hypotheses (one extending another), a
// dataset, a task vocabulary, a token array, a model directory, and links to the hypothesis.
fs::path make_workspace(const std::string& label) {
  const fs::path dir = scratch_dir(label);
  const fs::path hypotheses = source_dir() / "hypotheses" / "gpt2-ioi-mini";
  fs::copy_file(hypotheses / "ioi.toml", dir / "h.toml");
  fs::copy_file(hypotheses / "ioi.toml", dir / "base.toml");
  std::ofstream(dir / "variant.toml") << "extends = \"base.toml\"\nname = \"a variant\"\n";
  fs::copy_file(source_dir() / "tests" / "bad_inputs" / "datasets" / "valid_base.jsonl", dir / "d.jsonl");
  fs::copy_file(source_dir() / "datasets" / "ioi_paper_vocabulary.toml", dir / "vocab.toml");
  const std::vector<int32_t> tokens = {464, 3290, 318, 257};
  const std::vector<int64_t> shape = {1, 4};
  cscrub::io::write_npy(dir / "tokens.npy", tokens, shape);
  fs::create_directory(dir / "model");
  for (const char* name : {"config.json", "model.safetensors", "encoder.json", "vocab.bpe"})
    fs::copy_file(bundled_model_dir() / name, dir / "model" / name);
  fs::create_symlink("h.toml", dir / "link.toml");
  fs::create_hard_link(dir / "h.toml", dir / "hard.toml");
  fs::create_directory(dir / "sub");
  return dir;
}

struct Outcome {
  int exit_code = -1;
  std::string errors;
};

// A file beside the scratch directory `dir` (outside it, so that it is no part of its snapshot).
fs::path beside(const fs::path& dir, const std::string& name) {
  return dir.parent_path() / (dir.filename().string() + "." + name);
}

// `cscrub ARGUMENTS` run from `dir` through /bin/sh, after `shell_prefix` (ulimit -f ...), with the default
// model and a time limit.
Outcome cscrub_in(const fs::path& dir, const std::string& arguments, const std::string& shell_prefix = "") {
  const fs::path errors = beside(dir, "stderr");
  const std::string command = "(cd " + shell_quote(dir.string()) + " && " + shell_prefix +
                              " env -u CSCRUB_MODEL timeout -s KILL 300 " + shell_quote(cli_path().string()) + " " +
                              arguments + " >/dev/null 2>" + shell_quote(errors.string()) + ")";
  Outcome outcome;
  outcome.exit_code = run_command(command).exit_code;
  outcome.errors = read_text(errors);
  return outcome;
}

// One "cscrub: error: ..." line containing `fragment`, optionally followed by one hint line.
void check_one_line_error(const std::string& errors, const std::string& fragment) {
  std::vector<std::string> lines;
  std::istringstream in(errors);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(!lines.empty());
  CHECK(lines.size() <= 2);
  CHECK(lines[0].rfind("cscrub: error: ", 0) == 0);
  CHECK_THAT(lines[0], Contains(fragment));
  if (lines.size() == 2) CHECK(lines[1].rfind("  hint: ", 0) == 0);
  for (const char* report : {"runtime error:", "AddressSanitizer", "LeakSanitizer"})
    CHECK(errors.find(report) == std::string::npos);
}

}  // namespace

TEST_CASE("an output naming an input of its command is refused before any work, and every input is kept",
          "[cli][lose_nothing]") {
  const fs::path dir = make_workspace("lose-nothing-inputs");
  const std::string run = "run h.toml --n 10 --seeds 1 --quiet";
  const std::string compare = "compare h.toml variant.toml --n 10 --seeds 1 --quiet";
  const std::vector<std::pair<std::string, std::string>> cases = {
      // The cases of the issue: the hypothesis, the dataset, the weights, a vocabulary, a token array.
      {run + " --json h.toml", "--json h.toml: is the input h.toml of this command"},
      {run + " --dataset d.jsonl --json d.jsonl", "--json d.jsonl: is the input d.jsonl"},
      {run + " --model model --json model/model.safetensors", "is the input model/model.safetensors"},
      {compare + " --svg h.toml", "--svg h.toml: is the input h.toml"},
      {compare + " --plot h.toml", "--plot h.toml: is the input h.toml"},  // the old name of --svg, named as typed
      {"dataset ioi --n 4 --option vocabulary=vocab.toml --out vocab.toml", "--out vocab.toml: is the input vocab.toml"},
      {"graph h.toml --dot h.toml", "--dot h.toml: is the input h.toml"},
      {"forward --model model --tokens-npy tokens.npy --npy tokens.npy", "--npy tokens.npy: is the input tokens.npy"},
      // Other names of the same file: links, dots, a file another one extends.
      {run + " --json link.toml", "--json link.toml: is the input h.toml"},
      {run + " --json hard.toml", "--json hard.toml: is the input h.toml"},
      {run + " --json sub/../h.toml", "--json sub/../h.toml: is the input h.toml"},
      {run + " --json \"$PWD/h.toml\"", "/h.toml: is the input h.toml"},
      {"compare variant.toml --n 10 --seeds 1 --quiet --json base.toml", "--json base.toml: is the input base.toml"},
      {run + " --baseline variant.toml --json base.toml", "--json base.toml: is the input base.toml"},
      {"graph variant.toml --svg base.toml", "--svg base.toml: is the input base.toml"},
      // Every other input of every writing command.
      {run + " --option vocabulary=vocab.toml --json vocab.toml", "--json vocab.toml: is the input vocab.toml"},
      {"dataset ioi --n 4 --model model --out model/encoder.json", "is the input model/encoder.json"},
      {"graph h.toml --model model --dot model/config.json", "is the input model/config.json"},
      {"forward --model model --tokens 1,2 --logits-out model/vocab.bpe", "is the input model/vocab.bpe"},
      {"attribute --model model --n 4 --quiet --npy model/config.json", "is the input model/config.json"},
      {"attribute --model model --n 4 --quiet --json model/config.json", "is the input model/config.json"},
      {"attribute --model model --n 4 --quiet --npy grid.npy --json grid.npy.json",  // the .npy's sidecar
       "--json grid.npy.json: the same file as --npy's sidecar grid.npy.json"},
      {"patch --model model --n 4 --quiet --option vocabulary=vocab.toml --svg vocab.toml", "is the input vocab.toml"},
      {"attention --model model --head 0.0 --text hi --out-npy model/model.safetensors",
       "is the input model/model.safetensors"},
      // Two outputs in one file, and outputs that cannot be written where they are named.
      {compare + " --json same.out --svg same.out", "--svg same.out: the same file as --json same.out"},
      {"graph h.toml --dot picture --svg ./picture", "--svg ./picture: the same file as --dot picture"},
      {run + " --json missing/out.json", "--json missing/out.json: directory missing does not exist"},
      {run + " --json sub", "--json sub: is a directory"},
  };
  const auto before = snapshot(dir);
  for (const auto& [arguments, fragment] : cases) {
    INFO("$ cscrub " << arguments);
    const auto start = std::chrono::steady_clock::now();
    const Outcome outcome = cscrub_in(dir, arguments);
    INFO(outcome.errors);
    CHECK(outcome.exit_code == 1);
    check_one_line_error(outcome.errors, fragment);
    CHECK(snapshot(dir) == before);  // every input has its hash, and nothing was written
    // Before any work: no model was run (that takes seconds here, and far longer under the sanitizers).
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(60));
  }
}

namespace {

// A writing command for each kind of output, each writing more than 512 bytes to `out.x`.
const std::vector<std::string>& writers() {
  static const std::vector<std::string> commands = {
      "run h.toml --n 10 --seeds 1 --quiet --json OUT",
      "compare h.toml variant.toml --n 10 --seeds 1 --quiet --json OUT",
      "compare h.toml variant.toml --n 10 --seeds 1 --quiet --svg OUT",
      "dataset ioi --n 10 --out OUT",
      "graph h.toml --dot OUT",
      "forward --tokens 464,3290 --logits-out OUT",
      "attribute --n 4 --quiet --svg OUT",
      "attention --head 0.0 --text hello --svg OUT",
  };
  return commands;
}

std::string with_output(std::string command, const std::string& output) {
  command.replace(command.find("OUT"), 3, output);
  return command;
}

}  // namespace

TEST_CASE("beyond the file size limit every writer fails cleanly and keeps the previous output",
          "[cli][lose_nothing][faults]") {
  const fs::path dir = make_workspace("lose-nothing-fsize");
  const std::string previous = "the previous output\n";
  for (const std::string& writer : writers()) {
    const std::string arguments = with_output(writer, "out.x");
    INFO("$ ulimit -f 1; cscrub " << arguments);
    std::ofstream(dir / "out.x") << previous;
    const auto before = snapshot(dir);
    // 1 block of 512 bytes (dash counts ulimit -f in 512-byte blocks): every output is larger.
    const Outcome outcome = cscrub_in(dir, arguments, "ulimit -f 1 &&");
    INFO(outcome.errors);
    CHECK(outcome.exit_code == 1);
    check_one_line_error(outcome.errors, "out.x: cannot write: File too large");
    CHECK(read_text(dir / "out.x") == previous);
    CHECK(snapshot(dir) == before);  // no temporary file left, no input touched
  }
  // Without the limit the same commands write their outputs (the failures above were the limit's).
  for (const std::string& writer : writers()) {
    INFO("$ cscrub " << with_output(writer, "out.x"));
    std::ofstream(dir / "out.x") << previous;
    const Outcome outcome = cscrub_in(dir, with_output(writer, "out.x"));
    INFO(outcome.errors);
    CHECK(outcome.exit_code == 0);
    CHECK(fs::file_size(dir / "out.x") > 512);
  }
}

TEST_CASE("on a full disk every writer fails cleanly and keeps the previous output", "[cli][lose_nothing][faults]") {
  // A 64 KiB tmpfs in a private mount namespace (unshare -rm: no privileges needed where user namespaces
  // are allowed), filled to the last byte after the previous output is written.
  if (run_command("unshare -rm sh -c 'mount -t tmpfs -o size=64k tmpfs /mnt'").exit_code != 0) {
    WARN("cannot mount a tmpfs here (no user namespaces): the file size limit test stands in for a full disk");
    return;
  }
  const fs::path dir = make_workspace("lose-nothing-full");
  fs::create_directory(dir / "disk");
  const std::string previous = "the previous output\n";
  for (const std::string& writer : writers()) {
    const std::string arguments = with_output(writer, "disk/out.x");
    INFO("$ cscrub " << arguments << " (on a full tmpfs)");
    // Inside the namespace: mount, write the previous output, fill the disk, run, and report what is left.
    const std::string script =
        "mount -t tmpfs -o size=64k tmpfs disk && printf '" + std::string("the previous output\\n") +
        "' > disk/out.x && (dd if=/dev/zero of=disk/filler bs=4096 2>/dev/null; true) && "
        "(env -u CSCRUB_MODEL timeout -s KILL 300 " + shell_quote(cli_path().string()) + " " + arguments +
        " >/dev/null 2>" + shell_quote(beside(dir, "stderr").string()) + "; echo $? > " +
        shell_quote(beside(dir, "exit").string()) + ") && ls -A disk > " + shell_quote(beside(dir, "listing").string()) +
        " && cat disk/out.x > " + shell_quote(beside(dir, "after").string());
    const auto result = run_command("cd " + shell_quote(dir.string()) + " && unshare -rm sh -c " + shell_quote(script));
    INFO(result.output);
    REQUIRE(result.exit_code == 0);
    const std::string errors = read_text(beside(dir, "stderr"));
    INFO(errors);
    CHECK(read_text(beside(dir, "exit")) == "1\n");
    check_one_line_error(errors, "disk/out.x: cannot write: No space left on device");
    CHECK(read_text(beside(dir, "after")) == previous);
    CHECK(read_text(beside(dir, "listing")) == "filler\nout.x\n");  // no temporary file
  }
}

namespace {

// Starts cscrub with `arguments` in `dir` (stdout and stderr discarded); returns its process id.
pid_t spawn_cscrub(const fs::path& dir, const std::vector<std::string>& arguments) {
  std::vector<std::string> args = {cli_path().string()};
  args.insert(args.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  // Catch2 handles SIGTERM and SIGINT itself; the child starts from the defaults, as from a shell.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (const int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGXFSZ}) sigaddset(&defaults, signal);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int spawned = ::posix_spawn(&pid, argv[0], &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  REQUIRE(spawned == 0);
  return pid;
}

// Whether process `pid` has a file open in `dir` other than its `inputs` (its temporary output file, named or
// not), as /proc/PID/fd shows it.
bool writing_in(pid_t pid, const fs::path& dir, const std::vector<fs::path>& inputs) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", error)) {
    const fs::path target = fs::read_symlink(entry.path(), error);
    if (error || !target.string().starts_with(dir.string() + "/")) continue;
    if (std::find(inputs.begin(), inputs.end(), target) == inputs.end()) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a kill while writing leaves the previous output and no temporary file", "[cli][lose_nothing][faults]") {
  const fs::path dir = make_workspace("lose-nothing-kill");
  // 8 prompts of 128 tokens: 206 MB of logits, long enough to write that a kill lands mid-write.
  std::vector<int32_t> tokens(8 * 128);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(100 + (i * 7919) % 30000);
  const std::vector<int64_t> shape = {8, 128};
  cscrub::io::write_npy(dir / "batch.npy", tokens, shape);
  const std::string previous = "the previous logits\n";
  for (const int signal : {SIGTERM, SIGINT, SIGKILL}) {
    INFO("signal " << signal);
    std::ofstream(dir / "logits.npy") << previous;
    const auto before = snapshot(dir);
    const pid_t pid = spawn_cscrub(dir, {"forward", "--tokens-npy", "batch.npy", "--logits-out", "logits.npy"});
    bool writing = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
    while (!writing && std::chrono::steady_clock::now() < deadline) {
      writing = writing_in(pid, dir, {dir / "batch.npy"});
      if (!writing) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    CHECK(writing);
    ::kill(pid, signal);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == signal);  // the default action, after the clean-up
    CHECK(read_text(dir / "logits.npy") == previous);
    CHECK(snapshot(dir) == before);  // no temporary file, named or not
  }
}

TEST_CASE("a record of 10^6 per-seed values is compared at once, and its differences summed up on one line",
          "[cli][lose_nothing]") {
  const fs::path dir = make_workspace("lose-nothing-record");
  const Outcome run = cscrub_in(dir, "run h.toml --n 10 --seeds 2 --quiet --json record.json");
  INFO(run.errors);
  REQUIRE(run.exit_code == 0);
  nlohmann::json record = read_json_file(dir / "record.json");
  record["recovered_per_seed"] = std::vector<double>(1'000'000, 0.5);
  std::ofstream(dir / "many.json") << record.dump();
  // nlohmann's diff, quadratic in the surplus of an array, took hours on this record.
  const auto start = std::chrono::steady_clock::now();
  const Outcome rerun = cscrub_in(dir, "rerun many.json --quiet");
  INFO(rerun.errors.substr(0, 2000));
  CHECK(rerun.exit_code == 1);
  check_one_line_error(rerun.errors, "many.json: the rerun differs from the record in 1000000 place(s)");
  CHECK_THAT(rerun.errors, Contains("/recovered_per_seed/2 0.5 recorded, (absent) now") && Contains("and 999990 more"));
  CHECK(rerun.errors.size() < 4000);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(120));
}

// Names are user text: a hypothesis named with markup, quotes, a newline and a control character stays text in
// the SVG (no element of its own), in the JSON (read back whole) and in the DOT (its comment ends at the line).
TEST_CASE("a hypothesis name holding markup and a newline is text in the SVG, the JSON and the DOT", "[cli][lose_nothing]") {
  const fs::path dir = make_workspace("lose-nothing-user-text");
  const std::string hostile = "a<b & \"c\" ]]> </text><script>x</script>\n// newline\x01";
  std::string text = read_text(dir / "h.toml");
  const size_t name = text.find("\nname = ");
  REQUIRE(name != std::string::npos);
  text.replace(name + 1, text.find('\n', name + 1) - name - 1,
               "name = \"a<b & \\\"c\\\" ]]> </text><script>x</script>\\n// newline\\u0001\"");
  std::ofstream(dir / "evil.toml") << text;
  const Outcome compare =
      cscrub_in(dir, "compare evil.toml builtin:full --n 10 --seeds 1 --quiet --plot evil.svg --json evil.json");
  INFO(compare.errors);
  REQUIRE(compare.exit_code == 0);
  const std::string svg = read_text(dir / "evil.svg");
  CHECK(svg.find("<script") == std::string::npos);
  CHECK_THAT(svg, Contains("a&lt;b &amp; &quot;c&quot; ]]&gt; &lt;/text&gt;&lt;script&gt;x&lt;/script&gt;"));
  CHECK(svg.find('\x01') == std::string::npos);  // not a character XML allows
  const nlohmann::json record = read_json_file(dir / "evil.json");
  std::vector<std::string> names;
  for (const nlohmann::json& hypothesis : record["hypotheses"]) names.push_back(hypothesis["hypothesis"].get<std::string>());
  CHECK(std::find(names.begin(), names.end(), hostile) != names.end());
  const Outcome graph = cscrub_in(dir, "graph evil.toml --dot evil.dot");
  INFO(graph.errors);
  REQUIRE(graph.exit_code == 0);
  const std::string dot = read_text(dir / "evil.dot");
  CHECK(dot.substr(0, dot.find('\n')).find("</script>\\n// newline") != std::string::npos);  // one comment line
  CHECK(dot.substr(dot.find('\n') + 1).starts_with("digraph hypothesis {"));
}
