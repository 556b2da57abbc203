// A 16 x 16 transpose of floats in AVX-512 registers, for packing GEMM panels and transposing attention keys.
#pragma once
#if defined(__AVX512F__)
#include <immintrin.h>

namespace cscrub::engine {

// GCC 12's AVX-512 headers trip -Wuninitialized on their own `__m512 __Y = __Y;` (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"

// A 16 x 16 transpose in registers: on return, lane j of block[k] is what lane k of block[j] was.
// Internal linkage: amx_kernels.cpp compiles it for another target than the rest of the engine, and the
// linker must not pick one translation unit's copy for another.
static inline void transpose_16x16(__m512 (&block)[16]) {
  __m512 t[16], u[16];
  for (int j = 0; j < 16; j += 2) {
    t[j] = _mm512_unpacklo_ps(block[j], block[j + 1]);
    t[j + 1] = _mm512_unpackhi_ps(block[j], block[j + 1]);
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
    block[0 + e] = _mm512_shuffle_f32x4(even_low, even_high, 0x88);
    block[8 + e] = _mm512_shuffle_f32x4(even_low, even_high, 0xDD);
    block[4 + e] = _mm512_shuffle_f32x4(odd_low, odd_high, 0x88);
    block[12 + e] = _mm512_shuffle_f32x4(odd_low, odd_high, 0xDD);
  }
}

#pragma GCC diagnostic pop

}  // namespace cscrub::engine
#endif
