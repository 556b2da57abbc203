// The dataset PRNG must be exactly splitmix64 + xoshiro256** (reference values computed with an independent
// Python transcription of Vigna's C code), so datasets do not depend on the standard library.
#include <algorithm>
#include <catch2/catch.hpp>
#include <numeric>
#include <vector>

#include "cscrub/data/random.hpp"

using cscrub::data::Rng;

TEST_CASE("splitmix64 gives Vigna's reference output", "[data][random]") {
  uint64_t state = 0;
  CHECK(cscrub::data::splitmix64(state) == 0xe220a8397b1dcdafULL);
}

TEST_CASE("xoshiro256** seeded by splitmix64 matches the reference sequence", "[data][random]") {
  Rng zero(0);
  CHECK(zero.next() == 0x99ec5f36cb75f2b4ULL);
  CHECK(zero.next() == 0xbf6e1f784956452aULL);
  CHECK(zero.next() == 0x1a5f849d4933e6e0ULL);
  Rng answer(42);
  CHECK(answer.next() == 0x15780b2e0c2ec716ULL);
  CHECK(answer.next() == 0x6104d9866d113a7eULL);
  CHECK(answer.next() == 0xae17533239e499a1ULL);
}

TEST_CASE("below() stays in range and is roughly uniform", "[data][random]") {
  Rng rng(7);
  std::vector<int> counts(7, 0);
  const int draws = 70000;
  for (int i = 0; i < draws; ++i) {
    const uint64_t value = rng.below(7);
    REQUIRE(value < 7);
    ++counts[value];
  }
  for (int count : counts) CHECK(std::abs(count - draws / 7) < 500);  // ~5 standard deviations
}

TEST_CASE("shuffle permutes, and depends on the seed", "[data][random]") {
  std::vector<int> a(50), b(50);
  std::iota(a.begin(), a.end(), 0);
  std::iota(b.begin(), b.end(), 0);
  Rng first(1), second(2);
  first.shuffle(std::span(a));
  second.shuffle(std::span(b));
  CHECK(a != b);
  std::sort(a.begin(), a.end());
  std::vector<int> expected(50);
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(a == expected);
}
