// Where task definitions live (datasets/*.toml) and reading their lists of words and templates.
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace cscrub::data {

// $CSCRUB_DATASETS_DIR if set, else the bundled share/cscrub/datasets (see io/bundled_data.hpp); throws
// cscrub::Error when neither exists.
std::filesystem::path datasets_dir();

// `override_path` if not empty, else datasets_dir() / default_name.
std::filesystem::path task_file(const std::string& override_path, const std::string& default_name);

// A task definition file, parsed once; errors name the file and the line.
class TaskFile {
 public:
  explicit TaskFile(const std::filesystem::path& path);
  ~TaskFile();
  TaskFile(TaskFile&&) noexcept;

  // One string of an array, with the line it is on (for errors about it).
  struct Entry {
    std::string text;
    int line = 0;
  };
  // The array of strings `key`; throws if absent, empty, or holding anything but strings.
  std::vector<Entry> entries(const std::string& key) const;
  std::vector<std::string> strings(const std::string& key) const;
  // "file:line: " for an entry.
  std::string where(const Entry& entry) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Table;
  std::filesystem::path path_;
  std::unique_ptr<Table> table_;
};

}  // namespace cscrub::data
