// The files a result depends on, each with its SHA-256, so that `cscrub rerun` can say which one changed:
// every hypothesis file and the files it extends, the baseline's, the dataset file or the task files the
// prompts were generated from, and the model directory's config, weights and tokenizer.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/graph/hypothesis.hpp"

namespace cscrub::app {

// [{"role", "path", "sha256"} ...]; role is "hypothesis", "extends" (with "by": the file that extends it),
// "baseline", "dataset" (a file given with --dataset: `read_from_file`), "task file" (the files the prompts
// were generated from; "counterfactual task file" for `counterfactual`'s), or "model".
nlohmann::json input_files(const std::vector<graph::Hypothesis>& hypotheses, const graph::Hypothesis& baseline,
                           const data::Dataset& dataset, bool read_from_file, const std::filesystem::path& model_dir,
                           const data::Dataset* counterfactual = nullptr);

// One sentence per recorded input file whose contents differ now (or that is gone), naming its role:
// "the hypothesis a.toml, extended by b.toml, has changed (sha256 ... now, ... recorded)".
std::vector<std::string> changed_input_files(const nlohmann::json& recorded_inputs);

}  // namespace cscrub::app
