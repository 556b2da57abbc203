// Register tiles of RA rows of a against RB rows of b, each pair (i, j) keeping kOrderedSumLanes running sums
// (one vector with AVX-512, two with AVX2). k runs in chunks that keep a chunk of every row in the L2 cache while
// the tiles meet; the running sums wait in memory between chunks, so their order is that of one pass over k.
#include "cscrub/engine/row_products.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <cassert>
#include <cmath>
#include <vector>

#include "gemm_kernel.hpp"
#include "ordered_sum.hpp"

namespace cscrub::engine {
namespace {

namespace simd = gemm::kernel;
using simd::kLanes;
using simd::Vector;

constexpr int kGroup = kOrderedSumLanes / kLanes;  // vectors per set of running sums
static_assert(kOrderedSumLanes % kLanes == 0);
// k per chunk: 16 KiB of each row. Longer chunks pay the running sums' trip through memory less often;
// measured on Zen 4 for GPT-2 small's shapes (144 and 37 rows of 12,288): 48 GFLOP/s at 512, 61 at 4,096, flat
// beyond.
constexpr int kChunk = 4096;
static_assert(kChunk % kOrderedSumLanes == 0);
#if defined(__AVX512F__)
constexpr int kTileA = 5, kTileB = 5;  // 25 accumulators + 5 of a + 1 of b of the 32 registers (67 GFLOP/s)
#else
constexpr int kTileA = 2, kTileB = 3;  // 12 (AVX2: 2 per set of sums) of the 16 registers
#endif

// The running sums of rows [i0, i0 + RA) x [j0, j0 + RB) over k in [k0, k1) (whole sets of lanes).
template <int RA, int RB>
void tile(const ConstRowsMap& a, const ConstRowsMap& b, Eigen::Index i0, Eigen::Index j0, Eigen::Index k0,
          Eigen::Index k1, float* sums, Eigen::Index columns) {
  Vector accumulators[RA][RB][kGroup];
  auto at = [&](int i, int j) { return sums + ((i0 + i) * columns + j0 + j) * kOrderedSumLanes; };
  for (int i = 0; i < RA; ++i)
    for (int j = 0; j < RB; ++j)
      for (int g = 0; g < kGroup; ++g) accumulators[i][j][g] = simd::load_aligned(at(i, j) + g * kLanes);
  const float* a_rows[RA];
  const float* b_rows[RB];
  for (int i = 0; i < RA; ++i) a_rows[i] = a.row(i0 + i).data();
  for (int j = 0; j < RB; ++j) b_rows[j] = b.row(j0 + j).data();
  for (Eigen::Index k = k0; k < k1; k += kOrderedSumLanes)
    for (int g = 0; g < kGroup; ++g) {
      Vector a_values[RA];
      for (int i = 0; i < RA; ++i) a_values[i] = simd::load(a_rows[i] + k + g * kLanes);
#pragma GCC unroll 8
      for (int j = 0; j < RB; ++j) {
        const Vector b_values = simd::load(b_rows[j] + k + g * kLanes);
        for (int i = 0; i < RA; ++i) accumulators[i][j][g] = simd::multiply_add(a_values[i], b_values, accumulators[i][j][g]);
      }
    }
  for (int i = 0; i < RA; ++i)
    for (int j = 0; j < RB; ++j)
      for (int g = 0; g < kGroup; ++g) simd::store(at(i, j) + g * kLanes, accumulators[i][j][g]);
}

using TileFunction = void (*)(const ConstRowsMap&, const ConstRowsMap&, Eigen::Index, Eigen::Index, Eigen::Index,
                              Eigen::Index, float*, Eigen::Index);

// tile<ra, rb> for 1 <= ra <= kTileA, 1 <= rb <= kTileB: the edges of the matrices take tiles as large as fit.
template <int... B>
constexpr std::array<TileFunction, kTileB> tiles_of_width(std::integer_sequence<int, B...>, auto rows) {
  return {&tile<decltype(rows)::value, B + 1>...};
}
template <int... A>
constexpr auto tile_table(std::integer_sequence<int, A...>) {
  return std::array<std::array<TileFunction, kTileB>, kTileA>{
      tiles_of_width(std::make_integer_sequence<int, kTileB>{}, std::integral_constant<int, A + 1>{})...};
}
constexpr auto kTiles = tile_table(std::make_integer_sequence<int, kTileA>{});

// Every tile of the chunk [k0, k1).
void chunk(const ConstRowsMap& a, const ConstRowsMap& b, Eigen::Index k0, Eigen::Index k1, float* sums) {
  const Eigen::Index rows = a.rows(), columns = b.rows();
  for (Eigen::Index i = 0; i < rows; i += kTileA) {
    const auto ra = static_cast<size_t>(std::min<Eigen::Index>(kTileA, rows - i));
    for (Eigen::Index j = 0; j < columns; j += kTileB) {
      const auto rb = static_cast<size_t>(std::min<Eigen::Index>(kTileB, columns - j));
      kTiles[ra - 1][rb - 1](a, b, i, j, k0, k1, sums, columns);
    }
  }
}

}  // namespace

void row_products(const ConstRowsMap& a, const ConstRowsMap& b, Eigen::Ref<RowMatrix> c, RowProductsScratch& sums) {
  assert(a.cols() == b.cols() && c.rows() == a.rows() && c.cols() == b.rows());
  const Eigen::Index rows = a.rows(), columns = b.rows(), depth = a.cols();
  sums.assign(static_cast<size_t>(rows * columns * kOrderedSumLanes), 0.0f);
  const Eigen::Index whole = depth / kOrderedSumLanes * kOrderedSumLanes;
  for (Eigen::Index k0 = 0; k0 < whole; k0 += kChunk) chunk(a, b, k0, std::min<Eigen::Index>(k0 + kChunk, whole), sums.data());
  for (Eigen::Index i = 0; i < rows; ++i)
    for (Eigen::Index j = 0; j < columns; ++j) {
      float* lanes = sums.data() + (i * columns + j) * kOrderedSumLanes;
      // The last partial set of lanes, as a vector's multiply-adds would take it (lane k % lanes).
      for (Eigen::Index k = whole; k < depth; ++k) lanes[k - whole] = std::fma(a(i, k), b(j, k), lanes[k - whole]);
      c(i, j) = ordered_sum(kOrderedSumLanes, [lanes](int l) { return lanes[l]; });
    }
}

}  // namespace cscrub::engine
