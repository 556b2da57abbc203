// Memory-mapped .safetensors reading: the header is validated once, completely, when the file is opened.
#include "cscrub/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <utility>

#include "cscrub/error.hpp"
#include "cscrub/io/input_file.hpp"
#include "cscrub/io/json_depth.hpp"
#include "cscrub/io/json_excerpt.hpp"
#include "cscrub/io/json_unique_keys.hpp"

namespace cscrub::io {

// ---- MappedFile ----

MappedFile::MappedFile(const std::filesystem::path& path) {
  const InputFile file(path, "safetensors file");  // a regular file: its size bounds everything read from it
  size_ = static_cast<size_t>(file.size());
  if (size_ > 0) {  // mmap refuses empty lengths; an empty file is an empty span
    void* mapped = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, file.descriptor(), 0);
    if (mapped == MAP_FAILED) throw Error(path.string() + ": cannot memory-map: " + std::strerror(errno));
    data_ = static_cast<const std::byte*>(mapped);
  }
}  // the mapping keeps the file alive once it is closed

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() { release(); }

void MappedFile::release() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

// ---- dtypes ----

namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  size_t size;
};

constexpr std::array<DTypeInfo, 13> kDTypes{{
    {DType::F64, "F64", 8},
    {DType::F32, "F32", 4},
    {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8},
    {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},
    {DType::I8, "I8", 1},
    {DType::U64, "U64", 8},
    {DType::U32, "U32", 4},
    {DType::U16, "U16", 2},
    {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
}};

const DTypeInfo& info_of(DType dtype) {
  for (const DTypeInfo& info : kDTypes)
    if (info.dtype == dtype) return info;
  std::abort();  // every enumerator is in the table
}

}  // namespace

std::optional<DType> parse_dtype(std::string_view name) {
  for (const DTypeInfo& info : kDTypes)
    if (info.name == name) return info.dtype;
  return std::nullopt;
}

std::string_view dtype_name(DType dtype) { return info_of(dtype).name; }
size_t dtype_size(DType dtype) { return info_of(dtype).size; }

int64_t SafetensorsTensor::element_count() const {
  int64_t count = 1;
  for (int64_t extent : shape) count *= extent;
  return count;
}

// ---- header parsing ----

namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& message) {
  throw Error(path.string() + ": " + message);
}

[[noreturn]] void fail_tensor(const std::filesystem::path& path, const std::string& name, const std::string& message) {
  throw Error(path.string() + ": tensor '" + name + "': " + message);
}

uint64_t read_le_u64(std::span<const std::byte> bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | std::to_integer<uint64_t>(bytes[static_cast<size_t>(i)]);
  return value;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// One header entry, checked against the data section of `data_size` bytes.
struct Entry {
  SafetensorsTensor tensor;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::filesystem::path& path, const std::string& name, const json& value,
                  uint64_t data_size) {
  if (!value.is_object()) fail_tensor(path, name, "header entry is not a JSON object");
  Entry entry;
  entry.tensor.name = name;

  const auto dtype_it = value.find("dtype");
  if (dtype_it == value.end() || !dtype_it->is_string()) fail_tensor(path, name, "missing string field 'dtype'");
  const std::string dtype_text = dtype_it->get<std::string>();
  const std::optional<DType> dtype = parse_dtype(dtype_text);
  if (!dtype) fail_tensor(path, name, "unknown dtype '" + dtype_text + "'");
  entry.tensor.dtype = *dtype;

  const auto shape_it = value.find("shape");
  if (shape_it == value.end() || !shape_it->is_array()) fail_tensor(path, name, "missing array field 'shape'");
  for (const json& extent : *shape_it) {
    if (!extent.is_number_unsigned()) fail_tensor(path, name, "shape " + json_excerpt(*shape_it) + " is not a list of non-negative integers");
    entry.tensor.shape.push_back(static_cast<int64_t>(std::min<uint64_t>(extent.get<uint64_t>(), INT64_MAX)));
  }

  const auto offsets_it = value.find("data_offsets");
  if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
      !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned())
    fail_tensor(path, name, "field 'data_offsets' must be [begin, end] (non-negative integers)");
  entry.begin = (*offsets_it)[0].get<uint64_t>();
  entry.end = (*offsets_it)[1].get<uint64_t>();
  if (entry.begin > entry.end)
    fail_tensor(path, name, "data_offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) + "] end before they begin");
  if (entry.end > data_size)
    fail_tensor(path, name, "data_offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
                                "] out of range: the data section has " + std::to_string(data_size) + " bytes");

  // Expected byte size, overflow-safe: anything beyond the data section cannot match anyway.
  uint64_t expected = dtype_size(*dtype);
  for (int64_t extent : entry.tensor.shape) {
    if (__builtin_mul_overflow(expected, static_cast<uint64_t>(extent), &expected)) {
      expected = UINT64_MAX;
      break;
    }
  }
  if (expected != entry.end - entry.begin)
    fail_tensor(path, name, "data_offsets span " + std::to_string(entry.end - entry.begin) + " bytes but shape " +
                                shape_text(entry.tensor.shape) + " of " + dtype_text + " needs " +
                                (expected == UINT64_MAX ? std::string("more") : std::to_string(expected)));
  return entry;
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  SafetensorsFile file(path, MappedFile(path));
  const std::span<const std::byte> bytes = file.file_.bytes();
  if (bytes.size() < 8)
    fail(path, "file is " + std::to_string(bytes.size()) + " bytes, too short for the 8-byte header length");
  const uint64_t header_size = read_le_u64(bytes.first(8));
  if (header_size > bytes.size() - 8)
    fail(path, "header length " + std::to_string(header_size) + " runs past the end of the file (" +
                   std::to_string(bytes.size()) + " bytes)");

  const auto* header_begin = reinterpret_cast<const char*>(bytes.data() + 8);
  refuse_deep_json(std::string_view(header_begin, header_size), path.string() + ": header");
  std::string duplicate_key;
  json header = parse_json_noting_duplicate_keys(std::string_view(header_begin, header_size),
                                                 /*allow_exceptions=*/false, duplicate_key);
  if (header.is_discarded()) fail(path, "header (" + std::to_string(header_size) + " bytes) is not valid JSON");
  if (!header.is_object()) fail(path, "header is not a JSON object");
  if (!duplicate_key.empty()) fail(path, "header lists key '" + duplicate_key + "' twice in one object");

  const std::span<const std::byte> data = bytes.subspan(8 + header_size);
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") continue;
    entries.push_back(parse_entry(path, name, value, data.size()));
  }

  // Overlap check on the entries sorted by offset (empty tensors occupy no bytes and never overlap).
  std::vector<const Entry*> by_offset;
  for (const Entry& entry : entries)
    if (entry.end > entry.begin) by_offset.push_back(&entry);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      fail_tensor(path, by_offset[i]->tensor.name, "data overlaps tensor '" + by_offset[i - 1]->tensor.name + "'");

  file.tensors_.reserve(entries.size());
  for (Entry& entry : entries) {
    entry.tensor.bytes = data.subspan(entry.begin, entry.end - entry.begin);
    file.tensors_.push_back(std::move(entry.tensor));
  }
  return file;
}

// ---- conversion ----

float half_to_float(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  uint32_t result = 0;
  if (exponent == 0x1f) {  // Inf / NaN
    result = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {  // normal
    result = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  } else if (mantissa != 0) {  // subnormal: normalise into float's range
    int shift = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    mantissa &= 0x3ffu;
    result = sign | (static_cast<uint32_t>(113 - shift) << 23) | (mantissa << 13);
  } else {
    result = sign;  // +-0
  }
  return std::bit_cast<float>(result);
}

float bfloat16_to_float(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

void convert_to_float(const std::filesystem::path& file, const SafetensorsTensor& tensor, std::span<float> out) {
  const size_t count = static_cast<size_t>(tensor.element_count());
  if (out.size() != count) {
    throw Error(file.string() + ": tensor '" + tensor.name + "': " + std::to_string(count) +
                " values, expected " + std::to_string(out.size()));
  }
  static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");
  const std::byte* source = tensor.bytes.data();
  switch (tensor.dtype) {
    case DType::F32:
      if (count > 0) std::memcpy(out.data(), source, count * sizeof(float));
      return;
    case DType::F16:
    case DType::BF16: {
      const bool half = tensor.dtype == DType::F16;
      for (size_t i = 0; i < count; ++i) {
        uint16_t bits = 0;
        std::memcpy(&bits, source + 2 * i, 2);  // the data may be unaligned
        out[i] = half ? half_to_float(bits) : bfloat16_to_float(bits);
      }
      return;
    }
    default:
      throw Error(file.string() + ": tensor '" + tensor.name + "': dtype " + std::string(dtype_name(tensor.dtype)) +
                      " is not a weight type",
                  "weights must be F32, F16 or BF16");
  }
}

}  // namespace cscrub::io
