// Compiled with -mamx-tile -mamx-bf16 -mavx512f -mavx512dq -mavx512bf16 (CMakeLists.txt), whatever the build's
// target.
#include "amx_kernels.hpp"

#include <immintrin.h>

#include "transpose_16x16.hpp"

namespace cscrub::engine::gemm::amx {
namespace {

// Tile registers (the intrinsics paste their numbers into the assembly, so these are macros): C's four
// 16 x 16 quarters, then the two tiles of A (rows 0-15, 16-31) and of B (columns 0-15, 16-31) in use. Tiles
// are not renamed by the hardware, so there are exactly these eight.
#define CSCRUB_C00 0
#define CSCRUB_C01 1
#define CSCRUB_C10 2
#define CSCRUB_C11 3
#define CSCRUB_A_TOP 4
#define CSCRUB_A_BOTTOM 5
#define CSCRUB_B_LEFT 6
#define CSCRUB_B_RIGHT 7

constexpr int kTileValues = 16 * 32;  // bf16 values in one tile (16 rows x 64 bytes)
constexpr int kTileFloats = 16 * 16;  // floats in one tile of C
constexpr int kTileStride = 64;       // bytes from one tile row to the next, in every packed buffer

// Where part `part` of tile `half` of a packed step starts.
constexpr int tile_offset(int part, int half) { return (part * 2 + half) * kTileValues; }

struct Parts {
  __m512 part[kParts];  // each exactly a bf16 value; their sum is x exactly (finite x)
};

// x = high + middle + low exactly: high is x truncated to bf16 (it cannot round past the largest float),
// middle the nearest bf16 to the rest, and low what is left, which has at most 8 significant bits (bf16's)
// since high and middle took 8 each of x's 24. Both subtractions are exact. An infinite x is all high and NaN
// stays NaN, so the result is not finite (NaN where the infinity meets the other operand's zero lower parts).
// Below 2^-110 or so the lower parts are subnormal, which the tiles read as zero: values there lose precision.
Parts split(__m512 x) {
  const __m512 high =
      _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
  constexpr int kInfinity = 0x08 | 0x10;  // positive or negative infinity (vfpclassps)
  const __m512 rest = _mm512_maskz_sub_ps(static_cast<__mmask16>(~_mm512_fpclass_ps_mask(x, kInfinity)), x, high);
  const __m512 middle = _mm512_cvtpbh_ps(_mm512_cvtneps_pbh(rest));
  return {{high, middle, _mm512_sub_ps(rest, middle)}};
}

// The upper halves (the bf16 bits) of 16 bf16-exact floats, as 16 x 16 bits.
__m256i bf16_bits(__m512 x) { return _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(x), 16)); }

// 32 bits per lane: the bf16 bits of `even` below those of `odd` (a k pair in a tile row of B).
__m512i bf16_pairs(__m512 even, __m512 odd) {
  return _mm512_or_si512(_mm512_srli_epi32(_mm512_castps_si512(even), 16),
                         _mm512_and_si512(_mm512_castps_si512(odd), _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
}

__mmask16 first_lanes(int count) {
  return count >= 16 ? static_cast<__mmask16>(0xFFFF) : count <= 0 ? 0 : static_cast<__mmask16>((1u << count) - 1);
}

// 16 floats from p[0..count) (zeros past count), never reading past them.
__m512 load_first(const float* p, int count) { return _mm512_maskz_loadu_ps(first_lanes(count), p); }

void pack_b_k_by_n(const float* b, ptrdiff_t stride, int columns, int panels, int depth, int steps, size_t panel_values,
                   uint16_t* packed) {
  for (int panel = 0; panel < panels; ++panel) {
    for (int step = 0; step < steps; ++step) {
      for (int pair = 0; pair < 16; ++pair) {
        const int k = step * kStepDepth + 2 * pair;
        uint16_t* target = packed + panel * panel_values + step * kStepValues + pair * 32;
        for (int half = 0; half < 2; ++half) {
          const int first = panel * kPanelColumns + 16 * half, count = columns - first;
          const bool columns_left = count > 0;
          const Parts even =
              split(columns_left && k < depth ? load_first(b + k * stride + first, count) : _mm512_setzero_ps());
          const Parts odd = split(columns_left && k + 1 < depth ? load_first(b + (k + 1) * stride + first, count)
                                                                : _mm512_setzero_ps());
          for (int part = 0; part < kParts; ++part)
            _mm512_store_si512(target + tile_offset(part, half), bf16_pairs(even.part[part], odd.part[part]));
        }
      }
    }
  }
}

void pack_b_n_by_k_panel(const float* b, ptrdiff_t stride, int columns, int depth, int steps, uint16_t* packed) {
  for (int step = 0; step < steps; ++step) {
    const int k = step * kStepDepth;
    uint16_t* target = packed + step * kStepValues;
    for (int half = 0; half < 2; ++half) {
      // rows[part][n]: lane q holds the pair (k + 2q, k + 2q + 1) of column 16 * half + n.
      __m512 rows[kParts][16];
      for (int n = 0; n < 16; ++n) {
        const int column = 16 * half + n;
        const bool present = column < columns;
        const float* source = present ? b + column * stride + k : nullptr;
        const Parts low = split(present ? load_first(source, depth - k) : _mm512_setzero_ps());
        const Parts high =
            split(present && depth - k > 16 ? load_first(source + 16, depth - k - 16) : _mm512_setzero_ps());
        for (int part = 0; part < kParts; ++part)
          rows[part][n] = _mm512_castsi512_ps(
              _mm512_inserti64x4(_mm512_castsi256_si512(bf16_bits(low.part[part])), bf16_bits(high.part[part]), 1));
      }
      for (int part = 0; part < kParts; ++part) {
        transpose_16x16(rows[part]);  // now lane n of rows[part][q] is column n's pair q
        for (int pair = 0; pair < 16; ++pair)
          _mm512_store_ps(reinterpret_cast<float*>(target + tile_offset(part, half) + pair * 32), rows[part][pair]);
      }
    }
  }
}

}  // namespace

void configure_tiles() {
  struct alignas(64) {
    uint8_t palette = 1, start_row = 0, reserved[14] = {};
    uint16_t bytes_per_row[16] = {};
    uint8_t rows[16] = {};
  } config;
  for (int tile = 0; tile < 8; ++tile) {
    config.bytes_per_row[tile] = kTileStride;
    config.rows[tile] = 16;
  }
  // Not _tile_loadconfig: GCC 12's version tells the compiler it reads only a pointer's worth of the
  // configuration, which lets it drop the stores that fill the rest (seen: a #GP on the first ldtilecfg).
  asm volatile("ldtilecfg %0" : : "m"(config));
}

void release_tiles() { _tile_release(); }

void pack_a_block(const float* a, ptrdiff_t row_stride, int rows, int depth, int steps, uint16_t* packed) {
  for (int row = 0; row < kBlockRows; ++row) {
    const bool present = row < rows;
    const float* source = present ? a + row * row_stride : nullptr;
    const int half = row / 16, tile_row = row % 16;
    for (int step = 0; step < steps; ++step) {
      const int k = step * kStepDepth;
      const Parts low = split(present ? load_first(source + k, depth - k) : _mm512_setzero_ps());
      const Parts high =
          split(present && depth - k > 16 ? load_first(source + k + 16, depth - k - 16) : _mm512_setzero_ps());
      uint16_t* target = packed + step * kStepValues + tile_row * 32;
      for (int part = 0; part < kParts; ++part) {
        const __m512i values =
            _mm512_inserti64x4(_mm512_castsi256_si512(bf16_bits(low.part[part])), bf16_bits(high.part[part]), 1);
        _mm512_store_si512(target + tile_offset(part, half), values);
      }
    }
  }
}

void pack_b_panels(const float* b, ptrdiff_t stride, bool transposed, int columns, int panels, int depth, int steps,
                   size_t panel_values, uint16_t* packed) {
  if (!transposed) return pack_b_k_by_n(b, stride, columns, panels, depth, steps, panel_values, packed);
  // B's columns are rows in memory, each read along: panel by panel.
  for (int panel = 0; panel < panels; ++panel)
    pack_b_n_by_k_panel(b + panel * kPanelColumns * stride, stride, columns - panel * kPanelColumns, depth, steps,
                        packed + panel * panel_values);
}

void multiply_block(const uint16_t* a_packed, const uint16_t* b_packed, int steps, float* block, bool continue_block) {
  if (continue_block) {
    _tile_loadd(CSCRUB_C00, block + 0 * kTileFloats, kTileStride);
    _tile_loadd(CSCRUB_C01, block + 1 * kTileFloats, kTileStride);
    _tile_loadd(CSCRUB_C10, block + 2 * kTileFloats, kTileStride);
    _tile_loadd(CSCRUB_C11, block + 3 * kTileFloats, kTileStride);
  } else {
    _tile_zero(CSCRUB_C00);
    _tile_zero(CSCRUB_C01);
    _tile_zero(CSCRUB_C10);
    _tile_zero(CSCRUB_C11);
  }
  for (int step = 0; step < steps; ++step) {
    const uint16_t* a = a_packed + step * kStepValues;
    const uint16_t* b = b_packed + step * kStepValues;
#define CSCRUB_LOAD_A(part)                                         \
  _tile_loadd(CSCRUB_A_TOP, a + tile_offset(part, 0), kTileStride); \
  _tile_loadd(CSCRUB_A_BOTTOM, a + tile_offset(part, 1), kTileStride)
#define CSCRUB_LOAD_B(part)                                          \
  _tile_loadd(CSCRUB_B_LEFT, b + tile_offset(part, 0), kTileStride); \
  _tile_loadd(CSCRUB_B_RIGHT, b + tile_offset(part, 1), kTileStride)
#define CSCRUB_MULTIPLY_ADD                                   \
  _tile_dpbf16ps(CSCRUB_C00, CSCRUB_A_TOP, CSCRUB_B_LEFT);    \
  _tile_dpbf16ps(CSCRUB_C01, CSCRUB_A_TOP, CSCRUB_B_RIGHT);   \
  _tile_dpbf16ps(CSCRUB_C10, CSCRUB_A_BOTTOM, CSCRUB_B_LEFT); \
  _tile_dpbf16ps(CSCRUB_C11, CSCRUB_A_BOTTOM, CSCRUB_B_RIGHT)
    // The six terms, smallest first, ordered so that each loads one operand's two tiles: 14 loads, 24 products.
    CSCRUB_LOAD_A(2);
    CSCRUB_LOAD_B(0);
    CSCRUB_MULTIPLY_ADD;  // A3 · B1
    CSCRUB_LOAD_A(1);
    CSCRUB_MULTIPLY_ADD;  // A2 · B1
    CSCRUB_LOAD_B(1);
    CSCRUB_MULTIPLY_ADD;  // A2 · B2
    CSCRUB_LOAD_A(0);
    CSCRUB_MULTIPLY_ADD;  // A1 · B2
    CSCRUB_LOAD_B(2);
    CSCRUB_MULTIPLY_ADD;  // A1 · B3
    CSCRUB_LOAD_B(0);
    CSCRUB_MULTIPLY_ADD;  // A1 · B1
#undef CSCRUB_LOAD_A
#undef CSCRUB_LOAD_B
#undef CSCRUB_MULTIPLY_ADD
  }
  _tile_stored(CSCRUB_C00, block + 0 * kTileFloats, kTileStride);
  _tile_stored(CSCRUB_C01, block + 1 * kTileFloats, kTileStride);
  _tile_stored(CSCRUB_C10, block + 2 * kTileFloats, kTileStride);
  _tile_stored(CSCRUB_C11, block + 3 * kTileFloats, kTileStride);
}

void store_block(const float* block, int rows, int columns, const float* bias, float* c, ptrdiff_t c_stride) {
  for (int row = 0; row < rows; ++row) {
    for (int half = 0; half < 2; ++half) {
      const int count = columns - 16 * half;
      if (count <= 0) break;
      __m512 value = _mm512_load_ps(block + ((row / 16) * 2 + half) * kTileFloats + (row % 16) * 16);
      if (bias != nullptr) value = _mm512_add_ps(value, load_first(bias + 16 * half, count));
      _mm512_mask_storeu_ps(c + row * c_stride + 16 * half, first_lanes(count), value);
    }
  }
}

}  // namespace cscrub::engine::gemm::amx
