// numpy's .npy format (version 1.0/2.0, little-endian, C order) for float32, int32 and int64 arrays.
#pragma once
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace cscrub::io {

struct NpyArray {
  std::vector<int64_t> shape;
  std::variant<std::vector<float>, std::vector<int32_t>, std::vector<int64_t>> values;
};

// The .npy file's bytes; errors (a shape that does not hold the values) name `what`.
std::string npy_bytes(std::span<const float> values, std::span<const int64_t> shape, const std::string& what);
std::string npy_bytes(std::span<const int32_t> values, std::span<const int64_t> shape, const std::string& what);

void write_npy(const std::filesystem::path& path, std::span<const float> values, std::span<const int64_t> shape);
void write_npy(const std::filesystem::path& path, std::span<const int32_t> values, std::span<const int64_t> shape);
// Throws cscrub::Error naming the file for anything it cannot read exactly (bad magic, dtype, order, size).
NpyArray read_npy(const std::filesystem::path& path);

}  // namespace cscrub::io
