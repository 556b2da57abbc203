// The matrix-product kernels this machine runs, for tests that check each one.
#pragma once
#include <catch2/catch.hpp>
#include <vector>

#include "cscrub/engine/matmul.hpp"

namespace cscrub::test {

// fp32-fma, and amx-split-bf16 where this machine has AMX (a warning says when it does not: then only the
// FP32 kernel is tested).
inline std::vector<engine::MatmulKernel> matmul_kernels_here() {
  if (engine::amx_usable()) return {engine::MatmulKernel::fp32_fma, engine::MatmulKernel::amx_split_bf16};
  WARN("no AMX on this machine: the amx-split-bf16 kernel is not tested");
  return {engine::MatmulKernel::fp32_fma};
}

}  // namespace cscrub::test
