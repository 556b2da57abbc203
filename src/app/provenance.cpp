#include "cscrub/app/provenance.hpp"

#include <fmt/format.h>

#include <map>
#include <system_error>

#include "cscrub/io/sha256.hpp"

namespace cscrub::app {
namespace {

using Json = nlohmann::json;

// The files of a model directory that the result depends on, those that exist.
std::vector<std::filesystem::path> model_files(const std::filesystem::path& model_dir) {
  std::vector<std::filesystem::path> files;
  for (const char* name : {"config.json", "model.safetensors", "vocab.json", "merges.txt", "encoder.json", "vocab.bpe"}) {
    std::error_code error;
    if (std::filesystem::is_regular_file(model_dir / name, error)) files.push_back(model_dir / name);
  }
  return files;
}

class InputList {
 public:
  void add(const std::string& role, const std::string& path, const std::string& by = {}) {
    for (const Json& entry : list_)
      if (entry["role"] == role && entry["path"] == path) return;
    Json entry = {{"role", role}, {"path", path}, {"sha256", hash(path)}};
    if (!by.empty()) entry["by"] = by;
    list_.push_back(std::move(entry));
  }
  Json take() { return std::move(list_); }

 private:
  std::string hash(const std::string& path) {
    auto found = hashes_.find(path);
    if (found == hashes_.end()) found = hashes_.emplace(path, io::sha256_file(path)).first;
    return found->second;
  }
  Json list_ = Json::array();
  std::map<std::string, std::string> hashes_;
};

void add_hypothesis(InputList& inputs, const graph::Hypothesis& hypothesis, const std::string& role) {
  for (size_t i = 0; i < hypothesis.files.size(); ++i)
    if (i == 0) inputs.add(role, hypothesis.files[i]);
    else inputs.add("extends", hypothesis.files[i], hypothesis.files[i - 1]);
}

std::string describe(const Json& entry) {
  const std::string role = entry.value("role", "input");
  const std::string path = entry.value("path", "?");
  if (role == "extends") return fmt::format("the file {}, which {} extends,", path, entry.value("by", "?"));
  return fmt::format("the {} {}", role, path);
}

}  // namespace

Json input_files(const std::vector<graph::Hypothesis>& hypotheses, const graph::Hypothesis& baseline,
                 const data::Dataset& dataset, bool read_from_file, const std::filesystem::path& model_dir,
                 const data::Dataset* counterfactual) {
  InputList inputs;
  for (const graph::Hypothesis& hypothesis : hypotheses) add_hypothesis(inputs, hypothesis, "hypothesis");
  add_hypothesis(inputs, baseline, "baseline");
  for (const std::string& file : dataset.source_files) inputs.add(read_from_file ? "dataset" : "task file", file);
  if (counterfactual != nullptr)
    for (const std::string& file : counterfactual->source_files) inputs.add("counterfactual task file", file);
  for (const auto& file : model_files(model_dir)) inputs.add("model", file.string());
  return inputs.take();
}

std::vector<std::string> changed_input_files(const Json& recorded_inputs) {
  std::vector<std::string> changes;
  if (!recorded_inputs.is_array()) return changes;
  for (const Json& entry : recorded_inputs) {
    if (!entry.is_object() || !entry.contains("path") || !entry["path"].is_string()) continue;
    const std::string path = entry["path"].get<std::string>();
    const std::string recorded = entry.value("sha256", "");
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) {
      changes.push_back(describe(entry) + " is gone");
      continue;
    }
    const std::string now = io::sha256_file(path);
    if (now != recorded) changes.push_back(fmt::format("{} has changed (sha256 {} now, {} recorded)", describe(entry), now, recorded));
  }
  return changes;
}

}  // namespace cscrub::app
