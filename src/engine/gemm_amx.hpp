// gemm::multiply on AMX tiles (MatmulKernel::amx_split_bf16): the blocking and the threads around
// amx_kernels.hpp. Only where amx_usable().
//
// Blocking: C in 32 x 32 blocks, each summed in the tiles over one pass of up to kPassSteps steps of depth 32.
// A thread packs a chunk of its rows of A (~1 MiB: it stays in L2), then every panel of 32 columns of B in
// turn, and multiplies the panel into each block of the chunk. With few rows the threads share A and split
// the panels instead. Between passes a block's sums wait in memory, and the next pass continues the same
// chain, so neither the blocking nor the threads change a bit of the result.
#pragma once
#include "gemm.hpp"

namespace cscrub::engine::gemm {

void multiply_with_amx(const ConstView& a, const ConstView& b, Layout layout, const float* bias, const MutableView& c,
                       bool parallel, PackingBuffers& packing);

// What multiply_with_amx takes from PackingBuffers for such a product (floats, left and right).
PackingSizes amx_packing_sizes(Eigen::Index rows, Eigen::Index depth, Eigen::Index columns, int threads);

}  // namespace cscrub::engine::gemm
