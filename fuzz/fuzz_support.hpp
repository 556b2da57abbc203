// What the fuzz targets share: a scratch directory per fuzzing process (for the readers that take a
// path), writing an input there, and a check that aborts (a libFuzzer finding) when a property fails.
#pragma once
#include <stdlib.h>  // mkdtemp

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace cscrub::fuzz {

// The directory is made once per process under $TMPDIR (tools/fuzz.sh points it at its own scratch
// space) and removed when the process exits normally; a crashing process leaves it for inspection.
inline const std::filesystem::path& scratch_dir() {
  struct Directory {
    std::filesystem::path path;
    Directory() {
      std::string pattern = (std::filesystem::temp_directory_path() / "cscrub-fuzz-XXXXXX").string();
      if (::mkdtemp(pattern.data()) == nullptr) {
        std::perror("cscrub fuzz: mkdtemp");
        std::abort();
      }
      path = pattern;
    }
    ~Directory() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const Directory directory;
  return directory.path;
}

// The scratch directory as a model directory holding a copy of one file of fuzz/data/MODEL (the other
// file is written there per input). Each fuzz target is its own process and fixes one model and file.
inline const std::filesystem::path& model_dir_with(const char* model, const char* fixed_file) {
  static const std::filesystem::path dir = [model, fixed_file] {
    const std::filesystem::path& scratch = scratch_dir();
    std::filesystem::copy_file(std::filesystem::path(CSCRUB_FUZZ_DIR) / "data" / model / fixed_file,
                               scratch / fixed_file);
    return scratch;
  }();
  return dir;
}

// fuzz/data/tiny_model: a 1-layer GPT-2.
inline const std::filesystem::path& tiny_model_dir_with(const char* fixed_file) {
  return model_dir_with("tiny_model", fixed_file);
}

inline void write_file(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  // A new file rather than a truncated one: ext4 flushes files truncated and rewritten (auto_da_alloc),
  // which costs milliseconds per input.
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out.flush()) {
    std::fprintf(stderr, "cscrub fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

// A property every input must satisfy; its failure is a finding like a crash.
inline void require(bool holds, std::string_view property) {
  if (holds) return;
  std::fprintf(stderr, "cscrub fuzz: property violated: %.*s\n", static_cast<int>(property.size()), property.data());
  std::abort();
}

}  // namespace cscrub::fuzz
