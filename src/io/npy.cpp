// numpy's .npy format: "\x93NUMPY", version (1.0: 2-byte header length; 2.0/3.0: 4-byte), a Python dict
// literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces to a multiple of
// 64 bytes and ending in '\n', then the raw data.
#include "cscrub/io/npy.hpp"

#include <bit>
#include <cctype>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "cscrub/error.hpp"
#include "cscrub/io/input_file.hpp"
#include "cscrub/io/output_file.hpp"

namespace cscrub::io {

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
static_assert(std::endian::native == std::endian::little, ".npy files are written little-endian");

// ---- writing ----

std::string shape_tuple(std::span<const int64_t> shape) {
  std::string text = "(";
  for (int64_t extent : shape) text += std::to_string(extent) + ", ";
  if (shape.size() > 1) text.resize(text.size() - 2);  // (3,) keeps its comma; (2, 3) does not end in one
  else if (shape.size() == 1) text.resize(text.size() - 1);
  return text + ")";
}

// The number of elements of an array of this shape (extents >= 0), or nullopt when the product of its non-zero
// extents does not fit in size_t: numpy refuses such a shape even when another extent is zero, and so do the
// reader and the writer here.
std::optional<size_t> element_count(std::span<const int64_t> shape) {
  size_t product = 1;
  bool empty = false;
  for (int64_t extent : shape) {
    if (extent == 0) empty = true;
    else if (__builtin_mul_overflow(product, static_cast<size_t>(extent), &product)) return std::nullopt;
  }
  return empty ? 0 : product;
}

template <typename T>
std::string array_bytes(const std::string& what, std::span<const T> values, std::span<const int64_t> shape,
                        std::string_view descr) {
  for (int64_t extent : shape) {
    if (extent < 0) throw Error(what + ": cannot write an array with negative extent " + std::to_string(extent));
  }
  const std::optional<size_t> count = element_count(shape);
  if (!count) throw Error(what + ": cannot write an array of shape " + shape_tuple(shape) + ": too large");
  if (*count != values.size()) {
    throw Error(what + ": cannot write " + std::to_string(values.size()) + " values as shape " + shape_tuple(shape));
  }
  std::string dict = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': " + shape_tuple(shape) + ", }";
  // Version 1.0 when the header length fits in 2 bytes; the whole preamble is padded to 64 bytes.
  const bool version2 = kMagic.size() + 2 + 2 + dict.size() + 1 > 65535;
  const size_t preamble = kMagic.size() + 2 + (version2 ? 4 : 2);
  const size_t padded = (preamble + dict.size() + 1 + 63) / 64 * 64;
  dict.append(padded - preamble - dict.size() - 1, ' ');
  dict.push_back('\n');

  std::string bytes;
  bytes.reserve(preamble + dict.size() + values.size_bytes());
  bytes.append(kMagic);
  bytes.push_back(static_cast<char>(version2 ? 2 : 1));
  bytes.push_back(0);
  const uint32_t length = static_cast<uint32_t>(dict.size());
  bytes.append(reinterpret_cast<const char*>(&length), version2 ? 4 : 2);
  bytes.append(dict);
  bytes.append(reinterpret_cast<const char*>(values.data()), values.size_bytes());
  return bytes;
}

// ---- reading: a small parser for the header dict numpy writes ----

class HeaderParser {
 public:
  HeaderParser(const std::filesystem::path& path, std::string_view text) : path_(path), text_(text) {}

  [[noreturn]] void fail(const std::string& problem) const {
    throw Error(path_.string() + ": bad .npy header (" + problem + "): " + std::string(text_));
  }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool accept(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!accept(c)) fail(std::string("expected '") + c + "'");
  }
  std::string quoted() {
    skip_space();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) fail("expected a string");
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string value(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return value;
  }
  std::string word() {
    skip_space();
    const size_t start = pos_;
    while (pos_ < text_.size() && std::isalpha(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }
  int64_t integer() {
    skip_space();
    const size_t start = pos_;
    int64_t value = 0;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      if (value > (INT64_MAX - 9) / 10) fail("extent too large");
      value = value * 10 + (text_[pos_++] - '0');
    }
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2 longs
    if (pos_ == start) fail("expected a non-negative integer");
    return value;
  }
  std::vector<int64_t> tuple() {
    expect('(');
    std::vector<int64_t> values;
    while (!accept(')')) {
      values.push_back(integer());
      if (!accept(',')) {
        expect(')');
        break;
      }
    }
    return values;
  }
  bool at_end() {
    skip_space();
    return pos_ == text_.size();
  }

 private:
  const std::filesystem::path& path_;
  std::string_view text_;
  size_t pos_ = 0;
};

struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

Header parse_header(const std::filesystem::path& path, std::string_view text) {
  HeaderParser parser(path, text);
  Header header;
  bool seen_descr = false, seen_order = false, seen_shape = false;
  parser.expect('{');
  while (!parser.accept('}')) {
    const std::string key = parser.quoted();
    parser.expect(':');
    if (key == "descr") {
      header.descr = parser.quoted();
      seen_descr = true;
    } else if (key == "fortran_order") {
      const std::string value = parser.word();
      if (value != "True" && value != "False") parser.fail("fortran_order must be True or False");
      header.fortran_order = value == "True";
      seen_order = true;
    } else if (key == "shape") {
      header.shape = parser.tuple();
      seen_shape = true;
    } else {
      parser.fail("unexpected key '" + key + "'");
    }
    if (!parser.accept(',')) {
      parser.expect('}');
      break;
    }
  }
  if (!parser.at_end()) parser.fail("text after the dict");
  if (!seen_descr || !seen_order || !seen_shape) parser.fail("needs 'descr', 'fortran_order' and 'shape'");
  return header;
}

template <typename T>
std::vector<T> copy_values(const std::string& bytes, size_t offset, size_t count) {
  std::vector<T> values(count);
  if (count > 0) std::memcpy(values.data(), bytes.data() + offset, count * sizeof(T));
  return values;
}

}  // namespace

std::string npy_bytes(std::span<const float> values, std::span<const int64_t> shape, const std::string& what) {
  return array_bytes(what, values, shape, "<f4");
}

std::string npy_bytes(std::span<const int32_t> values, std::span<const int64_t> shape, const std::string& what) {
  return array_bytes(what, values, shape, "<i4");
}

void write_npy(const std::filesystem::path& path, std::span<const float> values, std::span<const int64_t> shape) {
  write_file_atomically(path, npy_bytes(values, shape, path.string()));
}

void write_npy(const std::filesystem::path& path, std::span<const int32_t> values, std::span<const int64_t> shape) {
  write_file_atomically(path, npy_bytes(values, shape, path.string()));
}

NpyArray read_npy(const std::filesystem::path& path) {
  const std::string bytes = read_input_file(path, input_limits::npy_array);
  const std::string_view view = bytes;

  if (!view.starts_with(kMagic)) throw Error(path.string() + ": not a .npy file (no \\x93NUMPY magic)");
  if (view.size() < kMagic.size() + 2) throw Error(path.string() + ": truncated .npy preamble");
  const int major = static_cast<unsigned char>(view[6]);
  if (major < 1 || major > 3)
    throw Error(path.string() + ": unsupported .npy version " + std::to_string(major), "versions 1.0 to 3.0 are read");
  const size_t length_bytes = major == 1 ? 2 : 4;
  const size_t preamble = kMagic.size() + 2 + length_bytes;
  if (view.size() < preamble) throw Error(path.string() + ": truncated .npy preamble");
  uint32_t header_length = 0;
  for (size_t i = 0; i < length_bytes; ++i)
    header_length |= static_cast<uint32_t>(static_cast<unsigned char>(view[8 + i])) << (8 * i);
  if (header_length > view.size() - preamble)
    throw Error(path.string() + ": .npy header length " + std::to_string(header_length) + " runs past the end of the file");
  const Header header = parse_header(path, view.substr(preamble, header_length));

  size_t item_size = 0;
  NpyArray array;
  if (header.descr == "<f4") item_size = 4;
  else if (header.descr == "<i4") item_size = 4;
  else if (header.descr == "<i8") item_size = 8;
  else
    throw Error(path.string() + ": unsupported dtype '" + header.descr + "'",
                "cscrub reads little-endian float32 (<f4), int32 (<i4) and int64 (<i8) arrays");
  // Fortran order only differs from C order for arrays with two or more non-trivial dimensions.
  int non_trivial = 0;
  for (int64_t extent : header.shape) non_trivial += extent > 1 ? 1 : 0;
  if (header.fortran_order && non_trivial > 1)
    throw Error(path.string() + ": array is in Fortran order", "save it with np.ascontiguousarray(...)");

  const std::optional<size_t> elements = element_count(header.shape);
  if (!elements) throw Error(path.string() + ": shape too large");
  const size_t count = *elements;
  const size_t data_offset = preamble + header_length;
  const size_t data_bytes = view.size() - data_offset;
  size_t needed = 0;
  const bool overflow = __builtin_mul_overflow(count, item_size, &needed);
  if (overflow || needed != data_bytes) {
    throw Error(path.string() + ": data is " + std::to_string(data_bytes) + " bytes, but shape " +
                shape_tuple(header.shape) + " of " + header.descr + " needs " +
                (overflow ? std::string("more") : std::to_string(needed)));
  }
  array.shape = header.shape;
  if (header.descr == "<f4") array.values = copy_values<float>(bytes, data_offset, count);
  else if (header.descr == "<i4") array.values = copy_values<int32_t>(bytes, data_offset, count);
  else array.values = copy_values<int64_t>(bytes, data_offset, count);
  return array;
}

}  // namespace cscrub::io
