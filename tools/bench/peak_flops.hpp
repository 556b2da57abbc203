// The machine's FP32 fused-multiply-add peak, measured: independent FMA chains on every thread.
#pragma once
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>

namespace cscrub::bench {

// GFLOP/s (multiply-add = 2 FLOPs) with `threads` threads.
inline double measure_peak_gflops(int threads) {
  constexpr long kIterations = 200'000'000 / 16;
  double seconds = 0;
  float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  {
#if defined(__AVX512F__)
    using Vector = __m512;
    constexpr int kLanes = 16;
    auto fma = [](Vector a, Vector b, Vector c) { return _mm512_fmadd_ps(a, b, c); };
    Vector chains[12];
    for (auto& chain : chains) chain = _mm512_set1_ps(1.0f);
    const Vector multiplier = _mm512_set1_ps(0.999999f), addend = _mm512_set1_ps(1e-7f);
#elif defined(__FMA__)
    using Vector = __m256;
    constexpr int kLanes = 8;
    auto fma = [](Vector a, Vector b, Vector c) { return _mm256_fmadd_ps(a, b, c); };
    Vector chains[12];
    for (auto& chain : chains) chain = _mm256_set1_ps(1.0f);
    const Vector multiplier = _mm256_set1_ps(0.999999f), addend = _mm256_set1_ps(1e-7f);
#else
    using Vector = float;
    constexpr int kLanes = 1;
    auto fma = [](Vector a, Vector b, Vector c) { return a * b + c; };
    Vector chains[12];
    for (auto& chain : chains) chain = 1.0f;
    const Vector multiplier = 0.999999f, addend = 1e-7f;
#endif
#pragma omp barrier
    const auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < kIterations; ++i)
      for (auto& chain : chains) chain = fma(chain, multiplier, addend);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
#pragma omp critical
    seconds = std::max(seconds, elapsed);
    // Every chain feeds the sink: otherwise the compiler keeps only the one that does (seen: GCC 12 reduced
    // the loop to a single dependent FMA and the "peak" read 1.5x the real one).
    for (const auto& chain : chains) sink += reinterpret_cast<const float*>(&chain)[0];
    (void)kLanes;
  }
  (void)sink;
#if defined(__AVX512F__)
  constexpr int lanes = 16;
#elif defined(__FMA__)
  constexpr int lanes = 8;
#else
  constexpr int lanes = 1;
#endif
  return 2.0 * 12 * lanes * static_cast<double>(kIterations) * threads / seconds / 1e9;
}

}  // namespace cscrub::bench
