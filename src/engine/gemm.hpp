// The engine's matrix product: C = A · B (+ bias) of FP32 matrices, in one of two kernels (MatmulKernel):
// - fp32_fma: packed and register-blocked (Goto/BLIS style), split across the cores over the rows of C (or
//   its columns when it has few rows). A product with B stored [N, K] (the unembedding) and up to 1,024 rows
//   runs transposed, reading B in place.
// - amx_split_bf16: on AMX tiles, every operand split into three bf16 parts (gemm_amx.hpp, amx_kernels.hpp).
//
// Why not Eigen's product: on 2 cores its GEMM reached ~40% of the FMA peak and zero-fills the
// destination before accumulating into it (a second pass over 206 MB of logits for 64 x 16 tokens).
//
// Determinism: with either kernel, every element C(i, j) is computed the same way wherever it lies and
// whatever the thread count or the other rows. fp32_fma: the sum over k-blocks of kBlockDepth, each a fused
// multiply-add chain in increasing k started from zero, blocks added in order, then the bias. amx_split_bf16:
// one chain of tile products in increasing k, then the bias. Tiles at the edges are computed through
// zero-padded buffers by the same kernel. So results are bit-identical across thread counts and batch
// compositions (for one kernel: the two kernels round differently).
#pragma once
#include <Eigen/Core>
#include <memory>

#include "cscrub/engine/matmul.hpp"

namespace cscrub::engine::gemm {

// A row-major matrix view: element (r, c) at data[r * stride + c].
struct ConstView {
  const float* data;
  Eigen::Index rows, cols, stride;
};
struct MutableView {
  float* data;
  Eigen::Index rows, cols, stride;
};

// How the second factor is stored: as B itself [K, N], or as its transpose [N, K] (e.g. the unembedding
// reads wte [vocab, d_model]).
enum class Layout { k_by_n, n_by_k };

// Where a product packs its operands. A caller that runs many products (a forward pass) keeps one: fresh
// buffers are faulted in page by page at every product, which cost 12% of a GPT-2 forward pass here.
class PackingBuffers {
 public:
  // `floats` floats, aligned to a cache line (64 bytes); the contents are not kept, nor initialised.
  float* left(size_t floats) { return left_.at_least(floats); }
  float* right(size_t floats) { return right_.at_least(floats); }

 private:
  class Buffer {
   public:
    float* at_least(size_t floats);  // grows (asking for huge pages), never shrinks

   private:
    struct Free {
      void operator()(float* data) const;
    };
    std::unique_ptr<float, Free> data_;
    size_t floats_ = 0;
  };
  Buffer left_, right_;
};

// The floats a product packs into PackingBuffers' left and right buffers; a caller that sizes its buffers
// so up front (for its largest products) allocates them once.
struct PackingSizes {
  size_t left, right;
};
PackingSizes packing_sizes(MatmulKernel kernel, Layout layout, bool bias, Eigen::Index rows, Eigen::Index depth,
                           Eigen::Index columns, int threads);

// c = a · b (+ bias when not null; bias has c.cols entries). a: [M, K]; b: [K, N] or [N, K] per `layout`.
// Splits across the OpenMP threads when `parallel` is true. Packs into `buffers`, or into its own when null.
// amx_split_bf16 only where amx_usable().
void multiply(MatmulKernel kernel, const ConstView& a, const ConstView& b, Layout layout, const float* bias,
              const MutableView& c, bool parallel, PackingBuffers* buffers = nullptr);

}  // namespace cscrub::engine::gemm
