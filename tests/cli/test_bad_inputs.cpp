// The bad-input corpus (tests/bad_inputs/): every case of cases.tsv is run through the real cscrub binary,
// which must refuse it the way users are told errors look: exit code 1, no crash, no hang, no sanitizer
// report, and one line "cscrub: error: ..." (with an optional "  hint: ..." line) that names the problem.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "test_paths.hpp"

namespace fs = std::filesystem;
using cscrub::test::shell_quote;

namespace {

struct BadCase {
  int line = 0;          // in cases.tsv
  std::string name;
  std::string arguments;  // after `cscrub`, with placeholders
  std::vector<std::string> expected;  // fragments one message line must contain
};

fs::path corpus_dir() { return cscrub::test::source_dir() / "tests" / "bad_inputs"; }

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  return parts;
}

std::vector<BadCase> read_cases() {
  std::ifstream in(corpus_dir() / "cases.tsv");
  REQUIRE(in);
  std::vector<BadCase> cases;
  std::string text;
  for (int line = 1; std::getline(in, text); ++line) {
    if (text.empty() || text.front() == '#') continue;
    const std::vector<std::string> columns = split(text, '\t');
    INFO("cases.tsv:" << line << ": " << text);
    REQUIRE(columns.size() >= 3);  // name, arguments, at least one expected fragment
    BadCase bad{line, columns[0], columns[1], {columns.begin() + 2, columns.end()}};
    for (const auto& fragment : bad.expected) REQUIRE(!fragment.empty());
    cases.push_back(std::move(bad));
  }
  return cases;
}

// The binary inputs (model directories, .npy files), written once per test run by make_bad_binaries.py.
const fs::path& generated_dir() {
  static const fs::path dir = [] {
    const fs::path out = cscrub::test::scratch_dir("bad-inputs") / "generated";
    const std::string command = std::string(cscrub::test::system_python()) + " " +
                                shell_quote((corpus_dir() / "make_bad_binaries.py").string()) + " " +
                                shell_quote(out.string());
    const auto result = cscrub::test::run_command(command);
    INFO(command << "\n" << result.output);
    REQUIRE(result.exit_code == 0);
    return out;
  }();
  return dir;
}

std::string substitute(std::string text) {
  const std::map<std::string, std::string> values = {{"{bad}", corpus_dir().string()},
                                                     {"{gen}", generated_dir().string()},
                                                     {"{src}", cscrub::test::source_dir().string()}};
  for (const auto& [placeholder, value] : values)
    for (size_t at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder, at + value.size()))
      text.replace(at, placeholder.size(), value);
  return text;
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Outcome {
  int exit_code = -1;
  std::string errors;  // stderr
  std::string output;  // stdout
};

// Runs `cscrub ARGUMENTS` through /bin/sh in a fresh directory (for files a case writes), with the default
// model (no $CSCRUB_MODEL) and a time limit: a hang is a failure, not a stuck test.
Outcome run_cscrub(const std::string& arguments) {
  const fs::path work = cscrub::test::scratch_dir("bad-input-case");
  // In a subshell: run_command() appends its own 2>&1.
  const std::string command = "(cd " + shell_quote(work.string()) + " && env -u CSCRUB_MODEL timeout -s KILL 600 " +
                              shell_quote(cscrub::test::cli_path().string()) + " " + arguments +
                              " >stdout.txt 2>stderr.txt)";
  Outcome outcome;
  outcome.exit_code = cscrub::test::run_command(command).exit_code;
  outcome.errors = read_text(work / "stderr.txt");
  outcome.output = read_text(work / "stdout.txt");
  fs::remove_all(work);
  return outcome;
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// stderr as cscrub prints user errors: message lines, each optionally followed by one "  hint: " line.
// Only `check` prints more than one message: every problem (FILE.toml:LINE:COL: ...), then its summary.
void check_message_shape(const BadCase& bad, const std::string& errors) {
  const std::vector<std::string> lines = split(errors, '\n');
  std::vector<std::string> messages;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (starts_with(lines[i], "  hint: ")) {
      CHECK((i > 0 && !starts_with(lines[i - 1], "  hint: ")));  // a hint belongs to the message above it
      continue;
    }
    messages.push_back(lines[i]);
  }
  CHECK(!messages.empty());
  if (messages.empty()) return;
  CHECK(starts_with(messages.back(), "cscrub: error: "));
  if (starts_with(bad.arguments, "check ")) {
    for (size_t i = 0; i + 1 < messages.size(); ++i) CHECK(messages[i].find(".toml:") != std::string::npos);
  } else {
    CHECK(messages.size() == 1);
  }
  bool found = false;
  for (const auto& message : messages) {
    bool all = true;
    for (const auto& fragment : bad.expected) all = all && message.find(substitute(fragment)) != std::string::npos;
    found = found || all;
  }
  CHECK(found);
}

}  // namespace

TEST_CASE("cscrub refuses every bad input with one clear line and exit code 1", "[cli][bad_inputs]") {
  const std::vector<BadCase> cases = read_cases();
  for (const BadCase& bad : cases) {
    const std::string arguments = substitute(bad.arguments);
    const Outcome outcome = run_cscrub(arguments);
    INFO("case " << bad.name << " (cases.tsv:" << bad.line << ")\n$ cscrub " << arguments << "\nexit code "
                 << outcome.exit_code << " (1: refused; 2: internal error; 137: killed after the time limit; "
                 << "128+N: signal N)\nstderr:\n" << outcome.errors << "stdout:\n" << outcome.output.substr(0, 2000));
    CHECK(outcome.exit_code == 1);
    for (const char* report : {"runtime error:", "AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer"})
      CHECK(outcome.errors.find(report) == std::string::npos);
    check_message_shape(bad, outcome.errors);
  }
}

TEST_CASE("the corpus is large, its names are unique, and every file in it is used", "[cli][bad_inputs]") {
  const std::vector<BadCase> cases = read_cases();
  CHECK(cases.size() >= 40);
  std::set<std::string> names;
  std::string all_arguments;
  for (const BadCase& bad : cases) {
    CHECK(names.insert(bad.name).second);
    all_arguments += bad.arguments + "\n";
  }
  const auto used = [&](const std::string& reference) {
    INFO(reference << " is in no case of cases.tsv");
    CHECK(all_arguments.find(reference) != std::string::npos);
  };
  int committed = 0;
  for (const char* kind : {"hypotheses", "datasets", "text", "tasks"}) {
    for (const auto& entry : fs::directory_iterator(corpus_dir() / kind)) {
      const std::string name = entry.path().filename().string();
      if (starts_with(name, "valid")) continue;  // an unbroken original, run below
      used("{bad}/" + std::string(kind) + "/" + name);
      ++committed;
    }
  }
  // Broken configs become generated model directories config_<name>.
  for (const auto& entry : fs::directory_iterator(corpus_dir() / "configs")) {
    used("{gen}/config_" + entry.path().stem().string() + " ");
    ++committed;
  }
  for (const std::string family : {"gpt_neo", "gpt_neox"})  // and gpt_neo_config_<name>, next to the family's weights
    for (const auto& entry : fs::directory_iterator(corpus_dir() / ("configs_" + family))) {
      used("{gen}/" + family + "_config_" + entry.path().stem().string() + " ");
      ++committed;
    }
  CHECK(committed >= 40);
  for (const auto& entry : fs::directory_iterator(generated_dir())) {
    const std::string name = entry.path().filename().string();
    if (name == "npy" || name == "hostile") continue;
    if (starts_with(name, "valid")) continue;  // the unbroken originals, run below
    used("{gen}/" + name + " ");
  }
  for (const auto& entry : fs::directory_iterator(generated_dir() / "npy"))
    used("{gen}/npy/" + entry.path().filename().string());
  // Hostile inputs: a name followed by a space, a tab or a '/' (fifo is not used by fifo_config).
  for (const auto& entry : fs::directory_iterator(generated_dir() / "hostile")) {
    const std::string reference = "{gen}/hostile/" + entry.path().filename().string();
    bool found = false;
    for (size_t at = all_arguments.find(reference); at != std::string::npos && !found;
         at = all_arguments.find(reference, at + 1))
      found = std::string(" \t/\n").find(all_arguments[at + reference.size()]) != std::string::npos;
    INFO(reference << " is in no case of cases.tsv");
    CHECK(found);
  }
}

TEST_CASE("the corpus is broken only where intended: its valid originals run", "[cli][bad_inputs]") {
  // The tiny model every model-directory case breaks in one place.
  Outcome outcome = run_cscrub("forward --model " + shell_quote((generated_dir() / "valid").string()) + " --tokens 1,2,3");
  INFO(outcome.errors << outcome.output);
  CHECK(outcome.exit_code == 0);
  CHECK(outcome.errors.empty());
  CHECK(outcome.output.find("top 10 next tokens") != std::string::npos);
  CHECK(outcome.output.find("nan") == std::string::npos);
  // The GPT-Neo and GPT-NeoX models the family cases break.
  for (const char* family : {"valid_gpt_neo", "valid_gpt_neox"}) {
    const Outcome run = run_cscrub("forward --model " + shell_quote((generated_dir() / family).string()) + " --tokens 1,2,3");
    INFO(family << ": " << run.errors << run.output);
    CHECK(run.exit_code == 0);
    CHECK(run.errors.empty());
    CHECK(run.output.find("top 10 next tokens") != std::string::npos);
  }

  // The tokenizer.json every tokjson_ case breaks: "hello" is he + ll + o (merge ranks 1 and 3), " the" one
  // token after three merges, <|endoftext|> split out whole, " world" its bytes (byte b's token is b).
  const Outcome tokens =
      run_cscrub("tokenize --model " + shell_quote((generated_dir() / "valid_tokenizer_json").string()) +
                 " 'hello the<|endoftext|> world'");
  INFO(tokens.errors << tokens.output);
  CHECK(tokens.exit_code == 0);
  CHECK(tokens.output.find("257 259 111 258 263 32 119 111 114 108 100") != std::string::npos);

  // The overflowing model with GPT-2's vocabulary, without the overflow, is scored by `run`.
  outcome = run_cscrub("run builtin:full --task ioi --model " + shell_quote((generated_dir() / "valid_gpt2_vocab").string()) +
                       " --n 40 --seeds 1 --quiet");
  INFO(outcome.errors << outcome.output);
  CHECK(outcome.exit_code == 0);
  CHECK(outcome.output.find("recovered") != std::string::npos);

  // The dataset every bad dataset changes in one place.
  outcome = run_cscrub("run " + shell_quote((cscrub::test::source_dir() / "hypotheses" / "gpt2-ioi-mini" / "ioi.toml").string()) +
                       " --dataset " + shell_quote((corpus_dir() / "datasets" / "valid_base.jsonl").string()) +
                       " --seeds 1 --quiet");
  INFO(outcome.errors << outcome.output);
  CHECK(outcome.exit_code == 0);
  CHECK(outcome.output.find("2 prompts of task 'ioi'") != std::string::npos);
}
