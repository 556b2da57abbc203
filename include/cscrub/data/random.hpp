// The pseudo-random numbers every dataset is drawn from, specified here bit for bit (splitmix64 to expand
// the seed, xoshiro256** to draw, rejection sampling for bounded integers), so that a seed gives the same
// dataset with every compiler and standard library; std::*_distribution output differs between them.
#pragma once
#include <cassert>
#include <cstdint>
#include <span>
#include <utility>

namespace cscrub::data {

// Sebastiano Vigna's splitmix64 step: turns a counter into well-mixed 64-bit words.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman and Vigna), its four words of state filled from the seed by splitmix64.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    uint64_t expander = seed;
    for (auto& word : state_) word = splitmix64(expander);
  }

  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, bound): draws again while the word falls in the incomplete last block, so no value is
  // favoured.
  uint64_t below(uint64_t bound) {
    assert(bound > 0);
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;  // multiples of bound below this are complete
    uint64_t word = next();
    while (word >= limit) word = next();
    return word % bound;
  }

  int index(size_t size) { return static_cast<int>(below(static_cast<uint64_t>(size))); }

  // Fisher-Yates, from the last element down.
  template <typename T>
  void shuffle(std::span<T> items) {
    for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t state_[4];
};

}  // namespace cscrub::data
