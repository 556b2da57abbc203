// CommandFiles: an output that is an input (by any name), two outputs that are one file, and outputs that
// cannot be written where they are named are refused before any work.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "cscrub/error.hpp"
#include "cscrub/io/command_files.hpp"
#include "cscrub/io/output_file.hpp"
#include "test_paths.hpp"

using Catch::Matchers::Contains;
using cscrub::io::CommandFiles;
namespace fs = std::filesystem;

namespace {

void touch(const fs::path& file) { std::ofstream(file) << "x"; }

// A command reading `input` and writing `output` as --json.
CommandFiles reading_and_writing(const fs::path& input, const fs::path& output) {
  CommandFiles files;
  files.add_input(input);
  files.add_output(output, "--json");
  return files;
}

}  // namespace

TEST_CASE("CommandFiles refuses an output that is an input, under any name", "[io][command_files]") {
  const fs::path dir = cscrub::test::scratch_dir("command-files");
  touch(dir / "hypothesis.toml");
  fs::create_directory(dir / "sub");
  fs::create_symlink(dir / "hypothesis.toml", dir / "link.toml");
  fs::create_hard_link(dir / "hypothesis.toml", dir / "hard.toml");
  fs::create_directory_symlink(dir, dir / "sub" / "up");

  const std::vector<fs::path> same_file = {
      dir / "hypothesis.toml",                   // the same name
      dir / "sub" / ".." / "hypothesis.toml",    // dots
      dir / "link.toml",                          // a symbolic link to it
      dir / "hard.toml",                          // a hard link to it
      dir / "sub" / "up" / "hypothesis.toml",    // through a linked directory
  };
  for (const fs::path& output : same_file) {
    INFO(output);
    CHECK_THROWS_WITH(reading_and_writing(dir / "hypothesis.toml", output).check(),
                      Contains("--json " + output.string() + ": is the input " + (dir / "hypothesis.toml").string()) &&
                          Contains("writing it would destroy it"));
  }
  // A relative name, from the directory of the input.
  const fs::path previous = fs::current_path();
  fs::current_path(dir / "sub");
  CHECK_THROWS_WITH(reading_and_writing(dir / "hypothesis.toml", "../hypothesis.toml").check(),
                    Contains("--json ../hypothesis.toml: is the input"));
  fs::current_path(previous);

  // Different files pass, existing or not, and so does an input that does not exist.
  touch(dir / "old.json");
  CHECK_NOTHROW(reading_and_writing(dir / "hypothesis.toml", dir / "old.json").check());
  CHECK_NOTHROW(reading_and_writing(dir / "hypothesis.toml", dir / "new.json").check());
  CHECK_NOTHROW(reading_and_writing(dir / "missing.toml", dir / "missing.toml").check());
  CHECK_NOTHROW(reading_and_writing("", dir / "out.json").check());
}

TEST_CASE("CommandFiles protects every file of a model directory", "[io][command_files]") {
  const fs::path dir = cscrub::test::scratch_dir("command-files-model");
  for (const char* name : {"config.json", "model.safetensors", "encoder.json", "vocab.bpe", "model-00002-of-00002.safetensors"})
    touch(dir / name);
  touch(dir / "results.json");
  for (const char* name : {"config.json", "model.safetensors", "encoder.json", "vocab.bpe", "model-00002-of-00002.safetensors"}) {
    CommandFiles files;
    files.add_model_inputs(dir);
    files.add_output(dir / name, "--out");
    CHECK_THROWS_WITH(files.check(), Contains("--out " + (dir / name).string() + ": is the input"));
  }
  CommandFiles files;
  files.add_model_inputs(dir);
  files.add_output(dir / "results.json", "--out");  // an earlier output kept beside the model
  CHECK_NOTHROW(files.check());
}

TEST_CASE("CommandFiles refuses two outputs in one file, and outputs it cannot write", "[io][command_files]") {
  const fs::path dir = cscrub::test::scratch_dir("command-files-outputs");
  fs::create_directory(dir / "sub");
  {
    CommandFiles files;
    files.add_output(dir / "a.json", "--json");
    files.add_output(dir / "sub" / ".." / "a.json", "--plot");
    CHECK_THROWS_WITH(files.check(), Contains("--plot " + (dir / "sub" / ".." / "a.json").string() +
                                              ": the same file as --json " + (dir / "a.json").string()));
  }
  {
    CommandFiles files;
    files.add_output(dir / "a.json", "--json");
    files.add_output(dir / "b.svg", "--plot");
    files.add_output("-", "--out");  // standard output
    files.add_output("", "--svg");   // not given
    CHECK_NOTHROW(files.check());
  }
  {
    CommandFiles files;
    files.add_output(dir / "missing" / "a.json", "--json");
    CHECK_THROWS_WITH(files.check(), Contains("--json " + (dir / "missing" / "a.json").string() + ": directory " +
                                              (dir / "missing").string() + " does not exist"));
  }
  {
    CommandFiles files;
    files.add_output(dir / "sub", "--dot");
    CHECK_THROWS_WITH(files.check(), Contains("--dot " + (dir / "sub").string() + ": is a directory"));
  }
}

TEST_CASE("CommandFiles refuses, before the work, a name the file system would refuse after it", "[io][command_files]") {
  const fs::path dir = cscrub::test::scratch_dir("command-files-name");
  CommandFiles files;
  files.add_output(dir / (std::string(300, 'a') + ".json"), "--json");
  CHECK_THROWS_WITH(files.check(), Contains("a file name of 305 bytes, more than the 255 the file system allows"));
  CommandFiles fits;
  fits.add_output(dir / (std::string(250, 'a') + ".json"), "--json");
  CHECK_NOTHROW(fits.check());
}

TEST_CASE("CommandFiles and write_file_atomically leave a read-only file alone", "[io][command_files][output_file]") {
  if (::geteuid() == 0) {
    WARN("running as root, for whom no file is read-only: skipping");
    return;
  }
  const fs::path dir = cscrub::test::scratch_dir("command-files-read-only");
  std::ofstream(dir / "kept.json") << "kept";
  fs::permissions(dir / "kept.json", fs::perms::owner_read);
  CommandFiles files;
  files.add_output(dir / "kept.json", "--json");
  CHECK_THROWS_WITH(files.check(), Contains("kept.json: cannot write: Permission denied"));
  CHECK_THROWS_WITH(cscrub::io::write_file_atomically(dir / "kept.json", "replaced"),
                    Contains("kept.json: cannot write: Permission denied"));
  std::ifstream in(dir / "kept.json");
  std::string text;
  in >> text;
  CHECK(text == "kept");
  fs::permissions(dir / "kept.json", fs::perms::owner_all);
}
