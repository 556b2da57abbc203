// Reading a JSON file that a test wrote or that cscrub wrote for it (throws nlohmann's errors if malformed).
#pragma once
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace cscrub::test {

inline nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

}  // namespace cscrub::test
