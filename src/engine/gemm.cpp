#include "gemm.hpp"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <new>
#include <vector>

#include <omp.h>

#include "cscrub/engine/huge_pages.hpp"
#include "cscrub/error.hpp"
#include "gemm_amx.hpp"
#include "gemm_kernel.hpp"
#include "transpose_16x16.hpp"

namespace cscrub::engine::gemm {
namespace {

using kernel::kColumns;
using kernel::kRows;
using Eigen::Index;

// k-block depth: a B panel (kBlockDepth x kColumns floats, 128 KiB with AVX-512) stays in the L2 cache
// while it meets the row panels of A. Deep blocks matter more than an L1-sized panel here: GPT-2's
// products (K = 768) then take one pass, with no reloads of C between blocks; measured on 2 Zen 5 cores,
// depth 256 -> 1024 took the layer products from ~325 to ~370 GFLOP/s. Fixed, never derived from the
// thread count (determinism).
constexpr int kBlockDepth = 1024;
// Below this many row panels per thread, the threads split the columns of C instead of its rows.
constexpr Index kRowPanelsPerThread = 4;
// Up to this many rows of C, a product with B stored [N, K] and no bias runs transposed
// (multiply_few_rows_by_transposed). Measured for the unembedding (K = 768, N = 50,257) on 2 Zen 5 cores,
// against the standard path: 1.3x faster at 8 rows, 1.8x at 32, 1.45x at 64, 1.2x at 256, equal at 1,024.
constexpr Index kFewRows = 1024;

#if defined(__AVX512F__)
static_assert(kColumns == 32, "two 16-wide halves per B panel");

// packed[k * kColumns + j] = rows[j][k] for j, k = 0..15 (rows `stride` floats apart).
void pack_transposed_16x16(const float* rows, Eigen::Index stride, float* packed) {
  __m512 block[16];
  for (int j = 0; j < 16; ++j) block[j] = _mm512_loadu_ps(rows + j * stride);
  transpose_16x16(block);
  for (int k = 0; k < 16; ++k) _mm512_store_ps(packed + k * kColumns, block[k]);
}

// packed[k * kRows + r] = rows[r][k] for r = 0..11, k = 0..15: 16 columns of a full A panel.
void pack_a_16_columns(const float* rows, Eigen::Index stride, float* packed) {
  static_assert(kRows == 12, "a 12-row panel in the lanes of a 16-wide vector");
  __m512 block[16];
  for (int r = 0; r < kRows; ++r) block[r] = _mm512_loadu_ps(rows + r * stride);
  for (int r = kRows; r < 16; ++r) block[r] = _mm512_setzero_ps();
  transpose_16x16(block);
  for (int k = 0; k < 16; ++k) _mm512_mask_storeu_ps(packed + k * kRows, 0x0FFF, block[k]);
}
#endif

// The scalar part of a transposing pack: packed[k * width + j] = lines[j][k] for the `count` lines that exist
// (`stride` floats apart, from `first_line`) and k in [from, depth); lines count..width-1 are zero padding.
void pack_lines_transposed(const float* first_line, Index stride, int count, int width, int from, int depth,
                           float* packed) {
  for (int j = 0; j < count; ++j) {
    const float* source = first_line + j * stride;
    for (int k = from; k < depth; ++k) packed[k * width + j] = source[k];
  }
  for (int j = count; j < width; ++j)
    for (int k = 0; k < depth; ++k) packed[k * width + j] = 0.0f;
}

// Packs rows [panel * kRows, +kRows) and columns [k0, k0 + depth) of A, k-major, zero rows past the end.
// Full panels go 16 columns at a time through a register transpose where AVX-512 allows.
void pack_a_panel(const ConstView& a, Index panel, Index k0, int depth, float* packed) {
  const Index first_row = panel * kRows;
  const int rows = static_cast<int>(std::min<Index>(kRows, a.rows - first_row));
  int packed_depth = 0;
#if defined(__AVX512F__)
  if (rows == kRows) {
    packed_depth = depth / 16 * 16;
    for (int k = 0; k < packed_depth; k += 16)
      pack_a_16_columns(a.data + first_row * a.stride + k0 + k, a.stride, packed + k * kRows);
  }
#endif
  pack_lines_transposed(a.data + first_row * a.stride + k0, a.stride, rows, kRows, packed_depth, depth, packed);
}

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
        pack_transposed_16x16(b.data + (first + 16 * half) * b.stride + k0 + k, b.stride,
                              packed + k * kColumns + 16 * half);
  }
#endif
  pack_lines_transposed(b.data + first * b.stride + k0, b.stride, width, kColumns, packed_depth, depth, packed);
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

// What multiply_few_rows_by_transposed packs: every k-block of A's rows, in panels of kColumns.
size_t few_rows_packing_floats(Index rows, Index depth) {
  const Index blocks = (depth + kBlockDepth - 1) / kBlockDepth, a_panels = (rows + kColumns - 1) / kColumns;
  return static_cast<size_t>(blocks * a_panels * kColumns * std::min<Index>(kBlockDepth, depth));
}

// C = A · Bᵀ for B [N, K] row-major and an A of few rows (the last-position unembedding: 64 x 768 against
// 50,257 x 768), computed as Cᵀ = B · Aᵀ: B's rows are the broadcast operand, read in place, and the small A
// is packed as the vector operand. This skips the transposing pass over the large B that the standard path
// makes (a third of its time for such shapes). Each element is the standard path's arithmetic (the
// products commute; the same chains, k-blocks and additions), so the results are the same bits.
void multiply_few_rows_by_transposed(const ConstView& a, const ConstView& b, const MutableView& c, bool parallel,
                                     PackingBuffers& packing) {
  const Index depth_total = a.cols, block_depth = std::min<Index>(kBlockDepth, depth_total);
  const Index blocks = (depth_total + kBlockDepth - 1) / kBlockDepth;
  const Index a_panels = (c.rows + kColumns - 1) / kColumns;  // A's rows are Cᵀ's columns
  const Index b_panels = (c.cols + kRows - 1) / kRows;        // B's rows are Cᵀ's rows
  const Index panel_floats = kColumns * block_depth;
  float* const a_packed = packing.left(few_rows_packing_floats(c.rows, depth_total));
  for (Index block = 0; block < blocks; ++block)
    for (Index panel = 0; panel < a_panels; ++panel)
      pack_b_panel(a, Layout::n_by_k, c.rows, panel, block * kBlockDepth,
                   static_cast<int>(std::min<Index>(kBlockDepth, depth_total - block * kBlockDepth)),
                   a_packed + (block * a_panels + panel) * panel_floats);

#pragma omp parallel if (parallel)
  {
    std::vector<float, Eigen::aligned_allocator<float>> edge_panel;  // B's last rows, zero-padded
#pragma omp for schedule(static)
    for (Index panel = 0; panel < b_panels; ++panel) {
      const Index first = panel * kRows;
      const int rows = static_cast<int>(std::min<Index>(kRows, c.cols - first));
      for (Index a_panel = 0; a_panel < a_panels; ++a_panel) {
        alignas(kernel::kVectorBytes) float tile[kRows * kColumns];
        for (Index block = 0; block < blocks; ++block) {
          const Index k0 = block * kBlockDepth;
          const int depth = static_cast<int>(std::min<Index>(kBlockDepth, depth_total - k0));
          const float* a_block = a_packed + (block * a_panels + a_panel) * panel_floats;
          if (rows == kRows) {
            kernel::multiply_tile_rows_in_place(depth, b.data + first * b.stride + k0, b.stride, a_block, tile,
                                                kColumns, block > 0);
            continue;
          }
          edge_panel.resize(static_cast<size_t>(kRows) * depth);
          pack_a_panel(b, panel, k0, depth, edge_panel.data());
          kernel::multiply_tile(depth, edge_panel.data(), a_block, tile, kColumns, block > 0, nullptr);
        }
        // tile[r][m] = C(a_panel * kColumns + m, first + r)
        const Index first_row_of_c = a_panel * kColumns;
        const int columns_of_tile = static_cast<int>(std::min<Index>(kColumns, c.rows - first_row_of_c));
        for (int m = 0; m < columns_of_tile; ++m) {
          float* target = c.data + (first_row_of_c + m) * c.stride + first;
          for (int r = 0; r < rows; ++r) target[r] = tile[r * kColumns + m];
        }
      }
    }
  }
}

void fill_with_bias(const float* bias, const MutableView& c) {
  for (Index r = 0; r < c.rows; ++r) {
    float* row = c.data + r * c.stride;
    if (bias != nullptr) std::copy(bias, bias + c.cols, row);
    else std::fill(row, row + c.cols, 0.0f);
  }
}

// What the standard fp32-fma path packs: one k-block of A's row panels, and one panel of B per thread.
size_t left_packing_floats(Index rows, Index depth) {
  return static_cast<size_t>((rows + kRows - 1) / kRows * kRows * std::min<Index>(kBlockDepth, depth));
}

size_t right_packing_floats(Index depth, int threads) {
  return static_cast<size_t>(threads) * kColumns * static_cast<size_t>(std::min<Index>(kBlockDepth, depth));
}

// The fp32-fma product of few rows against B stored [N, K], without bias, runs transposed.
bool runs_transposed(Layout layout, bool bias, Index rows) {
  return layout == Layout::n_by_k && !bias && rows <= kFewRows;
}

}  // namespace

float* PackingBuffers::Buffer::at_least(size_t floats) {
  if (floats_ < floats) {
    data_.reset();  // not both sizes at once
    floats_ = 0;
    constexpr size_t kLine = 64;
    const size_t bytes = (floats * sizeof(float) + kLine - 1) / kLine * kLine;
    data_.reset(static_cast<float*>(std::aligned_alloc(kLine, bytes)));
    if (!data_) throw std::bad_alloc();
    advise_huge_pages(data_.get(), bytes);
    floats_ = floats;
  }
  return data_.get();
}

void PackingBuffers::Buffer::Free::operator()(float* data) const { std::free(data); }

PackingSizes packing_sizes([[maybe_unused]] MatmulKernel kernel, Layout layout, bool bias, Index rows, Index depth,
                           Index columns, int threads) {
  if (rows == 0 || depth == 0 || columns == 0) return {0, 0};
#if defined(CSCRUB_WITH_AMX)
  if (kernel == MatmulKernel::amx_split_bf16) return amx_packing_sizes(rows, depth, columns, threads);
#endif
  if (runs_transposed(layout, bias, rows)) return {few_rows_packing_floats(rows, depth), 0};
  return {left_packing_floats(rows, depth), right_packing_floats(depth, threads)};
}

void multiply(MatmulKernel kernel, const ConstView& a, const ConstView& b, Layout layout, const float* bias,
              const MutableView& c, bool parallel, PackingBuffers* buffers) {
  const Index depth_total = a.cols;
  assert(c.rows == a.rows);
  assert(layout == Layout::k_by_n ? (b.rows == depth_total && b.cols == c.cols)
                                  : (b.cols == depth_total && b.rows == c.cols));
  if (c.rows == 0 || c.cols == 0) return;
  if (depth_total == 0) return fill_with_bias(bias, c);

  PackingBuffers own_buffers;
  PackingBuffers& packing = buffers != nullptr ? *buffers : own_buffers;
  // amx_usable() also asks the OS for the tile state, which the first tile instruction needs. A build without
  // the AMX kernels has it false.
  if (kernel == MatmulKernel::amx_split_bf16 && !amx_usable())
    throw Error("the matrix product kernel amx-split-bf16 needs a CPU with AMX-BF16 and an OS that grants it",
                "use the fp32-fma kernel");
#if defined(CSCRUB_WITH_AMX)
  if (kernel == MatmulKernel::amx_split_bf16) return multiply_with_amx(a, b, layout, bias, c, parallel, packing);
#endif
  if (runs_transposed(layout, bias != nullptr, c.rows))
    return multiply_few_rows_by_transposed(a, b, c, parallel, packing);

  const Index row_panels = (c.rows + kRows - 1) / kRows;
  const Index column_panels = (c.cols + kColumns - 1) / kColumns;
  const int threads = parallel ? omp_get_max_threads() : 1;
  // Packed A (one k-block of every row panel) and one B panel per thread.
  float* const a_packed = packing.left(left_packing_floats(c.rows, depth_total));
  float* const b_packed = packing.right(right_packing_floats(depth_total, threads));
  // With enough rows each thread takes its own rows of C, packs only their panels of A and keeps them in
  // its cache for every column panel; otherwise the threads share A and split the columns.
  const bool split_rows = row_panels >= kRowPanelsPerThread * threads;

#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int thread = omp_get_thread_num(), team = omp_get_num_threads();
    float* my_b_panel = b_packed + right_packing_floats(depth_total, thread);
    const Index first_row_panel = split_rows ? row_panels * thread / team : 0;
    const Index end_row_panel = split_rows ? row_panels * (thread + 1) / team : row_panels;
    for (Index k0 = 0; k0 < depth_total; k0 += kBlockDepth) {
      const int depth = static_cast<int>(std::min<Index>(kBlockDepth, depth_total - k0));
      const bool first_block = k0 == 0, last_block = k0 + depth == depth_total;
      // A panel's place does not depend on this block's depth: with rows split, threads reach the last
      // (shallower) block at different times and must not write into each other's panels.
      auto a_panel = [&](Index panel) { return a_packed + panel * kRows * std::min<Index>(kBlockDepth, depth_total); };
      auto multiply_column_panel = [&](Index column_panel) {
        pack_b_panel(b, layout, c.cols, column_panel, k0, depth, my_b_panel);
        for (Index row_panel = first_row_panel; row_panel < end_row_panel; ++row_panel)
          multiply_tile(c, row_panel, column_panel, depth, a_panel(row_panel), my_b_panel, !first_block,
                        last_block ? bias : nullptr);
      };
      if (split_rows) {
        for (Index panel = first_row_panel; panel < end_row_panel; ++panel)
          pack_a_panel(a, panel, k0, depth, a_panel(panel));
        for (Index column_panel = 0; column_panel < column_panels; ++column_panel) multiply_column_panel(column_panel);
        continue;
      }
#pragma omp for schedule(static)
      for (Index panel = 0; panel < row_panels; ++panel) pack_a_panel(a, panel, k0, depth, a_panel(panel));
#pragma omp for schedule(static)
      for (Index column_panel = 0; column_panel < column_panels; ++column_panel) multiply_column_panel(column_panel);
    }
  }
}

}  // namespace cscrub::engine::gemm

namespace cscrub::engine {

uint64_t matmul_packing_bytes(MatmulKernel kernel, const ProductShape& shape, int threads) {
  const gemm::PackingSizes sizes =
      gemm::packing_sizes(kernel, shape.b_transposed ? gemm::Layout::n_by_k : gemm::Layout::k_by_n, shape.bias,
                          shape.rows, shape.depth, shape.columns, threads);
  return sizeof(float) * (sizes.left + sizes.right);
}

}  // namespace cscrub::engine
