// The safetensors reader on hand-built files: valid layouts it must read, every malformation it must name,
// and exact F16/BF16 conversion (checked exhaustively against Eigen's independent half types).
#include <Eigen/Core>
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cscrub/error.hpp"
#include "cscrub/io/safetensors.hpp"
#include "test_paths.hpp"

using cscrub::Error;
using cscrub::io::DType;
using cscrub::io::SafetensorsFile;
using Catch::Matchers::Contains;

namespace {

// Writes 8-byte length + header + data exactly as given (no padding), so tests control every byte.
void write_raw(const std::filesystem::path& path, const std::string& header, const std::string& data,
               std::optional<uint64_t> claimed_length = std::nullopt) {
  std::ofstream out(path, std::ios::binary);
  const uint64_t length = claimed_length.value_or(header.size());
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((length >> (8 * i)) & 0xff));
  out << header << data;
}

std::string float_bytes(std::initializer_list<float> values) {
  std::string bytes;
  for (float v : values) bytes.append(reinterpret_cast<const char*>(&v), sizeof v);
  return bytes;
}

// Opening must throw an Error whose message starts with the path and contains `needle`.
void expect_error(const std::filesystem::path& path, const std::string& needle) {
  try {
    (void)SafetensorsFile::open(path);
    FAIL("no error; expected one containing: " << needle);
  } catch (const Error& error) {
    const std::string message = error.what();
    INFO(message);
    CHECK(message.rfind(path.string(), 0) == 0);
    CHECK_THAT(message, Contains(needle));
  }
}

}  // namespace

TEST_CASE("safetensors: reads names, dtypes, shapes and bytes, and ignores __metadata__", "[io][safetensors]") {
  const auto path = cscrub::test::scratch_dir("st-valid") / "m.safetensors";
  // A header of odd length puts the data at an unaligned address: the reader must cope.
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("a":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},"s":{"dtype":"F32","shape":[],"data_offsets":[22,26]},)"
      R"("e":{"dtype":"BF16","shape":[0,4],"data_offsets":[26,26]}} )";
  const uint16_t halves[3] = {0x3c00, 0xc000, 0x3555};  // 1, -2, 0.333251953125
  std::string data = float_bytes({1.5f, -2.0f, 3.25f, 0.0f});
  data.append(reinterpret_cast<const char*>(halves), 6);
  data += float_bytes({7.0f});
  write_raw(path, header, data);

  const SafetensorsFile file = SafetensorsFile::open(path);
  REQUIRE(file.tensors().size() == 4);
  const auto& tensors = file.tensors();  // sorted by name
  CHECK(tensors[0].name == "a");
  CHECK(tensors[0].dtype == DType::F16);
  CHECK(tensors[0].shape == std::vector<int64_t>{3});
  CHECK(tensors[1].name == "b");
  CHECK(tensors[1].shape == std::vector<int64_t>{2, 2});
  CHECK(tensors[2].name == "e");
  CHECK(tensors[2].element_count() == 0);
  CHECK(tensors[3].name == "s");
  CHECK(tensors[3].shape.empty());
  CHECK(tensors[3].element_count() == 1);

  std::vector<float> a(3), b(4), s(1), e;
  cscrub::io::convert_to_float(path, tensors[0], a);
  cscrub::io::convert_to_float(path, tensors[1], b);
  cscrub::io::convert_to_float(path, tensors[2], e);
  cscrub::io::convert_to_float(path, tensors[3], s);
  CHECK(a == std::vector<float>{1.0f, -2.0f, 0.333251953125f});
  CHECK(b == std::vector<float>{1.5f, -2.0f, 3.25f, 0.0f});
  CHECK(s[0] == 7.0f);
}

TEST_CASE("safetensors: F16 and BF16 convert exactly, for every bit pattern", "[io][safetensors]") {
  int mismatches = 0;
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const auto raw = static_cast<uint16_t>(bits);
    const float half_expected = static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(raw));
    const float bf16_expected = static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(raw));
    const float half_got = cscrub::io::half_to_float(raw);
    const float bf16_got = cscrub::io::bfloat16_to_float(raw);
    // NaNs compare by kind; everything else (including +-0, subnormals, Inf) bit for bit.
    const bool half_ok = std::isnan(half_expected) ? std::isnan(half_got)
                                                   : std::bit_cast<uint32_t>(half_got) == std::bit_cast<uint32_t>(half_expected);
    const bool bf16_ok = std::isnan(bf16_expected) ? std::isnan(bf16_got)
                                                   : std::bit_cast<uint32_t>(bf16_got) == std::bit_cast<uint32_t>(bf16_expected);
    if (!half_ok || !bf16_ok) {
      if (++mismatches <= 5) WARN("bits 0x" << std::hex << bits << ": half " << half_got << " vs " << half_expected
                                            << ", bf16 " << bf16_got << " vs " << bf16_expected);
    }
  }
  CHECK(mismatches == 0);
  CHECK(cscrub::io::half_to_float(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(cscrub::io::half_to_float(0x7bff) == 65504.0f);              // largest finite
  CHECK(std::isinf(cscrub::io::half_to_float(0xfc00)));
}

TEST_CASE("safetensors: malformed files are named, with the problem", "[io][safetensors]") {
  const auto dir = cscrub::test::scratch_dir("st-bad");
  const auto path = dir / "bad.safetensors";
  const std::string good_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string data = float_bytes({1.0f, 2.0f});

  SECTION("shorter than the 8-byte length") {
    std::ofstream(path, std::ios::binary) << "abc";
    expect_error(path, "too short for the 8-byte header length");
  }
  SECTION("empty file") {
    std::ofstream(path, std::ios::binary).flush();
    expect_error(path, "file is 0 bytes");
  }
  SECTION("header length beyond the file") {
    write_raw(path, "{" + good_entry + "}", data, 1000);
    expect_error(path, "header length 1000 runs past the end of the file");
  }
  SECTION("header length near 2^64 does not overflow") {
    write_raw(path, "{" + good_entry + "}", data, UINT64_MAX - 3);
    expect_error(path, "runs past the end of the file");
  }
  SECTION("header not JSON") {
    write_raw(path, "{\"w\": [", data);
    expect_error(path, "is not valid JSON");
  }
  SECTION("header not an object") {
    write_raw(path, "[1, 2]", data);
    expect_error(path, "header is not a JSON object");
  }
  SECTION("unknown dtype") {
    write_raw(path, R"({"w":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})", data);
    expect_error(path, "tensor 'w': unknown dtype 'F8'");
  }
  SECTION("missing dtype") {
    write_raw(path, R"({"w":{"shape":[2],"data_offsets":[0,8]}})", data);
    expect_error(path, "tensor 'w': missing string field 'dtype'");
  }
  SECTION("negative extent") {
    write_raw(path, R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data);
    expect_error(path, "tensor 'w': shape [-2] is not a list of non-negative integers");
  }
  SECTION("offsets out of range") {
    write_raw(path, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data);
    expect_error(path, "tensor 'w': data_offsets [0, 16] out of range: the data section has 8 bytes");
  }
  SECTION("offsets reversed") {
    write_raw(path, R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", data);
    expect_error(path, "tensor 'w': data_offsets [8, 0] end before they begin");
  }
  SECTION("offsets malformed") {
    write_raw(path, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", data);
    expect_error(path, "tensor 'w': field 'data_offsets' must be [begin, end]");
  }
  SECTION("size not matching shape x dtype") {
    write_raw(path, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data);
    expect_error(path, "tensor 'w': data_offsets span 8 bytes but shape [3] of F32 needs 12");
  }
  SECTION("huge shape does not overflow") {
    write_raw(path, R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", data);
    expect_error(path, "tensor 'w': data_offsets span 8 bytes but shape [4294967296, 4294967296] of F32 needs more");
  }
  SECTION("overlapping tensors") {
    write_raw(path,
              R"({"u":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
              data);
    expect_error(path, "tensor 'v': data overlaps tensor 'u'");
  }
  SECTION("a tensor listed twice (JSON keeps only the last)") {
    write_raw(path, "{" + good_entry + "," + good_entry + "}", data);
    expect_error(path, "header lists key 'w' twice in one object");
  }
  SECTION("missing file") {
    expect_error(dir / "absent.safetensors", "cannot open");
  }
}

TEST_CASE("safetensors: non-float tensors are readable but do not convert to weights", "[io][safetensors]") {
  const auto path = cscrub::test::scratch_dir("st-int") / "m.safetensors";
  write_raw(path, R"({"mask":{"dtype":"U8","shape":[2,2],"data_offsets":[0,4]}})", std::string("\1\0\1\1", 4));
  const SafetensorsFile file = SafetensorsFile::open(path);
  REQUIRE(file.tensors().size() == 1);
  CHECK(file.tensors()[0].dtype == DType::U8);
  std::vector<float> out(4);
  CHECK_THROWS_WITH(cscrub::io::convert_to_float(path, file.tensors()[0], out),
                    Contains("tensor 'mask': dtype U8 is not a weight type"));
}

TEST_CASE("safetensors: a moved-from mapping is empty and the moved-to one still reads", "[io][safetensors]") {
  const auto path = cscrub::test::scratch_dir("st-move") / "m.bin";
  std::ofstream(path, std::ios::binary) << "0123456789";
  cscrub::io::MappedFile first(path);
  cscrub::io::MappedFile second(std::move(first));
  CHECK(first.bytes().empty());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  REQUIRE(second.bytes().size() == 10);
  CHECK(static_cast<char>(second.bytes()[9]) == '9');
  cscrub::io::MappedFile third(path);
  third = std::move(second);
  CHECK(static_cast<char>(third.bytes()[0]) == '0');
}

// Found while fuzzing the header parser (fuzz/fuzz_safetensors.cpp): the message for a bad shape quoted the
// JSON value with nlohmann's recursive dump(), so a shape of a million nested brackets (2 MB of header)
// overflowed the stack. Messages now quote flat values and describe nested ones, and headers nested more
// than 64 levels deep are refused before they are parsed.
TEST_CASE("safetensors: a deeply nested shape is described, not dumped", "[io][safetensors][fuzz]") {
  const auto path = cscrub::test::scratch_dir("st-deep") / "deep.safetensors";
  for (const size_t depth : {size_t{1'000'000}, size_t{62}, size_t{63}}) {
    const std::string shape = std::string(depth, '[') + std::string(depth, ']');
    write_raw(path, R"({"w":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,0]}})", "");
    // The header's object and the tensor's take two levels.
    if (depth + 2 > 64)
      expect_error(path, "deep.safetensors: header:1: JSON values nested more than 64 levels deep (the limit)");
    else
      expect_error(path, "tensor 'w': shape an array of 1 value is not a list of non-negative integers");
  }
  write_raw(path, R"({"w":{"dtype":"F32","shape":[1,"two",3.5,null],"data_offsets":[0,0]}})", "");
  expect_error(path, R"(tensor 'w': shape [1,"two",3.5,null] is not a list of non-negative integers)");
}
