// The files one command reads and writes, checked before it does any work: an output must not be one of
// the command's inputs (named directly, through a symbolic link, or as a hard link of it), two outputs must
// not be the same file, and each output must be writable where it is named (its directory exists and may be
// written, its name fits the file system, it is no directory and no read-only file). Commands fill one with
// their inputs and outputs and call check().
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace cscrub::io {

class CommandFiles {
 public:
  // A file the command reads. An empty path (an option not given) is skipped, and so is a file that does
  // not exist: reading it fails later with its own message.
  void add_input(const std::filesystem::path& file);
  // The files a model loader may read in a model directory: config.json, the safetensors weights and the
  // tokenizer files, whichever exist.
  void add_model_inputs(const std::filesystem::path& model_dir);
  // A file the command writes and the option that names it ("--json"), for messages. An empty path (the
  // option not given) and "-" (standard output) are skipped.
  void add_output(const std::filesystem::path& file, std::string option);

  // Throws cscrub::Error naming the option, the output and the input it would overwrite (or the other output,
  // or the missing directory).
  void check() const;

 private:
  std::vector<std::filesystem::path> inputs_;
  struct Output {
    std::filesystem::path file;
    std::string option;
  };
  std::vector<Output> outputs_;
};

}  // namespace cscrub::io
