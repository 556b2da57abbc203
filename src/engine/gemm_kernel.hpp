// The register-blocked inner kernel of gemm.cpp: a kRows x kColumns tile of C from packed panels of A
// (kRows floats per k) and B (kColumns floats per k). The vector width follows the target: AVX-512,
// AVX2 + FMA, or a portable 4-lane vector; the tile shape keeps the accumulators in registers.
#pragma once
#include <Eigen/Core>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace cscrub::engine::gemm::kernel {

#if defined(__AVX512F__)
using Vector = __m512;
inline constexpr int kLanes = 16;
inline constexpr int kRows = 12;  // 12 x 2 accumulators + 2 B vectors + 1 broadcast of the 32 registers
inline Vector zero() { return _mm512_setzero_ps(); }
inline Vector load_aligned(const float* p) { return _mm512_load_ps(p); }
inline Vector load(const float* p) { return _mm512_loadu_ps(p); }
inline void store(float* p, Vector v) { _mm512_storeu_ps(p, v); }
inline Vector broadcast(const float* p) { return _mm512_set1_ps(*p); }
inline Vector multiply_add(Vector a, Vector b, Vector c) { return _mm512_fmadd_ps(a, b, c); }
inline Vector add(Vector a, Vector b) { return _mm512_add_ps(a, b); }
inline Vector multiply(Vector a, Vector b) { return _mm512_mul_ps(a, b); }
#elif defined(__AVX2__) && defined(__FMA__)
using Vector = __m256;
inline constexpr int kLanes = 8;
inline constexpr int kRows = 6;  // 6 x 2 accumulators + 2 B vectors + 1 broadcast of the 16 registers
inline Vector zero() { return _mm256_setzero_ps(); }
inline Vector load_aligned(const float* p) { return _mm256_load_ps(p); }
inline Vector load(const float* p) { return _mm256_loadu_ps(p); }
inline void store(float* p, Vector v) { _mm256_storeu_ps(p, v); }
inline Vector broadcast(const float* p) { return _mm256_broadcast_ss(p); }
inline Vector multiply_add(Vector a, Vector b, Vector c) { return _mm256_fmadd_ps(a, b, c); }
inline Vector add(Vector a, Vector b) { return _mm256_add_ps(a, b); }
inline Vector multiply(Vector a, Vector b) { return _mm256_mul_ps(a, b); }
#else
using Vector = float __attribute__((vector_size(16)));
inline constexpr int kLanes = 4;
inline constexpr int kRows = 6;
inline Vector zero() { return Vector{}; }
inline Vector load_aligned(const float* p) { return *reinterpret_cast<const Vector*>(p); }
inline Vector load(const float* p) {
  Vector v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, Vector v) { __builtin_memcpy(p, &v, sizeof v); }
inline Vector broadcast(const float* p) { return Vector{} + *p; }
inline Vector multiply_add(Vector a, Vector b, Vector c) { return a * b + c; }
inline Vector add(Vector a, Vector b) { return a + b; }
inline Vector multiply(Vector a, Vector b) { return a * b; }
#endif

inline constexpr int kColumns = 2 * kLanes;
inline constexpr int kVectorBytes = kLanes * static_cast<int>(sizeof(float));

// tile (kRows x kColumns, row stride `stride`) = [tile +] A · b_panel [+ bias], where a_at(k) points at
// A's column k (row r at a_at(k)[r * a_row_step]); b_panel: depth x kColumns floats, aligned to kVectorBytes.
// Each element is one multiply-add chain in increasing k, started from zero, then the optional sums.
template <typename AColumn>
inline void multiply_tile_with(int depth, AColumn a_at, Eigen::Index a_row_step, const float* b_panel, float* tile,
                               Eigen::Index stride, bool accumulate, const float* bias) {
  Vector sums[kRows][2];
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) sums[r][0] = sums[r][1] = zero();
  for (int k = 0; k < depth; ++k) {
    const Vector b0 = load_aligned(b_panel + k * kColumns), b1 = load_aligned(b_panel + k * kColumns + kLanes);
    const float* a = a_at(k);
#pragma GCC unroll 16
    for (int r = 0; r < kRows; ++r) {
      const Vector a_r = broadcast(a + r * a_row_step);
      sums[r][0] = multiply_add(a_r, b0, sums[r][0]);
      sums[r][1] = multiply_add(a_r, b1, sums[r][1]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
    for (int half = 0; half < 2; ++half) {
      float* out = tile + r * stride + half * kLanes;
      Vector value = sums[r][half];
      if (accumulate) value = add(load(out), value);
      if (bias != nullptr) value = add(value, load(bias + half * kLanes));
      store(out, value);
    }
  }
}

// A packed: a_panel holds depth x kRows floats, k-major.
inline void multiply_tile(int depth, const float* a_panel, const float* b_panel, float* tile, Eigen::Index stride,
                          bool accumulate, const float* bias) {
  multiply_tile_with(
      depth, [a_panel](int k) { return a_panel + k * kRows; }, 1, b_panel, tile, stride, accumulate, bias);
}

// A read in place: kRows rows of a row-major matrix, `a_stride` floats apart, from column 0 of the block.
inline void multiply_tile_rows_in_place(int depth, const float* a_rows, Eigen::Index a_stride, const float* b_panel,
                                        float* tile, Eigen::Index stride, bool accumulate) {
  multiply_tile_with(
      depth, [a_rows](int k) { return a_rows + k; }, a_stride, b_panel, tile, stride, accumulate, nullptr);
}

}  // namespace cscrub::engine::gemm::kernel
