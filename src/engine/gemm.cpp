#include "gemm.hpp"

#include <algorithm>
#include <cassert>
#include <vector>

#include "gemm_kernel.hpp"

namespace cscrub::engine::gemm {
namespace {

using kernel::kColumns;
using kernel::kRows;
using Eigen::Index;

// k-block depth: a B panel (kBlockDepth x kColumns floats, 32 KiB with AVX-512) stays in the L1 cache
// while it meets every row panel of A. Fixed, never derived from the thread count (determinism).
constexpr int kBlockDepth = 256;

// Packs rows [panel * kRows, +kRows) and columns [k0, k0 + depth) of A, k-major, zero rows past the end.
void pack_a_panel(const ConstView& a, Index panel, Index k0, int depth, float* packed) {
  const Index first_row = panel * kRows;
  const int rows = static_cast<int>(std::min<Index>(kRows, a.rows - first_row));
  for (int r = 0; r < rows; ++r) {
    const float* source = a.data + (first_row + r) * a.stride + k0;
    for (int k = 0; k < depth; ++k) packed[k * kRows + r] = source[k];
  }
  for (int r = rows; r < kRows; ++r)
    for (int k = 0; k < depth; ++k) packed[k * kRows + r] = 0.0f;
}

#if defined(__AVX512F__)
static_assert(kColumns == 32, "two 16-wide halves per B panel");

// packed[k * kColumns + j] = rows[j][k] for a 16 x 16 block: rows j = 0..15 (stride `stride`), k = 0..15.
void transpose_16x16(const float* rows, Eigen::Index stride, float* packed) {
  __m512 r[16], t[16], u[16];
  for (int j = 0; j < 16; ++j) r[j] = _mm512_loadu_ps(rows + j * stride);
  for (int j = 0; j < 16; j += 2) {
    t[j] = _mm512_unpacklo_ps(r[j], r[j + 1]);
    t[j + 1] = _mm512_unpackhi_ps(r[j], r[j + 1]);
  }
  // u[4g + e], lane l: element 4l + e of rows 4g .. 4g + 3.
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int e = 0; e < 4; ++e) {
    const __m512 even_low = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x88), odd_low = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xDD);
    const __m512 even_high = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x88),
                 odd_high = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xDD);
    _mm512_store_ps(packed + (0 + e) * kColumns, _mm512_shuffle_f32x4(even_low, even_high, 0x88));
    _mm512_store_ps(packed + (8 + e) * kColumns, _mm512_shuffle_f32x4(even_low, even_high, 0xDD));
    _mm512_store_ps(packed + (4 + e) * kColumns, _mm512_shuffle_f32x4(odd_low, odd_high, 0x88));
    _mm512_store_ps(packed + (12 + e) * kColumns, _mm512_shuffle_f32x4(odd_low, odd_high, 0xDD));
  }
}
#endif

// Packs columns [panel * kColumns, +kColumns) and depth [k0, k0 + depth) of B, k-major, zero columns past
// the end. The [N, K] layout is a transposition: done in 16 x 16 register blocks where AVX-512 allows.
void pack_b_panel(const ConstView& b, Layout layout, Index columns, Index panel, Index k0, int depth,
                  float* packed) {
  const Index first = panel * kColumns;
  const int width = static_cast<int>(std::min<Index>(kColumns, columns - first));
  if (layout == Layout::k_by_n) {
    for (int k = 0; k < depth; ++k) {
      const float* source = b.data + (k0 + k) * b.stride + first;
      float* target = packed + k * kColumns;
      if (width == kColumns) {
        kernel::store(target, kernel::load(source));
        kernel::store(target + kernel::kLanes, kernel::load(source + kernel::kLanes));
        continue;
      }
      std::copy(source, source + width, target);
      std::fill(target + width, target + kColumns, 0.0f);
    }
    return;
  }
  int packed_depth = 0;
#if defined(__AVX512F__)
  if (width == kColumns) {
    packed_depth = depth / 16 * 16;
    for (int k = 0; k < packed_depth; k += 16)
      for (int half = 0; half < 2; ++half)
        transpose_16x16(b.data + (first + 16 * half) * b.stride + k0 + k, b.stride, packed + k * kColumns + 16 * half);
  }
#endif
  for (int j = 0; j < width; ++j) {
    const float* source = b.data + (first + j) * b.stride + k0;
    for (int k = packed_depth; k < depth; ++k) packed[k * kColumns + j] = source[k];
  }
  for (int j = width; j < kColumns; ++j)
    for (int k = 0; k < depth; ++k) packed[k * kColumns + j] = 0.0f;
}

// One kRows x kColumns tile of C; edge tiles go through a full-size buffer so that they take the same
// arithmetic path as interior ones.
void multiply_tile(const MutableView& c, Index row_panel, Index column_panel, int depth, const float* a_packed,
                   const float* b_packed, bool accumulate, const float* bias) {
  const Index row = row_panel * kRows, column = column_panel * kColumns;
  const int rows = static_cast<int>(std::min<Index>(kRows, c.rows - row));
  const int width = static_cast<int>(std::min<Index>(kColumns, c.cols - column));
  float* target = c.data + row * c.stride + column;
  if (rows == kRows && width == kColumns) {
    kernel::multiply_tile(depth, a_packed, b_packed, target, c.stride, accumulate, bias ? bias + column : nullptr);
    return;
  }
  float tile[kRows * kColumns] = {};
  float padded_bias[kColumns] = {};
  for (int r = 0; r < rows && accumulate; ++r) std::copy(target + r * c.stride, target + r * c.stride + width, tile + r * kColumns);
  if (bias != nullptr) std::copy(bias + column, bias + column + width, padded_bias);
  kernel::multiply_tile(depth, a_packed, b_packed, tile, kColumns, accumulate, bias ? padded_bias : nullptr);
  for (int r = 0; r < rows; ++r) std::copy(tile + r * kColumns, tile + r * kColumns + width, target + r * c.stride);
}

void fill_with_bias(const float* bias, const MutableView& c) {
  for (Index r = 0; r < c.rows; ++r) {
    float* row = c.data + r * c.stride;
    if (bias != nullptr) std::copy(bias, bias + c.cols, row);
    else std::fill(row, row + c.cols, 0.0f);
  }
}

}  // namespace

void multiply(const ConstView& a, const ConstView& b, Layout layout, const float* bias, const MutableView& c,
              bool parallel) {
  const Index depth_total = a.cols;
  assert(c.rows == a.rows);
  assert(layout == Layout::k_by_n ? (b.rows == depth_total && b.cols == c.cols)
                                  : (b.cols == depth_total && b.rows == c.cols));
  if (c.rows == 0 || c.cols == 0) return;
  if (depth_total == 0) return fill_with_bias(bias, c);

  const Index row_panels = (c.rows + kRows - 1) / kRows;
  const Index column_panels = (c.cols + kColumns - 1) / kColumns;
  // A's k-block, packed once and shared by the threads; each thread packs its own B panels.
  std::vector<float> a_packed(static_cast<size_t>(row_panels) * kRows * kBlockDepth);

#pragma omp parallel if (parallel)
  {
    alignas(kernel::kVectorBytes) float b_packed[kBlockDepth * kColumns];
    for (Index k0 = 0; k0 < depth_total; k0 += kBlockDepth) {
      const int depth = static_cast<int>(std::min<Index>(kBlockDepth, depth_total - k0));
      const bool first_block = k0 == 0, last_block = k0 + depth == depth_total;
#pragma omp for schedule(static)
      for (Index panel = 0; panel < row_panels; ++panel)
        pack_a_panel(a, panel, k0, depth, a_packed.data() + panel * kRows * depth);
#pragma omp for schedule(static)
      for (Index column_panel = 0; column_panel < column_panels; ++column_panel) {
        pack_b_panel(b, layout, c.cols, column_panel, k0, depth, b_packed);
        for (Index row_panel = 0; row_panel < row_panels; ++row_panel)
          multiply_tile(c, row_panel, column_panel, depth, a_packed.data() + row_panel * kRows * depth, b_packed,
                        !first_block, last_block ? bias : nullptr);
      }
    }
  }
}

}  // namespace cscrub::engine::gemm
