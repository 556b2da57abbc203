// libFuzzer target: a model.safetensors file. SafetensorsFile::open validates its header; every tensor of a
// float dtype is converted; load_weights then reads it next to a fixed config.json (fuzz/data/tiny_model:
// 1 layer, 2 heads, d_model 4, vocab 5, n_ctx 3, the shape of the seeds), so well-formed inputs reach the
// name, shape, NaN and tied-head checks. Only cscrub::Error may escape the readers.
#include <algorithm>
#include <vector>

#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/safetensors.hpp"
#include "fuzz_support.hpp"

namespace fs = std::filesystem;
using namespace cscrub;

namespace {

const fs::path& model_dir() { return fuzz::tiny_model_dir_with("config.json"); }

bool is_float(io::DType dtype) { return dtype == io::DType::F32 || dtype == io::DType::F16 || dtype == io::DType::BF16; }

void check_file(const io::SafetensorsFile& file) {
  const auto& tensors = file.tensors();
  fuzz::require(std::is_sorted(tensors.begin(), tensors.end(),
                               [](const auto& a, const auto& b) { return a.name < b.name; }),
                "tensors are sorted by name");
  for (const io::SafetensorsTensor& tensor : tensors) {
    // open() promised that the byte span matches shape x dtype; the product must not have overflowed.
    uint64_t bytes = io::dtype_size(tensor.dtype);
    for (int64_t extent : tensor.shape) {
      fuzz::require(extent >= 0, "extents are non-negative");
      fuzz::require(!__builtin_mul_overflow(bytes, static_cast<uint64_t>(extent), &bytes), "tensor size fits");
    }
    fuzz::require(bytes == tensor.bytes.size(), "byte span matches shape x dtype");
    if (is_float(tensor.dtype)) {
      std::vector<float> values(static_cast<size_t>(tensor.element_count()));
      io::convert_to_float(file.path(), tensor, values);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path& dir = model_dir();
  const fs::path path = dir / "model.safetensors";
  fuzz::write_file(path, data, size);
  try {
    check_file(io::SafetensorsFile::open(path));
  } catch (const Error& error) {
    fuzz::require(std::string_view(error.what()).starts_with(path.string()), "safetensors errors name the file");
  }
  try {
    const engine::Weights weights = io::load_weights(dir);
    fuzz::require(weights.layers.size() == 1 && weights.token_embedding.size() == 5 * 4, "the tiny model's shape");
  } catch (const Error&) {
  }
  return 0;
}
