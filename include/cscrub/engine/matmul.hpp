// The arithmetic of the engine's matrix products (every product with the model's weights).
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace cscrub::engine {

enum class MatmulKernel {
  // FP32 fused multiply-adds, in AVX-512, AVX2 or portable vectors (whichever the build targets).
  fp32_fma,
  // Intel AMX tiles: each FP32 operand split exactly into three bf16 parts, six tile products per pair of
  // operands, FP32 sums. As accurate as fp32_fma (measured against double precision: max error 0.3-0.9x of
  // fp32_fma's), and the model's products 1.7-1.8x as fast (docs/engine-performance.md).
  amx_split_bf16,
};

// "fp32-fma", "amx-split-bf16"; and back (nullopt for another name).
std::string_view to_string(MatmulKernel kernel);
std::optional<MatmulKernel> matmul_kernel_named(std::string_view name);

// Whether this CPU has AMX-BF16 and AVX-512 and the operating system lets this process use the tile state
// (Linux asks for it, once per process: this call makes the request). Decided once.
bool amx_usable();

// amx_split_bf16 where amx_usable(), else fp32_fma.
MatmulKernel fastest_matmul_kernel();

// A product [rows, depth] x [depth, columns] with the model's weights as the right factor, stored transposed
// ([columns, depth], the unembedding) or not, with a bias or not.
struct ProductShape {
  int64_t rows, depth, columns;
  bool b_transposed = false, bias = false;
};
// The bytes such a product packs its operands into while it runs (its working memory beyond them), on
// `threads` threads: for memory estimates.
uint64_t matmul_packing_bytes(MatmulKernel kernel, const ProductShape& shape, int threads);

}  // namespace cscrub::engine
