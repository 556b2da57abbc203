// Where cscrub's bundled files are (the default model with its tokenizer, the task vocabularies, the
// example hypotheses): a `share/cscrub` directory found from the file that holds this code (the `cscrub`
// executable, a test, the Python module), never from a path compiled in, so that an install or a checkout
// can be moved or copied and still use its own files.
#pragma once
#include <filesystem>
#include <optional>

namespace cscrub::io {

// The executable or shared library this code was linked into (the Python module, for `import cscrub`).
std::filesystem::path code_file();

// The `share/cscrub` directory beside code_file() or in its parent directory (<prefix>/bin/cscrub and
// <prefix>/share/cscrub when installed; <build>/cscrub, <build>/tests/* and <build>/python/* and
// <build>/share/cscrub, relative links to the sources' models/, datasets/, hypotheses/, in a build tree), or, for
// a module in <prefix>/lib/python3.X/dist-packages (or site-packages), <prefix>/share/cscrub. nullopt when there
// is none.
std::optional<std::filesystem::path> bundled_data_dir();

// bundled_data_dir() / `relative`; throws cscrub::Error saying where it looked, and which environment variable
// (`override_variable`, e.g. "CSCRUB_MODEL") names the file instead, when there is no bundled data.
std::filesystem::path bundled_file(const std::filesystem::path& relative, const char* override_variable);

}  // namespace cscrub::io
