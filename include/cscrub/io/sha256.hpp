// SHA-256 of files and text, for provenance records (which model, dataset and hypothesis produced a number).
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace cscrub::io {

// Lower-case hex digest; throws cscrub::Error naming the file when it cannot be read.
std::string sha256_file(const std::filesystem::path& file);
std::string sha256_text(std::string_view text);

}  // namespace cscrub::io
