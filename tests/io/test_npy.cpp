// .npy: round trips, files numpy itself wrote (v1 and v2 headers, every supported dtype), files numpy must
// be able to read back, and a clear error for everything else.
#include <catch2/catch.hpp>
#include <fstream>
#include <numeric>

#include "cscrub/error.hpp"
#include "cscrub/io/npy.hpp"
#include "test_paths.hpp"

using Catch::Matchers::Contains;
using cscrub::io::read_npy;
using cscrub::io::write_npy;
namespace fs = std::filesystem;

namespace {

// Runs a Python snippet with numpy imported as np, in `dir`; fails the test if it fails.
std::string python(const fs::path& dir, const std::string& code) {
  const std::string command = "cd " + cscrub::test::shell_quote(dir.string()) + " && " +
                              cscrub::test::system_python() + " -c " +
                              cscrub::test::shell_quote("import numpy as np\n" + code);
  const auto result = cscrub::test::run_command(command);
  INFO(code << "\n" << result.output);
  REQUIRE(result.exit_code == 0);
  return result.output;
}

}  // namespace

TEST_CASE("npy: float32 and int32 round trip, any rank", "[io][npy]") {
  const fs::path dir = cscrub::test::scratch_dir("npy-roundtrip");
  const std::vector<std::vector<int64_t>> shapes = {{}, {5}, {2, 3}, {2, 0, 4}, {1, 2, 3, 4}, {3, 1}};
  for (const auto& shape : shapes) {
    const size_t count = static_cast<size_t>(std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>()));
    std::vector<float> floats(count);
    std::vector<int32_t> ints(count);
    for (size_t i = 0; i < count; ++i) {
      floats[i] = static_cast<float>(i) * -0.37f + 1e-8f;
      ints[i] = static_cast<int32_t>(i * 100003) - 7;
    }
    write_npy(dir / "f.npy", floats, shape);
    write_npy(dir / "i.npy", ints, shape);
    const auto f = read_npy(dir / "f.npy");
    const auto i = read_npy(dir / "i.npy");
    CHECK(f.shape == shape);
    CHECK(i.shape == shape);
    REQUIRE(std::holds_alternative<std::vector<float>>(f.values));
    REQUIRE(std::holds_alternative<std::vector<int32_t>>(i.values));
    CHECK(std::get<std::vector<float>>(f.values) == floats);
    CHECK(std::get<std::vector<int32_t>>(i.values) == ints);
  }
  CHECK_THROWS_WITH(write_npy(dir / "x.npy", std::vector<float>(5), std::vector<int64_t>{2, 3}),
                    Contains("cannot write 5 values as shape (2, 3)"));
}

TEST_CASE("npy: an empty array of a large shape round-trips, one whose other extents overflow is refused",
          "[io][npy][fuzz]") {
  const fs::path dir = cscrub::test::scratch_dir("npy-empty-shapes");
  // numpy writes and reads (2^40, 0, 2^20): no elements, and the non-zero extents multiply to 2^60.
  const std::vector<int64_t> large_empty = {int64_t{1} << 40, 0, int64_t{1} << 20};
  write_npy(dir / "empty.npy", std::vector<float>{}, large_empty);
  const auto empty = read_npy(dir / "empty.npy");
  CHECK(empty.shape == large_empty);
  REQUIRE(std::holds_alternative<std::vector<float>>(empty.values));
  CHECK(std::get<std::vector<float>>(empty.values).empty());
  python(dir, "assert np.load('empty.npy').shape == (2**40, 0, 2**20)");

  // (2^62, 4, 0): numpy refuses it ("array is too big"): 2^62 x 4 does not fit in 64 bits. Writing it
  // multiplied past int64 before reaching the 0 (found by fuzzing).
  const std::vector<int64_t> overflowing = {int64_t{1} << 62, 4, 0};
  CHECK_THROWS_WITH(write_npy(dir / "x.npy", std::vector<float>{}, overflowing),
                    Contains("x.npy: cannot write an array of shape (4611686018427387904, 4, 0): too large"));
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4, 0), }";
  const std::string header = dict + std::string(128 - 10 - dict.size() - 1, ' ') + "\n";
  std::ofstream(dir / "huge_empty.npy", std::ios::binary)
      << std::string("\x93NUMPY\x01\x00", 8) << static_cast<char>(header.size()) << '\0' << header;
  CHECK_THROWS_WITH(read_npy(dir / "huge_empty.npy"), Contains("huge_empty.npy: shape too large"));
}

TEST_CASE("npy: numpy reads what cscrub writes", "[io][npy]") {
  const fs::path dir = cscrub::test::scratch_dir("npy-to-numpy");
  std::vector<float> values(2 * 3 * 4);
  std::iota(values.begin(), values.end(), -3.5f);
  write_npy(dir / "a.npy", values, std::vector<int64_t>{2, 3, 4});
  const std::vector<int32_t> ids = {50256, 0, -1};
  write_npy(dir / "b.npy", ids, std::vector<int64_t>{3});
  const std::string out = python(dir,
                                 "a = np.load('a.npy'); b = np.load('b.npy')\n"
                                 "assert a.dtype == np.float32 and a.shape == (2, 3, 4), (a.dtype, a.shape)\n"
                                 "assert (a == np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 3.5).all()\n"
                                 "assert b.dtype == np.int32 and b.tolist() == [50256, 0, -1]\n"
                                 "f = open('a.npy', 'rb').read(); n = int.from_bytes(f[8:10], 'little')\n"
                                 "assert (10 + n) % 64 == 0, n\n"
                                 "print('numpy ok')");
  CHECK_THAT(out, Contains("numpy ok"));
}

TEST_CASE("npy: reads numpy's files (v1, v2, float32, int32, int64)", "[io][npy]") {
  const fs::path dir = cscrub::test::scratch_dir("npy-from-numpy");
  python(dir,
         "np.save('f32.npy', np.arange(6, dtype=np.float32).reshape(2, 3) / 4)\n"
         "np.save('i64.npy', np.array([[1, 2**40], [-3, 4]], dtype=np.int64))\n"
         "np.save('i32.npy', np.array([7, 8, 9], dtype=np.int32))\n"
         "np.save('scalar.npy', np.float32(2.5))\n"
         "np.save('fortran_vector.npy', np.asfortranarray(np.arange(4, dtype=np.int32)))\n"
         "with open('v2.npy', 'wb') as f:\n"
         "    np.lib.format.write_array(f, np.arange(5, dtype=np.float32), version=(2, 0))\n");
  const auto f32 = read_npy(dir / "f32.npy");
  CHECK(f32.shape == std::vector<int64_t>{2, 3});
  CHECK(std::get<std::vector<float>>(f32.values) == std::vector<float>{0, 0.25f, 0.5f, 0.75f, 1.0f, 1.25f});
  const auto i64 = read_npy(dir / "i64.npy");
  CHECK(i64.shape == std::vector<int64_t>{2, 2});
  CHECK(std::get<std::vector<int64_t>>(i64.values) == std::vector<int64_t>{1, int64_t{1} << 40, -3, 4});
  CHECK(std::get<std::vector<int32_t>>(read_npy(dir / "i32.npy").values) == std::vector<int32_t>{7, 8, 9});
  const auto scalar = read_npy(dir / "scalar.npy");
  CHECK(scalar.shape.empty());
  CHECK(std::get<std::vector<float>>(scalar.values) == std::vector<float>{2.5f});
  CHECK(std::get<std::vector<int32_t>>(read_npy(dir / "fortran_vector.npy").values) == std::vector<int32_t>{0, 1, 2, 3});
  const auto v2 = read_npy(dir / "v2.npy");
  CHECK(v2.shape == std::vector<int64_t>{5});
  CHECK(std::get<std::vector<float>>(v2.values) == std::vector<float>{0, 1, 2, 3, 4});
}

TEST_CASE("npy: what cannot be read exactly is an error naming the file", "[io][npy]") {
  const fs::path dir = cscrub::test::scratch_dir("npy-bad");
  struct Fault {
    std::string what, file, code, message;
  };
  const std::vector<Fault> faults = {
      {"float64", "f64.npy", "np.save('f64.npy', np.zeros(3))", "unsupported dtype '<f8'"},
      {"big-endian", "be.npy", "np.save('be.npy', np.zeros(3, dtype='>f4'))", "unsupported dtype '>f4'"},
      {"Fortran order", "fortran.npy", "np.save('fortran.npy', np.asfortranarray(np.zeros((2, 3), np.float32)))",
       "array is in Fortran order"},
      {"truncated data", "short.npy",
       "np.save('short.npy', np.zeros((4, 4), np.float32)); d = open('short.npy', 'rb').read(); "
       "open('short.npy', 'wb').write(d[:-4])",
       "data is 60 bytes, but shape (4, 4) of <f4 needs 64"},
      {"trailing data", "long.npy",
       "np.save('long.npy', np.zeros(2, np.int32)); open('long.npy', 'ab').write(b'1234')",
       "data is 12 bytes, but shape (2,) of <i4 needs 8"},
      {"not .npy", "text.npy", "open('text.npy', 'w').write('hello')", "not a .npy file"},
      {"structured dtype", "rec.npy", "np.save('rec.npy', np.zeros(2, dtype=[('a', '<f4')]))", "bad .npy header"},
      {"header past the end", "cut.npy",
       "np.save('cut.npy', np.zeros(2, np.int32)); d = open('cut.npy', 'rb').read(); open('cut.npy', 'wb').write(d[:40])",
       "header length 118 runs past the end of the file"},
  };
  for (const Fault& fault : faults) {
    DYNAMIC_SECTION(fault.what) {
      python(dir, fault.code);
      const fs::path path = dir / fault.file;
      CHECK_THROWS_WITH(read_npy(path), Contains(path.string() + ": ") && Contains(fault.message));
    }
  }
  CHECK_THROWS_WITH(read_npy(dir / "absent.npy"), Contains("absent.npy: cannot open"));
}
