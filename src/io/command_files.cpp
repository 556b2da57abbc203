// CommandFiles (command_files.hpp). Two names are the same file when they resolve to the same path
// (symbolic links, "..", relative names) or, for files that exist, to the same device and inode (hard links,
// bind mounts).
#include "cscrub/io/command_files.hpp"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <optional>
#include <utility>

#include "cscrub/error.hpp"

namespace cscrub::io {
namespace {

namespace fs = std::filesystem;

struct FileIdentity {
  std::optional<std::pair<dev_t, ino_t>> inode;  // for a file that exists
  fs::path resolved;                               // absolute, links and dots resolved as far as they exist
};

FileIdentity identify(const fs::path& file) {
  FileIdentity identity;
  struct stat status {};
  if (::stat(file.c_str(), &status) == 0) identity.inode = std::pair{status.st_dev, status.st_ino};
  std::error_code error;
  identity.resolved = fs::weakly_canonical(fs::absolute(file, error), error);
  if (error) identity.resolved = fs::absolute(file, error).lexically_normal();
  return identity;
}

bool same_file(const FileIdentity& a, const FileIdentity& b) {
  return (a.inode && b.inode && *a.inode == *b.inode) || a.resolved == b.resolved;
}

// The names a model directory's loaders read (Hugging Face's layout; GPT-2's two tokenizer spellings).
constexpr const char* kModelFiles[] = {"config.json",  "model.safetensors", "model.safetensors.index.json",
                                       "vocab.json",   "merges.txt",        "encoder.json",
                                       "vocab.bpe",    "tokenizer.json",    "tokenizer_config.json"};

// What writing `file` would fail on, found before the work rather than after it: a missing or read-only
// directory, a name too long for the file system, a directory or a read-only file in the file's place.
void check_writable(const fs::path& file, const std::string& named) {
  std::error_code error;
  if (fs::is_directory(file, error)) throw Error(named + ": is a directory", "name a file to write");
  const fs::path parent = file.parent_path();
  if (!parent.empty() && !fs::is_directory(parent, error))
    throw Error(named + ": directory " + parent.string() + " does not exist", "create it first");
  const fs::path directory = parent.empty() ? fs::path(".") : parent;
  long name_max = ::pathconf(directory.c_str(), _PC_NAME_MAX);
  if (name_max <= 0) name_max = NAME_MAX;
  if (file.filename().native().size() > static_cast<size_t>(name_max))
    throw Error(named + ": a file name of " + std::to_string(file.filename().native().size()) + " bytes, more than the " +
                std::to_string(name_max) + " the file system allows");
  if (::access(directory.c_str(), W_OK | X_OK) != 0)
    throw Error(named + ": cannot write in directory " + directory.string() + ": " + std::strerror(errno));
  if (fs::exists(file, error) && ::access(file.c_str(), W_OK) != 0)
    throw Error(named + ": cannot write: " + std::strerror(errno), "it is read-only: make it writable, or write elsewhere");
}

}  // namespace

void CommandFiles::add_input(const fs::path& file) {
  std::error_code error;
  if (!file.empty() && fs::exists(file, error)) inputs_.push_back(file);
}

void CommandFiles::add_model_inputs(const fs::path& model_dir) {
  for (const char* name : kModelFiles) add_input(model_dir / name);
  std::error_code error;  // sharded weights: model-00001-of-00002.safetensors ...
  for (const auto& entry : fs::directory_iterator(model_dir, error))
    if (entry.path().extension() == ".safetensors") add_input(entry.path());
}

void CommandFiles::add_output(const fs::path& file, std::string option) {
  if (!file.empty() && file != "-") outputs_.push_back({file, std::move(option)});
}

void CommandFiles::check() const {
  std::vector<FileIdentity> inputs;
  for (const fs::path& input : inputs_) inputs.push_back(identify(input));
  std::vector<FileIdentity> outputs;
  for (const Output& output : outputs_) {
    const std::string named = output.option + " " + output.file.string();
    check_writable(output.file, named);
    const FileIdentity identity = identify(output.file);
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (same_file(identity, inputs[i])) {
        throw Error(named + ": is the input " + inputs_[i].string() + " of this command; writing it would destroy it",
                    "write " + output.option + " to another file");
      }
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (same_file(identity, outputs[i])) {
        throw Error(named + ": the same file as " + outputs_[i].option + " " + outputs_[i].file.string(),
                    "give each output its own file");
      }
    }
    outputs.push_back(identity);
  }
}

}  // namespace cscrub::io
