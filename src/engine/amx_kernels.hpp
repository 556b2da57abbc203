// The AMX side of gemm_amx.cpp: splitting FP32 operands into three bf16 parts, packing them into tile
// layout, and multiplying 32 x 32 blocks of C on the tiles.
//
// Why three parts: a float's 24 significant bits are exactly the sum of three bf16 values of 8 bits each
// (split() in the .cpp says how), so A · B = Σ_ij A_i · B_j, and the six terms with i + j ≤ 4 (1-based)
// keep each product down to about 2^-23 of it: FP32 accuracy. The dropped terms (A2·B3, A3·B2, A3·B3) are
// smaller. The tiles multiply bf16 pairs into FP32 sums at 16x the FP32 FMA rate, so six products still cost
// well under one FP32 product.
//
// amx_kernels.cpp is compiled with AMX and AVX-512 (F, DQ, BF16) code generation whatever the build's target
// (the rest of the engine need not be), so it includes no library headers and its one shared helper
// (transpose_16x16.hpp) has internal linkage: nothing inline from it can be picked by the linker for code
// that runs on a CPU without these instructions. Call only when engine::amx_usable() (matmul.hpp).
#pragma once
#include <cstddef>
#include <cstdint>

namespace cscrub::engine::gemm::amx {

inline constexpr int kBlockRows = 32;     // rows of A and C per block: two tiles of 16 rows
inline constexpr int kPanelColumns = 32;  // columns of B and C per panel: two tiles of 16 columns
inline constexpr int kStepDepth = 32;     // depth per step: one tile row holds 32 bf16 values (16 pairs)
inline constexpr int kParts = 3;
// One step of a packed block of A or panel of B: 3 parts x 2 tiles x 16 rows x 64 bytes, in bf16 values.
inline constexpr size_t kStepValues = kParts * 2 * 16 * 32;
// A 32 x 32 block of C as the tiles hold it: 4 tiles (rows 0-15 | 16-31) x (columns 0-15 | 16-31) of 16 x 16.
inline constexpr size_t kBlockFloats = 4 * 16 * 16;

// The tile configuration (every tile 16 rows x 64 bytes) of the calling thread; release_tiles() hands the
// tile state back to the kernel, so that an idle thread does not carry 8 KiB of it through context switches.
void configure_tiles();
void release_tiles();

// Packs `rows` (<= 32) rows of A, `row_stride` floats apart, from a[0] on, over `depth` columns, into `steps`
// steps of 32 (`steps` * 32 >= depth): rows past `rows` and columns past `depth` are zeros.
void pack_a_block(const float* a, ptrdiff_t row_stride, int rows, int depth, int steps, uint16_t* packed);

// Packs `panels` panels of 32 columns of B (the last ones zero past `columns`) over `depth` rows of B, into
// `steps` steps each, panel p at packed + p * panel_values; B is read as B(k, n) = b[k * stride + n] (stored
// [K, N]), or b[n * stride + k] (stored [N, K]) when `transposed`.
void pack_b_panels(const float* b, ptrdiff_t stride, bool transposed, int columns, int panels, int depth, int steps,
                   size_t panel_values, uint16_t* packed);

// block = [block +] A · B over `steps` packed steps: a 32 x 32 block of C in tile layout (kBlockFloats).
// Continuing from the block makes the sum one chain over every step, as if the steps had come in one call.
void multiply_block(const uint16_t* a_packed, const uint16_t* b_packed, int steps, float* block, bool continue_block);

// c[r * c_stride + j] = block(r, j) [+ bias[j]] for r < rows, j < columns.
void store_block(const float* block, int rows, int columns, const float* bias, float* c, ptrdiff_t c_stride);

}  // namespace cscrub::engine::gemm::amx
