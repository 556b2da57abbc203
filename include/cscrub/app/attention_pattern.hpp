// What `cscrub attention` and the Python module's attention() share: their options, the prompt (a text, or a
// task's or dataset's prompt by index) with a label per token, one head's attention pattern on it, and the result
// as the JSON `cscrub attention --json` writes (the same bytes from both).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cscrub/app/prompt_pairs.hpp"
#include "cscrub/discover/targets.hpp"
#include "cscrub/engine/tensor.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::app {

struct AttentionPatternOptions {
  std::string model;
  std::string matmul = "auto";  // see matmul_kernel_for
  std::string head;             // LAYER.HEAD
  // Exactly one of: the prompt as text, or the index of a prompt of `prompts`.
  std::optional<std::string> text;
  std::optional<int> index;
  PromptPairChoice prompts;  // a dataset file or a task's prompts (no pairs)
};

struct AttentionPrompt {
  std::string text;
  std::vector<int32_t> tokens;
  std::vector<std::string> labels;  // one per token: its text, and its named positions if it has any (" John [S2]")
};

struct AttentionPatternRun {
  std::string model_dir;  // as given
  engine::ModelConfig config;
  discover::HeadId head;
  AttentionPrompt prompt;
  engine::RowMatrix pattern;  // [query, key]

  std::string head_name() const;  // "2.1"
  // What the pattern holds, in words.
  std::string meaning() const;
};

// Loads the model, reads the head and the prompt and computes the pattern. Throws cscrub::Error (the CLI's
// messages) for a bad head, no prompt or two, an index outside the prompts, or unreadable inputs.
AttentionPatternRun run_attention_pattern(const AttentionPatternOptions& options);

// The result `cscrub attention --json` writes.
nlohmann::ordered_json attention_pattern_json(const AttentionPatternRun& run);

}  // namespace cscrub::app
