// A memory-mapped, validated view of a .safetensors file: 8-byte little-endian header length N, N bytes
// of JSON {name: {dtype, shape, data_offsets}}, then the raw little-endian data. Opening checks the whole
// header (offsets in range, not overlapping, sizes matching shape x dtype), so readers can trust entries.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace cscrub::io {

// A read-only private mapping of a whole file, unmapped on destruction.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);  // throws cscrub::Error if unreadable
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const { return {data_, size_}; }

 private:
  void release();
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

// The element types the safetensors format defines. Only F32, F16 and BF16 convert to float32; the others
// are known so that files carrying e.g. boolean buffers can still be read.
enum class DType : uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL };

std::optional<DType> parse_dtype(std::string_view name);
std::string_view dtype_name(DType dtype);
size_t dtype_size(DType dtype);

struct SafetensorsTensor {
  std::string name;              // as stored, e.g. "transformer.h.0.ln_1.weight"
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::span<const std::byte> bytes;  // inside the mapping; possibly unaligned
  int64_t element_count() const;
};

class SafetensorsFile {
 public:
  // Maps and validates `path`; every problem throws cscrub::Error starting with the path and naming the
  // tensor concerned.
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }  // sorted by name

 private:
  SafetensorsFile(std::filesystem::path path, MappedFile file) : path_(std::move(path)), file_(std::move(file)) {}
  std::filesystem::path path_;
  MappedFile file_;
  std::vector<SafetensorsTensor> tensors_;
};

// Converts a F32, F16 or BF16 tensor to float32 exactly (every F16/BF16 value is representable);
// `out` must hold element_count() floats. Throws cscrub::Error (naming `file` and the tensor) for other dtypes.
void convert_to_float(const std::filesystem::path& file, const SafetensorsTensor& tensor, std::span<float> out);

// IEEE half / bfloat16 bit patterns to float (exact).
float half_to_float(uint16_t bits);
float bfloat16_to_float(uint16_t bits);

}  // namespace cscrub::io
