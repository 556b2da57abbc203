// `mpirun -np K cscrub run|compare|discover` as a cluster user runs it (on this machine, K ranks oversubscribing its
// cores): the JSON equals one process' byte for byte (the `memory` section of run and compare excepted: it
// describes the process that wrote it, per rank), a rank killed midway or one that cannot read a file ends the job
// with one message and no output, and commands that do not share their work refuse to run on several ranks.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "../io/random_model.hpp"
#include "json_file.hpp"
#include "cli_runs.hpp"
#include "test_paths.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using cscrub::test::cli;
using cscrub::test::CommandResult;
using cscrub::test::logged_run;
using cscrub::test::read_json_file;
using cscrub::test::shell_quote;

namespace {

// `ranks` ranks of `command` (a shell command line run by each rank); as root too (CI), bounded in time.
std::string mpirun(int ranks, const std::string& command, const std::string& environment = "") {
  // Open MPI refuses root unless told twice. Under the sanitizers, ranks joined to a job do not check leaks: Open
  // MPI keeps memory at exit in plugins it has unloaded, which LeakSanitizer cannot name to suppress. Every other
  // check stays on, and the single-process runs of the same commands check leaks.
  return "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
         "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 " + environment + " timeout 600 " +
         shell_quote(CSCRUB_MPIEXEC) + " -np " + std::to_string(ranks) + " --oversubscribe " + command;
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

int count_of(const std::string& text, const std::string& part) {
  int count = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

// `cscrub ARGUMENTS` as each rank runs it, in `dir`/rank<its rank> (where each reads its own copy of the inputs):
// a command line for mpirun().
std::string in_rank_directories(const fs::path& dir, const std::string& arguments) {
  return "sh -c " +
         shell_quote("cd " + shell_quote(dir.string()) + "/rank$OMPI_COMM_WORLD_RANK && exec " + cli() + arguments);
}

// Runs `each_rank` (in_rank_directories) on 2 ranks: the job must end with one message, rank 1's, containing
// `expected`, and leave no `output`.
void check_rank_one_fails(const std::string& each_rank, const std::string& expected, const fs::path& output) {
  const CommandResult result = logged_run(mpirun(2, each_rank));
  CHECK(result.exit_code != 0);
  CHECK(count_of(result.output, "cscrub: error:") == 1);
  CHECK_THAT(result.output, Contains("cscrub: error: rank 1 of 2: ") && Contains(expected));
  CHECK_FALSE(fs::exists(output));
}

// A compare of three bundled IOI variants, small: 60 prompts, 3 seeds, batches of 7 (units cross group boundaries).
std::string compare_arguments() {
  const fs::path hypotheses = cscrub::test::source_dir() / "hypotheses" / "gpt2-ioi-mini";
  std::string arguments = " compare";
  for (const char* file : {"ioi.toml", "s_mover_only.toml", "mlp0_only.toml"})
    arguments.append(" ").append(shell_quote((hypotheses / file).string()));
  return arguments + " --n 60 --seeds 3 --batch-size 7 --quiet";
}

// The JSON without its `memory` section, as written (2-space indents): every number of the results, as bits.
std::string results_text(const fs::path& path) {
  nlohmann::json json = read_json_file(path);
  json.erase("memory");
  return json.dump(2);
}

// A random GPT-2 (no tokenizer) and 5 pairs of token ids, 3 of 6 tokens and 2 of 9: pairs of two lengths, so that a
// rank's block of pairs can straddle them.
struct PairsFixture {
  fs::path dir = cscrub::test::scratch_dir("mpi-discover");
  fs::path model = dir / "model", pairs = dir / "pairs.jsonl";
  PairsFixture() {
    cscrub::test::make_random_model(model,
                                    {.layers = 2, .heads = 3, .d_model = 48, .vocab = 97, .n_ctx = 32, .seed = 5});
    std::mt19937 generator(11);
    std::uniform_int_distribution<int> token(0, 96);
    std::ofstream out(pairs);
    for (int n = 0; n < 5; ++n) {
      nlohmann::json clean = nlohmann::json::array(), corrupted = nlohmann::json::array();
      for (int p = 0; p < (n % 2 == 0 ? 6 : 9); ++p) {
        clean.push_back(token(generator));
        corrupted.push_back(token(generator));
      }
      const int answer = token(generator);
      out << nlohmann::json{{"clean", clean}, {"corrupted", corrupted}, {"answer", answer},
                            {"distractor", (answer + 1) % 97}}
                 .dump()
          << "\n";
    }
  }
  std::string arguments(const std::string& method) const {
    return " discover --model " + shell_quote(model.string()) + " --pairs " + shell_quote(pairs.string()) +
           " --method " + method + (method == "eap-ig" ? " --steps 3" : "") + " --batch-size 2 --quiet";
  }
};

}  // namespace

TEST_CASE("mpirun -np 2 cscrub compare writes one process' results, bit for bit", "[mpi][compare]") {
  const fs::path dir = cscrub::test::scratch_dir("mpi-compare");
  const fs::path one = dir / "one.json", two = dir / "two.json", threads = dir / "threads.json";
  const CommandResult single =
      logged_run(cli() + compare_arguments() + " --threads 1 --json " + shell_quote(one.string()));
  REQUIRE(single.exit_code == 0);
  CHECK_THAT(single.output, !Contains("MPI rank"));
  const CommandResult shared =
      logged_run(mpirun(2, cli() + compare_arguments() + " --threads 1 --json " + shell_quote(two.string())));
  REQUIRE(shared.exit_code == 0);
  // Rank 0 alone reports: one table, one cost line, which says that the work was shared.
  CHECK(count_of(shared.output, "on 2 MPI ranks") == 1);
  CHECK(count_of(shared.output, "wrote ") == 1);
  CHECK(count_of(shared.output, "minus bundled IOI") == 1);
  CHECK_THAT(shared.output, Contains("per rank (2 ranks on this machine)"));
  CHECK(results_text(one) == results_text(two));
  CHECK(read_json_file(one)["hypotheses"].size() == 3);
  CHECK(read_json_file(two)["memory"]["mpi"]["ranks"] == 2);
  CHECK_FALSE(read_json_file(one)["memory"].contains("mpi"));
  // Three ranks of two threads each: other blocks, other thread counts, the same bits.
  REQUIRE(logged_run(mpirun(3, cli() + compare_arguments() + " --threads 2 --json " + shell_quote(threads.string())))
              .exit_code == 0);
  CHECK(results_text(one) == results_text(threads));
}

TEST_CASE("mpirun -np 2 cscrub run writes one process' results, bit for bit", "[mpi][run]") {
  const fs::path dir = cscrub::test::scratch_dir("mpi-run");
  const std::string hypothesis =
      shell_quote((cscrub::test::source_dir() / "hypotheses" / "gpt2-ioi-mini" / "ioi.toml").string());
  const std::string arguments =
      " run " + hypothesis + " --n 40 --seeds 2 --batch-size 5 --sampling paper --quiet --json ";
  REQUIRE(logged_run(cli() + arguments + shell_quote((dir / "one.json").string())).exit_code == 0);
  const CommandResult shared = logged_run(mpirun(2, cli() + arguments + shell_quote((dir / "two.json").string())));
  REQUIRE(shared.exit_code == 0);
  CHECK(count_of(shared.output, "on 2 MPI ranks") == 1);
  CHECK(results_text(dir / "one.json") == results_text(dir / "two.json"));
}

TEST_CASE("mpirun -np K cscrub discover writes one process' graph JSON, byte for byte", "[mpi][discover]") {
  const PairsFixture fixture;
  // EAP and EAP-IG share the pairs; exact patching the destinations (21 here), dealt out in turn.
  for (const std::string method : {"eap", "eap-ig", "exact"}) {
    INFO(method);
    const fs::path one = fixture.dir / (method + "-1.json");
    REQUIRE(logged_run(cli() + fixture.arguments(method) + " --out " + shell_quote(one.string())).exit_code == 0);
    // 2 ranks: 3 pairs and 2; 3 ranks: 2, 2 and 1; 7 ranks: two of them without a pair (EAP).
    for (const int ranks : {2, 3, 7}) {
      INFO(ranks << " ranks");
      const fs::path shared = fixture.dir / (method + "-" + std::to_string(ranks) + ".json");
      const CommandResult result =
          logged_run(mpirun(ranks, cli() + fixture.arguments(method) + " --out " + shell_quote(shared.string())));
      REQUIRE(result.exit_code == 0);
      CHECK(count_of(result.output, "on " + std::to_string(ranks) + " MPI ranks") == 1);
      CHECK(file_bytes(one) == file_bytes(shared));
    }
    // Every edge of 2 layers of 3 heads: 9 sources (input, 6 heads, 2 MLPs) to the 21 inputs of later ones.
    const nlohmann::json edges = read_json_file(one)["edges"];
    CHECK(edges.size() == 75);
    CHECK(std::any_of(edges.begin(), edges.end(), [](const nlohmann::json& edge) { return edge["score"] != 0.0; }));
  }
}

TEST_CASE("mpirun -np K cscrub faithfulness writes one process' curves, byte for byte", "[mpi][faithfulness]") {
  const PairsFixture fixture;
  const fs::path graph = fixture.dir / "graph.json";
  REQUIRE(logged_run(cli() + fixture.arguments("eap-ig") + " --out " + shell_quote(graph.string())).exit_code == 0);
  // Two files, three sizes, two rankings: 2 x (1 + 2 x 3) = 14 circuits, the units.
  const std::string arguments = " faithfulness " + shell_quote(graph.string()) + " " + shell_quote(graph.string()) +
                                " --model " + shell_quote(fixture.model.string()) + " --pairs " +
                                shell_quote(fixture.pairs.string()) +
                                " --sizes 0.1,0.5,1 --batch-size 2 --quiet --json ";
  const fs::path one = fixture.dir / "faithfulness-1.json";
  REQUIRE(logged_run(cli() + arguments + shell_quote(one.string())).exit_code == 0);
  for (const int ranks : {2, 3}) {
    INFO(ranks << " ranks");
    const fs::path shared = fixture.dir / ("faithfulness-" + std::to_string(ranks) + ".json");
    const CommandResult result = logged_run(mpirun(ranks, cli() + arguments + shell_quote(shared.string())));
    REQUIRE(result.exit_code == 0);
    CHECK(count_of(result.output, "the circuits evaluated on " + std::to_string(ranks) + " MPI ranks") == 1);
    CHECK(file_bytes(one) == file_bytes(shared));
  }
  const nlohmann::json curves = read_json_file(one)["files"];
  REQUIRE(curves.size() == 2);
  CHECK(curves[0]["curves"][0]["points"].size() == 3);
  // The whole graph is the model: faithfulness 1 at size 1, in both rankings.
  CHECK(curves[0]["curves"][0]["points"][2]["faithfulness"] == Approx(1.0));
}

TEST_CASE("a graph file that differs on one rank ends faithfulness with that rank's message", "[mpi][faults]") {
  const PairsFixture fixture;
  for (const char* rank : {"rank0", "rank1"}) fs::create_directories(fixture.dir / rank);
  for (const char* method : {"eap", "eap-ig"}) {
    const fs::path graph = fixture.dir / (std::string(method) + ".json");
    REQUIRE(logged_run(cli() + fixture.arguments(method) + " --out " + shell_quote(graph.string())).exit_code == 0);
  }
  // Rank 0 reads the EAP scores as graph.json, rank 1 the EAP-IG scores: same graph, other circuits.
  fs::copy_file(fixture.dir / "eap.json", fixture.dir / "rank0" / "graph.json");
  fs::copy_file(fixture.dir / "eap-ig.json", fixture.dir / "rank1" / "graph.json");
  const fs::path json = fixture.dir / "faithfulness.json";
  const std::string each_rank = in_rank_directories(
      fixture.dir, " faithfulness graph.json --model " + shell_quote(fixture.model.string()) + " --pairs " +
                       shell_quote(fixture.pairs.string()) + " --sizes 0.1,1 --batch-size 2 --quiet --json " +
                       shell_quote(json.string()));
  check_rank_one_fails(each_rank, "the inputs this rank read differ from rank 0's (provenance/graphs_sha256/0", json);
  // The same file on both ranks: the job runs.
  fs::copy_file(fixture.dir / "eap.json", fixture.dir / "rank1" / "graph.json", fs::copy_options::overwrite_existing);
  CHECK(logged_run(mpirun(2, each_rank)).exit_code == 0);
  CHECK(fs::exists(json));
}

TEST_CASE("a rank killed midway ends the job with no output file", "[mpi][faults]") {
  const fs::path dir = cscrub::test::scratch_dir("mpi-killed");
  const fs::path json = dir / "compare.json";
  // Rank 1 kills itself (SIGKILL) once it has scrubbed its first unit's first seed.
  const CommandResult killed =
      logged_run(mpirun(2, cli() + compare_arguments() + " --json " + shell_quote(json.string()),
                        "CSCRUB_TEST_KILL_RANK=1 CSCRUB_TEST_KILL_AT=scrubbing"));
  CHECK(killed.exit_code != 0);
  CHECK_THAT(killed.output, Contains("rank 1") && Contains("signal 9"));
  CHECK_THAT(killed.output, !Contains("wrote "));
  CHECK_FALSE(fs::exists(json));
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 0);  // no temporary file either

  const PairsFixture fixture;
  const fs::path graph = fixture.dir / "graph.json";
  const CommandResult attributing =
      logged_run(mpirun(2, cli() + fixture.arguments("eap") + " --out " + shell_quote(graph.string()),
                        "CSCRUB_TEST_KILL_RANK=1 CSCRUB_TEST_KILL_AT=attributing"));
  CHECK(attributing.exit_code != 0);
  CHECK_FALSE(fs::exists(graph));
  const CommandResult patching =
      logged_run(mpirun(2, cli() + fixture.arguments("exact") + " --out " + shell_quote(graph.string()),
                        "CSCRUB_TEST_KILL_RANK=1 CSCRUB_TEST_KILL_AT=patching"));
  CHECK(patching.exit_code != 0);
  CHECK_FALSE(fs::exists(graph));
}

TEST_CASE("a file that one rank cannot read ends every rank with that rank's message and no output", "[mpi][faults]") {
  const fs::path dir = cscrub::test::scratch_dir("mpi-unreadable");
  fs::create_directories(dir / "rank0");
  fs::create_directories(dir / "rank1");
  const fs::path dataset = dir / "rank0" / "prompts.jsonl";
  REQUIRE(logged_run(cli() + " dataset ioi --n 60 --out " + shell_quote(dataset.string())).exit_code == 0);
  const fs::path json = dir / "out.json";
  // Each rank in its own directory, reading prompts.jsonl there: rank 1's is missing, then cut short, then another
  // valid dataset (the same prompts in another order).
  const std::string each_rank =
      in_rank_directories(dir, compare_arguments() + " --dataset prompts.jsonl --json " + shell_quote(json.string()));
  check_rank_one_fails(each_rank, "prompts.jsonl: cannot open the dataset file", json);

  const std::string lines = file_bytes(dataset);
  std::ofstream(dir / "rank1" / "prompts.jsonl") << lines.substr(0, lines.size() / 2);
  check_rank_one_fails(each_rank, "prompts.jsonl:", json);

  std::istringstream in(lines);
  std::string first, second, rest;
  std::getline(in, first);
  std::getline(in, second);
  std::ofstream(dir / "rank1" / "prompts.jsonl", std::ios::trunc) << second << "\n" << first << "\n" << in.rdbuf();
  check_rank_one_fails(each_rank, "the inputs this rank read differ from rank 0's (provenance/dataset/content_sha256",
                       json);

  // The same files on both ranks: the job runs.
  fs::copy_file(dataset, dir / "rank1" / "prompts.jsonl", fs::copy_options::overwrite_existing);
  CHECK(logged_run(mpirun(2, each_rank)).exit_code == 0);
  CHECK(fs::exists(json));
}

TEST_CASE("a pair file that one rank cannot read, or reads otherwise, ends discover with that rank's message",
          "[mpi][faults]") {
  const PairsFixture fixture;
  for (const char* rank : {"rank0", "rank1"}) fs::create_directories(fixture.dir / rank);
  fs::copy_file(fixture.pairs, fixture.dir / "rank0" / "pairs.jsonl");
  const fs::path graph = fixture.dir / "graph.json";
  const std::string each_rank =
      in_rank_directories(fixture.dir, " discover --method eap --model " + shell_quote(fixture.model.string()) +
                                           " --pairs pairs.jsonl --quiet --out " + shell_quote(graph.string()));
  check_rank_one_fails(each_rank, "pairs.jsonl", graph);
  // Rank 1's pairs are rank 0's but the last.
  const std::string lines = file_bytes(fixture.pairs);
  std::ofstream(fixture.dir / "rank1" / "pairs.jsonl") << lines.substr(0, lines.rfind('\n', lines.size() - 2) + 1);
  check_rank_one_fails(each_rank, "the inputs this rank read differ from rank 0's (provenance/pairs_sha256", graph);
}

TEST_CASE("commands that do not share their work refuse to run on several ranks", "[mpi][refusal]") {
  const PairsFixture fixture;
  const CommandResult acdc = logged_run(mpirun(2, cli() + fixture.arguments("acdc") + " --threshold 0.1 --out " +
                                                      shell_quote((fixture.dir / "acdc.json").string())));
  CHECK(acdc.exit_code != 0);
  CHECK(count_of(acdc.output, "cscrub: error: --method acdc does not share its work among MPI ranks") == 1);
  CHECK_FALSE(fs::exists(fixture.dir / "acdc.json"));
  const CommandResult refused = logged_run(mpirun(2, cli() + " tokenize 'When Mary'"));
  CHECK(refused.exit_code != 0);
  CHECK(count_of(refused.output, "cscrub: error: cscrub tokenize does not share its work among MPI ranks") == 1);
  // One rank under the launcher is one process.
  CHECK(logged_run(mpirun(1, cli() + " tokenize 'When Mary'")).exit_code == 0);
}
