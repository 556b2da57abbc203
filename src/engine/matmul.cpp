#include "cscrub/engine/matmul.hpp"

#if defined(CSCRUB_WITH_AMX)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace cscrub::engine {
namespace {

#if defined(CSCRUB_WITH_AMX)
bool has_bit(unsigned word, int bit) { return (word >> bit) & 1u; }

bool detect_amx() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(1, 0, &eax, &ebx, &ecx, &edx) || !has_bit(ecx, 27)) return false;  // OSXSAVE
  unsigned xcr0_low = 0, xcr0_high = 0;
  asm volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  // The OS saves the SSE, AVX and AVX-512 (opmask, upper ZMM halves, ZMM16-31) state.
  if ((xcr0_low & 0xE6u) != 0xE6u) return false;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  // AVX512F, AVX512DQ, AMX-BF16, AMX-TILE
  if (!has_bit(ebx, 16) || !has_bit(ebx, 17) || !has_bit(edx, 22) || !has_bit(edx, 24)) return false;
  if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) || !has_bit(eax, 5)) return false;  // AVX512_BF16
  // Linux (5.16+) hands out the 8 KiB tile data state only on request; without it the first tile
  // instruction kills the process.
  constexpr long kRequestPermission = 0x1023;  // ARCH_REQ_XCOMP_PERM
  constexpr long kTileData = 18;               // XFEATURE_XTILEDATA
  return syscall(SYS_arch_prctl, kRequestPermission, kTileData) == 0;
}
#endif

}  // namespace

std::string_view to_string(MatmulKernel kernel) {
  switch (kernel) {
    case MatmulKernel::fp32_fma:
      return "fp32-fma";
    case MatmulKernel::amx_split_bf16:
      return "amx-split-bf16";
  }
  return "unknown";
}

std::optional<MatmulKernel> matmul_kernel_named(std::string_view name) {
  for (const MatmulKernel kernel : {MatmulKernel::fp32_fma, MatmulKernel::amx_split_bf16})
    if (name == to_string(kernel)) return kernel;
  return std::nullopt;
}

bool amx_usable() {
#if defined(CSCRUB_WITH_AMX)
  static const bool usable = detect_amx();
  return usable;
#else
  return false;
#endif
}

MatmulKernel fastest_matmul_kernel() { return amx_usable() ? MatmulKernel::amx_split_bf16 : MatmulKernel::fp32_fma; }

}  // namespace cscrub::engine
