// A task's prompts with everything causal scrubbing needs: tokens, the answer and distractor tokens,
// named positions, features (the variables a hypothesis may claim a node computes) and alignment groups.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cscrub::data {

// What a task offers to hypotheses: feature names, position labels and its default metric.
struct TaskSchema {
  std::string task;                    // "ioi", "induction", ...
  std::vector<std::string> features;   // e.g. "io_name", "s_name", "template", "order"
  std::vector<std::string> positions;  // e.g. "IO", "S1", "S1+1", "S2", "END"
  std::string default_metric;          // "logit_diff", ...
  std::string description;

  std::optional<int> feature_index(const std::string& name) const;
  std::optional<int> position_index(const std::string& name) const;
};

struct Example {
  std::string text;                   // the prompt, without the answer
  std::vector<int32_t> tokens;        // its GPT-2 token ids
  int32_t answer = -1;                // the correct next token (IOI: the IO name)
  int32_t distractor = -1;            // the competing token (IOI: the S name); -1 if the task has none
  std::vector<int> positions;         // one index per TaskSchema::positions
  std::vector<std::string> features;  // one value per TaskSchema::features
  std::string group;                  // prompts with equal group have equal length and named positions
};

struct Dataset {
  TaskSchema schema;
  std::vector<Example> examples;
  uint64_t seed = 0;
  std::string generator;  // the command that remakes it, e.g. "cscrub dataset ioi --n 200 --seed 1 --option order=abba"
  std::vector<std::string> source_files;  // the files it was read or generated from (a JSONL file, task files)

  int answer_position(const Example& example) const { return static_cast<int>(example.tokens.size()) - 1; }
};

}  // namespace cscrub::data
