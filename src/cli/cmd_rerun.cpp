// `cscrub rerun RESULT.json`: repeat a `run`, `compare` or `test` from the provenance its JSON recorded, after
// checking by hash that the model, the dataset and the hypothesis files are the recorded ones, and report
// whether every number came out the same (exit 1 if one did not).
#include <fmt/format.h>

#include <memory>
#include <optional>

#include "commands.hpp"
#include "cscrub/engine/matmul.hpp"
#include "cscrub/error.hpp"
#include "cscrub/app/circuit_tests.hpp"
#include "cscrub/app/provenance.hpp"
#include "cscrub/io/input_file.hpp"
#include "cscrub/io/json_depth.hpp"
#include "experiment_options.hpp"
#include "json_differences.hpp"
#include "option_checks.hpp"

namespace cscrub::cli {
namespace {

using Json = nlohmann::json;

struct RerunOptions {
  std::string record;
  std::string model;   // empty: the recorded model directory
  std::string matmul;  // empty: the recorded kernel (auto for records that name none)
  int threads = 0;
  double max_memory_gib = 0;
  bool quiet = false;
};

Json read_record(const std::string& path) {
  const std::string text = io::read_input_file(path, io::input_limits::run_record);
  io::refuse_deep_json(text, path);
  try {
    Json record = Json::parse(text);
    if (record.is_object() && record.contains("provenance") && record["provenance"].is_object()) return record;
  } catch (const Json::exception& error) {
    throw Error(path + ": not valid JSON (" + error.what() + ")", "rerun takes the --json file of `cscrub run`, `compare` or `test`");
  }
  throw Error(path + ": has no 'provenance' object", "rerun takes the --json file of `cscrub run`, `compare` or `test`");
}

// The run's options, read from the record's provenance; a field of the wrong type names itself.
app::ExperimentOptions options_from(const Json& provenance, const RerunOptions& rerun, std::vector<std::string>& hypotheses) {
  const auto field = [&](const Json& object, const char* key) -> const Json& {
    if (!object.is_object() || !object.contains(key)) throw Error(rerun.record + ": provenance lacks '" + key + "'");
    return object.at(key);
  };
  app::ExperimentOptions options;
  try {
    const Json& dataset = field(provenance, "dataset");
    options.model = rerun.model.empty() ? field(provenance, "model_dir").get<std::string>() : rerun.model;
    options.matmul = !rerun.matmul.empty() ? rerun.matmul : provenance.value("matmul", std::string("auto"));
    options.task = field(dataset, "task").get<std::string>();
    options.n = field(dataset, "n").get<int>();
    options.dataset_file = field(dataset, "file").get<std::string>();
    options.task_options = field(dataset, "options").get<std::vector<std::string>>();
    options.seed = field(provenance, "first_seed").get<uint64_t>();
    options.seeds = field(provenance, "seeds").get<int>();
    options.metric = field(provenance, "metric").get<std::string>();
    options.baseline = field(field(provenance, "baseline"), "file").get<std::string>();
    // Records from before these options existed ran with their defaults.
    options.sampling = provenance.value("sampling", std::string("cscrub"));
    options.exclude_singletons = provenance.value("exclude_singletons", false);
    for (const Json& hypothesis : field(provenance, "hypotheses"))
      hypotheses.push_back(field(hypothesis, "file").get<std::string>());
  } catch (const Json::exception& error) {
    throw Error(rerun.record + ": a provenance field has the wrong type (" + error.what() + ")");
  }
  if (hypotheses.empty()) throw Error(rerun.record + ": the provenance lists no hypothesis");
  options.threads = rerun.threads;
  options.max_memory_gib = rerun.max_memory_gib;
  options.quiet = rerun.quiet;
  return options;
}

// What changed since the record: any input file it lists (the hypotheses and the files they extend, task or
// dataset files, the model's files), the dataset's prompts; for records without that list, the model and
// the hypothesis and baseline files.
std::vector<std::string> changed_inputs(const Json& recorded, const Json& now) {
  if (recorded.contains("inputs")) {  // its files are checked before; the prompts made from them here
    std::vector<std::string> changes;
    if (recorded.value(Json::json_pointer("/dataset/content_sha256"), Json()) != now.at(Json::json_pointer("/dataset/content_sha256")))
      changes.push_back("the dataset's prompts differ (the same options gave other prompts)");
    return changes;
  }
  std::vector<std::string> changes;
  const auto differs = [&](const Json::json_pointer& at, const std::string& what) {
    const Json before = recorded.contains(at) ? recorded.at(at) : Json();
    if (before != now.at(at))
      changes.push_back(fmt::format("{}: sha256 {} now, {} recorded", what, now.at(at).dump(), before.dump()));
  };
  differs(Json::json_pointer("/model_sha256"), "the model " + now["model_dir"].get<std::string>());
  differs(Json::json_pointer("/dataset/content_sha256"), "the dataset's prompts");
  for (size_t i = 0; i < now["hypotheses"].size(); ++i)
    differs(Json::json_pointer("/hypotheses/" + std::to_string(i) + "/sha256"),
            "the hypothesis " + now["hypotheses"][i]["file"].get<std::string>());
  differs(Json::json_pointer("/baseline/sha256"), "the baseline " + now["baseline"]["file"].get<std::string>());
  return changes;
}

// Every value of the result but the machine's (memory), where the model was (model) and the provenance,
// which is checked above.
Json comparable(Json result) {
  for (const char* key : {"memory", "model", "provenance"}) result.erase(key);
  if (result.contains("hypotheses"))
    for (Json& entry : result["hypotheses"]) entry.erase("model");
  return result;
}

// Prints that `record` was reproduced, or throws naming the first numbers that differ (and how many do).
void check_same_numbers(const std::string& path, const Json& record, const Json& now, const std::string& what) {
  // `now` as its file would read back: a NaN (an undefined recovery) is written, and so recorded, as null.
  const JsonDifferences differences = json_differences(comparable(record), comparable(Json::parse(now.dump())), 10);
  if (differences.count == 0) {
    fmt::print("reproduced {}: every number is identical ({})\n", path, what);
    return;
  }
  std::string list;
  for (const JsonDifference& difference : differences.listed)
    list += fmt::format("{}{} {} recorded, {} now", list.empty() ? "" : "; ", difference.path, difference.recorded,
                        difference.now);
  if (differences.count > differences.listed.size())
    list += fmt::format("; and {} more", differences.count - differences.listed.size());
  throw Error(path + ": the rerun differs from the record in " + std::to_string(differences.count) + " place(s): " + list,
              "the inputs are unchanged, so the program or the machine's arithmetic differs; report it");
}

void rerun(const RerunOptions& rerun_options) {
  const Json record = read_record(rerun_options.record);
  const Json& recorded = record["provenance"];
  std::vector<std::string> files;
  const app::ExperimentOptions options = options_from(recorded, rerun_options, files);
  if (rerun_options.matmul.empty() && options.matmul != "auto") {  // the recorded kernel
    const std::optional<engine::MatmulKernel> recorded = engine::matmul_kernel_named(options.matmul);
    if (!recorded)
      throw Error(rerun_options.record + ": records an unknown products kernel '" + options.matmul + "'",
                  "rerun with --matmul auto, fp32-fma or amx-split-bf16");
    if (*recorded == engine::MatmulKernel::amx_split_bf16 && !engine::amx_usable())
      throw Error(rerun_options.record + ": recorded with the amx-split-bf16 products (Intel AMX), which this "
                                         "machine cannot run",
                  "rerun with --matmul fp32-fma: the same products in FP32, whose numbers may differ in the last "
                  "digits");
  }
  const auto refuse_changes = [&](const std::vector<std::string>& changes) {
    if (changes.empty()) return;
    std::string list;
    for (const auto& change : changes) list += (list.empty() ? "" : "; ") + change;
    throw Error(rerun_options.record + ": its inputs have changed since it was recorded: " + list,
                "rerun needs the recorded files; restore them (e.g. from version control) or run anew");
  };
  // Every recorded file first: an edited file may not even be read the same way any more.
  if (recorded.contains("inputs")) refuse_changes(app::changed_input_files(recorded["inputs"]));
  if (record.contains("tests")) {  // a `cscrub test` record
    app::CircuitTestOptions tests;
    try {
      tests = app::circuit_test_options_from(recorded.at("tests"));
    } catch (const Json::exception& error) {
      throw Error(rerun_options.record + ": its provenance's 'tests' is malformed (" + error.what() + ")");
    }
    const Json now = app::run_circuit_tests(options, files, tests);
    refuse_changes(changed_inputs(recorded, now["provenance"]));
    check_same_numbers(rerun_options.record, record, now,
                       fmt::format("test of {} file{}, {} prompts of task '{}', {} seed{}", files.size(),
                                   files.size() == 1 ? "" : "s", now["provenance"]["dataset"]["n"].dump(),
                                   options.task, options.seeds, options.seeds == 1 ? "" : "s"));
    return;
  }
  const app::PreparedExperiment prepared = app::prepare_experiment(options, files);
  refuse_changes(changed_inputs(recorded, prepared.provenance));
  if (recorded.value("cscrub_version", "") != prepared.provenance["cscrub_version"])
    fmt::print("note: recorded with cscrub {}, rerun with {}\n", recorded.value("cscrub_version", "?"),
               prepared.provenance["cscrub_version"].get<std::string>());

  const scrub::ExperimentResult result = *execute_experiment(parallel::Ranks(), prepared, options.quiet);
  const bool compared = record.contains("hypotheses");
  const Json now = compared ? app::experiment_json(prepared, result) : app::hypothesis_json(prepared, result, 0);
  check_same_numbers(rerun_options.record, record, now,
                     fmt::format("{} of {} prompts of task '{}', {} seed{}, metric {}", compared ? "compare" : "run",
                                 prepared.dataset.examples.size(), prepared.dataset.schema.task, result.seeds,
                                 result.seeds == 1 ? "" : "s", scrub::to_string(result.metric)));
}

}  // namespace

void add_rerun_command(CLI::App& app) {
  auto options = std::make_shared<RerunOptions>();
  CLI::App* command = app.add_subcommand(
      "rerun", "repeat a run, compare or test from its JSON's provenance and check every number comes out the same");
  command->add_option("result", options->record, "the --json file of `cscrub run`, `compare` or `test`")->required();
  command->add_option("--model", options->model, "the model directory, if it moved (its hash must match the record)");
  command
      ->add_option("--matmul", options->matmul,
                   "the products' kernel (default: the recorded one; another may change the last digits)")
      ->type_name("KERNEL");
  command->add_option("--threads", options->threads, "threads (does not change results)")->check(thread_count());
  command->add_option("--max-memory", options->max_memory_gib, "as for `cscrub run` (GiB)")->check(memory_gib());
  command->add_flag("--quiet", options->quiet, "no progress bar");
  command->callback([options] { rerun(*options); });
}

}  // namespace cscrub::cli
