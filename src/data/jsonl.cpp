#include "cscrub/data/jsonl.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "cscrub/data/checks.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/input_file.hpp"
#include "cscrub/io/json_lines.hpp"
#include "cscrub/io/json_excerpt.hpp"
#include "cscrub/io/output_file.hpp"
#include "cscrub/suggest.hpp"
#include "simple_lines.hpp"

namespace cscrub::data {
namespace {

using Json = nlohmann::ordered_json;  // keeps the field order we write, so output bytes are fixed

Json example_json(const Dataset& dataset, const Example& example, const io::Tokenizer& tokenizer) {
  Json line;
  line["text"] = example.text;
  line["tokens"] = example.tokens;
  line["answer_id"] = example.answer;
  line["answer_text"] = tokenizer.token_text(example.answer);
  if (example.distractor >= 0) {
    line["distractor_id"] = example.distractor;
    line["distractor_text"] = tokenizer.token_text(example.distractor);
  } else {
    line["distractor_id"] = nullptr;
    line["distractor_text"] = nullptr;
  }
  Json positions = Json::object();
  for (size_t p = 0; p < dataset.schema.positions.size(); ++p)
    positions[dataset.schema.positions[p]] = example.positions[p];
  line["positions"] = std::move(positions);
  Json features = Json::object();
  for (size_t f = 0; f < dataset.schema.features.size(); ++f)
    features[dataset.schema.features[f]] = example.features[f];
  line["features"] = std::move(features);
  line["group"] = example.group;
  line["task"] = dataset.schema.task;
  line["seed"] = dataset.seed;
  line["generator"] = dataset.generator;
  return line;
}

// Reading one line, with errors that name the file and line.
class LineReader {
 public:
  LineReader(const Json& line, std::string where) : line_(line), where_(std::move(where)) {}

  const Json& field(const char* key, Json::value_t type, const char* type_name) const {
    auto found = line_.find(key);
    if (found == line_.end()) throw Error(where_ + "missing field '" + key + "'");
    const bool matches = found->type() == type || (type == Json::value_t::number_integer && found->is_number_integer());
    if (!matches) throw Error(where_ + "field '" + key + "' must be " + type_name);
    return *found;
  }
  std::string string(const char* key) const { return field(key, Json::value_t::string, "a string").get<std::string>(); }
  int32_t token(const char* key) const {
    const Json& value = field(key, Json::value_t::number_integer, "a token id");
    if (value.get<int64_t>() < 0 || value.get<int64_t>() > INT32_MAX)
      throw Error(where_ + "field '" + key + "' is not a token id");
    return value.get<int32_t>();
  }
  bool is_null(const char* key) const { return line_.contains(key) && line_[key].is_null(); }

  // The values of object `key`, in the order of `names`; every name present, nothing else.
  std::vector<Json> named(const char* key, const std::vector<std::string>& names, const std::string& task) const {
    const Json& object = field(key, Json::value_t::object, "an object");
    for (const auto& [name, value] : object.items())
      if (std::find(names.begin(), names.end(), name) == names.end())
        throw Error(where_ + "task '" + task + "' has no " +
                    (std::string(key) == "positions" ? "position" : "feature") + " '" + name + "'" +
                    did_you_mean(name, names));
    std::vector<Json> values;
    for (const auto& name : names) {
      auto found = object.find(name);
      if (found == object.end()) throw Error(where_ + "'" + key + "' lacks '" + name + "'");
      values.push_back(*found);
    }
    return values;
  }
  const std::string& where() const { return where_; }

 private:
  const Json& line_;
  std::string where_;
};

Example read_example(const LineReader& reader, const TaskSchema& schema) {
  Example example;
  example.text = reader.string("text");
  const Json& tokens = reader.field("tokens", Json::value_t::array, "an array of token ids");
  for (const Json& id : tokens) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
      throw Error(reader.where() + "'tokens' holds something that is not a token id");
    example.tokens.push_back(id.get<int32_t>());
  }
  example.answer = reader.token("answer_id");
  example.distractor = reader.is_null("distractor_id") ? -1 : reader.token("distractor_id");
  for (const Json& position : reader.named("positions", schema.positions, schema.task)) {
    // Checked before narrowing: 2^32 + 14 must not become position 14.
    if (!position.is_number_integer() || position.get<int64_t>() < 0 || position.get<int64_t>() > INT32_MAX)
      throw Error(reader.where() + "positions must be token indices (integers from 0), not " +
                  io::json_excerpt(position));
    example.positions.push_back(position.get<int>());
  }
  for (const Json& feature : reader.named("features", schema.features, schema.task)) {
    if (!feature.is_string()) throw Error(reader.where() + "feature values must be strings");
    example.features.push_back(feature.get<std::string>());
  }
  example.group = reader.string("group");
  return example;
}

}  // namespace

void write_jsonl(const Dataset& dataset, const io::Tokenizer& tokenizer, std::ostream& out) {
  for (const Example& example : dataset.examples)
    // Invalid UTF-8 (a token that is part of a character) is replaced in the strings; the ids stay exact.
    out << example_json(dataset, example, tokenizer).dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
}

void write_jsonl(const Dataset& dataset, const io::Tokenizer& tokenizer, const std::filesystem::path& file) {
  std::ostringstream bytes;
  write_jsonl(dataset, tokenizer, bytes);
  io::write_file_atomically(file, std::move(bytes).str());
}

Dataset read_jsonl(std::istream& in, const std::string& source_name, const io::Tokenizer* tokenizer) {
  Dataset dataset;
  std::vector<SimpleLine> simple_lines;
  auto read_line = [&](Json&& line, const std::string& where) {
    if (!line.contains("tokens") && !line.contains("answer_id")) {  // written by hand
      simple_lines.push_back({std::move(line), where});
      return;
    }
    const LineReader reader(line, where);
    const std::string task = reader.string("task");
    if (dataset.examples.empty()) {
      try {
        dataset.schema = task_schema(task);
      } catch (const Error& error) {
        throw Error(where + error.what(), error.hint());
      }
      if (line.contains("seed") && line["seed"].is_number_unsigned()) dataset.seed = line["seed"].get<uint64_t>();
      if (line.contains("generator") && line["generator"].is_string())
        dataset.generator = line["generator"].get<std::string>();
    } else if (task != dataset.schema.task) {
      throw Error(where + "task '" + task + "' in a dataset of task '" + dataset.schema.task + "'");
    }
    dataset.examples.push_back(read_example(reader, dataset.schema));
  };
  // A dataset line nests three levels deep.
  constexpr int kMaxDepth = 16;
  io::for_each_json_line(in, source_name, kMaxDepth,
                         "one example per line: {\"text\": ..., \"answer\": ..., \"distractor\": ...}, or as "
                         "`cscrub dataset` writes them",
                         read_line);
  if (!simple_lines.empty() && !dataset.examples.empty())
    throw Error(simple_lines.front().where + "a line without 'tokens' in a file of lines with them",
                "write every line as `cscrub dataset` does, or every line with only text, answer and distractor");
  if (!simple_lines.empty()) return read_simple_lines(simple_lines, tokenizer, source_name);
  if (dataset.examples.empty()) throw Error(source_name + ": no examples");
  check_consistency(dataset, source_name);
  return dataset;
}

Dataset read_jsonl(const std::filesystem::path& file, const io::Tokenizer* tokenizer) {
  std::istringstream in(io::read_input_file(file, io::input_limits::dataset));
  Dataset dataset = read_jsonl(in, file.string(), tokenizer);
  dataset.source_files = {file.string()};
  return dataset;
}

}  // namespace cscrub::data
