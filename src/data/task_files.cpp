#include "task_files.hpp"

#include <toml++/toml.h>

#include <cstdlib>
#include <map>
#include <string_view>

#include "cscrub/data/toml_guard.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/bundled_data.hpp"
#include "cscrub/io/input_file.hpp"

namespace cscrub::data {

std::filesystem::path datasets_dir() {
  if (const char* from_environment = std::getenv("CSCRUB_DATASETS_DIR"); from_environment && *from_environment)
    return from_environment;
  return io::bundled_file("datasets", "CSCRUB_DATASETS_DIR");
}

std::filesystem::path task_file(const std::string& override_path, const std::string& default_name) {
  return override_path.empty() ? datasets_dir() / default_name : std::filesystem::path(override_path);
}

struct TaskFile::Table {
  toml::table table;
};

TaskFile::TaskFile(const std::filesystem::path& path) : path_(path), table_(std::make_unique<Table>()) {
  if (!std::filesystem::exists(path))
    throw Error("task file " + path.string() + " does not exist",
                "set CSCRUB_DATASETS_DIR to the directory holding the task .toml files, or pass "
                "--option vocabulary=FILE");
  const std::string text = io::read_input_file(path, io::input_limits::task_file);
  refuse_what_toml_cannot_read(text, path.string());
  try {
    table_->table = toml::parse(text, path.string());
  } catch (const toml::parse_error& error) {
    throw Error(path.string() + ":" + std::to_string(error.source().begin.line) + ": " +
                std::string(error.description()));
  }
}

TaskFile::~TaskFile() = default;
TaskFile::TaskFile(TaskFile&&) noexcept = default;

std::string TaskFile::where(const Entry& entry) const {
  return path_.string() + ":" + std::to_string(entry.line) + ": ";
}

std::vector<std::string> TaskFile::strings(const std::string& key) const {
  std::vector<std::string> values;
  for (auto& entry : entries(key)) values.push_back(std::move(entry.text));
  return values;
}

std::vector<TaskFile::Entry> TaskFile::entries(const std::string& key) const {
  const toml::node* node = table_->table.get(key);
  if (!node) throw Error(path_.string() + ": missing array '" + key + "'");
  const toml::array* array = node->as_array();
  auto where = [&](const toml::node& at) {
    return path_.string() + ":" + std::to_string(at.source().begin.line) + ": ";
  };
  if (!array || array->empty()) throw Error(where(*node) + "'" + key + "' must be a non-empty array of strings");
  std::vector<Entry> values;
  std::map<std::string_view, int> line_of;  // a word listed twice would be drawn as two different ones
  for (const toml::node& element : *array) {
    const auto* value = element.as_string();
    if (!value) throw Error(where(element) + "'" + key + "' holds something that is not a string");
    const auto [earlier, first] = line_of.emplace(value->get(), static_cast<int>(element.source().begin.line));
    if (!first)
      throw Error(where(element) + "'" + key + "' lists \"" + value->get() + "\" twice (also on line " +
                      std::to_string(earlier->second) + ")",
                  "each entry once: two draws of one entry (an IOI name as both IO and S, say) make prompts whose "
                  "answer is their distractor");
    values.push_back({value->get(), static_cast<int>(element.source().begin.line)});
  }
  return values;
}

}  // namespace cscrub::data
