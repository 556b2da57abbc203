// libFuzzer target: a .npy file. read_npy must either refuse it with cscrub::Error or return exactly
// product(shape) values; what it read as float32 or int32 must survive write_npy + read_npy bit for bit.
#include <cstring>
#include <numeric>

#include "cscrub/error.hpp"
#include "cscrub/io/npy.hpp"
#include "fuzz_support.hpp"

namespace fs = std::filesystem;
using namespace cscrub;

namespace {

template <typename T>
void check_round_trip(const fs::path& path, const std::vector<T>& values, const std::vector<int64_t>& shape) {
  io::write_npy(path, std::span<const T>(values), shape);
  const io::NpyArray again = io::read_npy(path);
  fuzz::require(again.shape == shape, "round trip keeps the shape");
  const auto* read = std::get_if<std::vector<T>>(&again.values);
  fuzz::require(read != nullptr && read->size() == values.size(), "round trip keeps the dtype and count");
  fuzz::require(values.empty() || std::memcmp(read->data(), values.data(), values.size() * sizeof(T)) == 0,
                "round trip keeps every bit");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path path = fuzz::scratch_dir() / "input.npy";
  fuzz::write_file(path, data, size);
  io::NpyArray array;
  try {
    array = io::read_npy(path);
  } catch (const Error& error) {
    fuzz::require(std::string_view(error.what()).starts_with(path.string()), "npy errors name the file");
    return 0;
  }
  // As numpy counts: the non-zero extents' product must fit (even when an extent is zero, which empties it).
  size_t product = 1;
  bool empty = false;
  for (int64_t extent : array.shape) {
    fuzz::require(extent >= 0, "extents are non-negative");
    if (extent == 0) empty = true;
    else fuzz::require(!__builtin_mul_overflow(product, static_cast<size_t>(extent), &product), "count fits");
  }
  const size_t count = empty ? 0 : product;
  std::visit([&](const auto& values) { fuzz::require(values.size() == count, "product(shape) values"); }, array.values);

  const fs::path copy = fuzz::scratch_dir() / "copy.npy";
  if (const auto* floats = std::get_if<std::vector<float>>(&array.values)) check_round_trip(copy, *floats, array.shape);
  if (const auto* ints = std::get_if<std::vector<int32_t>>(&array.values)) check_round_trip(copy, *ints, array.shape);
  return 0;
}
