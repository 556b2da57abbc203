// The schema of hand-written lines: a known task's ("task": "ioi") when they name one, whose positions and
// features (END excepted) every line must then give; otherwise task "custom", whose positions are the labels
// the lines give (plus END) and whose features are the names they give, every line giving all of them.
#include "simple_lines.hpp"

#include <algorithm>

#include "cscrub/data/checks.hpp"
#include "cscrub/data/jsonl.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/json_excerpt.hpp"
#include "prompt_layout.hpp"

namespace cscrub::data {
namespace {

using Json = nlohmann::ordered_json;
constexpr const char* kEnd = "END";
const std::vector<std::string> kFields = {"text", "answer", "distractor", "positions", "features", "group", "task"};

std::string quoted_list(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "'" : ", '") + name + "'";
  return text;
}

// The names of object `key` of every line, in order of first appearance.
std::vector<std::string> names_given(const std::vector<SimpleLine>& lines, const char* key) {
  std::vector<std::string> names;
  for (const SimpleLine& line : lines) {
    const auto found = line.json.find(key);
    if (found == line.json.end() || !found->is_object()) continue;
    for (const auto& [name, value] : found->items())
      if (name != kEnd && std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

TaskSchema schema_of(const std::vector<SimpleLine>& lines) {
  std::string task;
  for (const SimpleLine& line : lines) {
    const auto found = line.json.find("task");
    if (found == line.json.end()) continue;
    if (!found->is_string()) throw Error(line.where + "field 'task' must be a string");
    if (task.empty()) task = found->get<std::string>();
    if (found->get<std::string>() != task)
      throw Error(line.where + "task '" + found->get<std::string>() + "' in a dataset of task '" + task + "'");
  }
  if (!task.empty() && task != kCustomTask) {
    try {
      return task_schema(task);
    } catch (const Error& error) {
      throw Error(lines.front().where + error.what(), error.hint());
    }
  }
  TaskSchema schema;
  schema.task = kCustomTask;
  schema.positions = names_given(lines, "positions");
  schema.positions.push_back(kEnd);
  schema.features = names_given(lines, "features");
  schema.default_metric = "logit_diff";
  schema.description = "prompts written by hand";
  return schema;
}

// What a line lacks: fields, and positions or features of the schema; empty when nothing.
std::vector<std::string> missing_parts(const Json& line, const TaskSchema& schema) {
  std::vector<std::string> missing;
  for (const char* field : {"text", "answer", "distractor"})
    if (!line.contains(field)) missing.push_back(std::string("'") + field + "'");
  const auto lacks = [&](const char* key, const std::vector<std::string>& names) {
    const Json* object = line.contains(key) && line.at(key).is_object() ? &line.at(key) : nullptr;
    for (const auto& name : names)
      if (name != kEnd && (object == nullptr || !object->contains(name)))
        missing.push_back(std::string(key == std::string("positions") ? "position" : "feature") + " '" + name + "'");
  };
  lacks("positions", schema.positions);
  lacks("features", schema.features);
  return missing;
}

// Every line's missing parts in one error: "f:1: missing 'answer'; f:4: missing position 'S2', ..." (the first
// five lines, then how many more).
void report_missing(const std::vector<SimpleLine>& lines, const TaskSchema& schema) {
  constexpr int kListed = 5;
  std::string message;
  int incomplete = 0;
  for (const SimpleLine& line : lines) {
    const std::vector<std::string> missing = missing_parts(line.json, schema);
    if (missing.empty() || ++incomplete > kListed) continue;
    std::string list;
    for (const auto& part : missing) list += (list.empty() ? "" : ", ") + part;
    message += (message.empty() ? "" : "; ") + line.where + "missing " + list;
  }
  if (incomplete == 0) return;
  if (incomplete > kListed) message += "; and " + std::to_string(incomplete - kListed) + " more incomplete lines";
  throw Error(message,
              "a line needs \"text\", \"answer\" and \"distractor\" (null if none)" +
                  (schema.task == kCustomTask ? std::string("; positions and features named on any line are needed on every line")
                                              : "; task '" + schema.task + "' also needs positions " +
                                                    quoted_list(schema.positions) + " (END is the last token) and features " +
                                                    quoted_list(schema.features)));
}

// "answer": one token's text (" Mary") or its id.
int32_t token_of(const Json& value, const char* field, const io::Tokenizer& tokenizer, const std::string& where) {
  if (value.is_number_integer()) {
    if (value.get<int64_t>() < 0 || value.get<int64_t>() >= tokenizer.vocab_size())
      throw Error(where + "'" + field + "' " + io::json_excerpt(value) + " is not a token id of this tokenizer");
    return value.get<int32_t>();
  }
  if (!value.is_string()) throw Error(where + "'" + field + "' must be a token's text (e.g. \" Mary\") or its id");
  const std::vector<int32_t> ids = tokenizer.encode(value.get<std::string>());
  if (ids.size() != 1)
    throw Error(where + "'" + field + "' " + io::json_excerpt(value) + " is " + std::to_string(ids.size()) +
                    " tokens, not one",
                "the answer is the next token: write its text with its leading space, e.g. \" Mary\"");
  return ids.front();
}

Example example_of(const SimpleLine& line, const TaskSchema& schema, const io::Tokenizer& tokenizer) {
  const Json& json = line.json;
  for (const auto& [key, value] : json.items())
    if (std::find(kFields.begin(), kFields.end(), key) == kFields.end())
      throw Error(line.where + "unknown field '" + key + "'", "a simple line has the fields " + quoted_list(kFields));
  Example example;
  if (!json.at("text").is_string()) throw Error(line.where + "field 'text' must be a string");
  example.text = json.at("text").get<std::string>();
  example.tokens = tokenizer.encode(example.text);
  if (example.tokens.empty()) throw Error(line.where + "'text' is empty");
  example.answer = token_of(json.at("answer"), "answer", tokenizer, line.where);
  example.distractor = json.at("distractor").is_null() ? -1 : token_of(json.at("distractor"), "distractor", tokenizer, line.where);
  const int end = static_cast<int>(example.tokens.size()) - 1;
  for (const auto& label : schema.positions) {
    if (label == kEnd && !(json.contains("positions") && json.at("positions").contains(kEnd))) {
      example.positions.push_back(end);
      continue;
    }
    const Json& value = json.at("positions").at(label);
    if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > end)
      throw Error(line.where + "position '" + label + "' = " + io::json_excerpt(value) + " is not a token index of the " +
                  std::to_string(end + 1) + "-token prompt (0 to " + std::to_string(end) + ")");
    if (label == kEnd && value.get<int64_t>() != end)
      throw Error(line.where + "position 'END' must be the last token (" + std::to_string(end) + "), where the answer is predicted");
    example.positions.push_back(value.get<int>());
  }
  if (json.contains("positions") && json.at("positions").is_object())
    for (const auto& [label, value] : json.at("positions").items())
      if (std::find(schema.positions.begin(), schema.positions.end(), label) == schema.positions.end())
        throw Error(line.where + "task '" + schema.task + "' has no position '" + label + "'");
  for (const auto& name : schema.features) {
    const Json& value = json.at("features").at(name);
    if (!value.is_string()) throw Error(line.where + "feature '" + name + "' must be a string");
    example.features.push_back(value.get<std::string>());
  }
  if (json.contains("features") && json.at("features").is_object())
    for (const auto& [name, value] : json.at("features").items())
      if (std::find(schema.features.begin(), schema.features.end(), name) == schema.features.end())
        throw Error(line.where + "task '" + schema.task + "' has no feature '" + name + "'");
  if (json.contains("group")) {
    if (!json.at("group").is_string()) throw Error(line.where + "field 'group' must be a string");
    example.group = json.at("group").get<std::string>();
  } else {
    example.group = group_label(schema.task, example.tokens.size(), example.positions);
  }
  return example;
}

}  // namespace

Dataset read_simple_lines(const std::vector<SimpleLine>& lines, const io::Tokenizer* tokenizer,
                          const std::string& source_name) {
  if (tokenizer == nullptr)
    throw Error(lines.front().where + "a line without 'tokens' is tokenized, and there is no tokenizer here",
                "give the model's tokenizer, or write the lines `cscrub dataset` writes");
  Dataset dataset;
  dataset.schema = schema_of(lines);
  for (const SimpleLine& line : lines)
    for (const char* key : {"positions", "features"})
      if (line.json.contains(key) && !line.json.at(key).is_object())
        throw Error(line.where + "field '" + key + "' must be an object");
  report_missing(lines, dataset.schema);
  for (const SimpleLine& line : lines) dataset.examples.push_back(example_of(line, dataset.schema, *tokenizer));
  dataset.generator = "written by hand: " + source_name;
  check_consistency(dataset, source_name);
  return dataset;
}

}  // namespace cscrub::data
