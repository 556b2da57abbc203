#include "gemm_amx.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "amx_kernels.hpp"

namespace cscrub::engine::gemm {
namespace {

using amx::kBlockFloats;
using amx::kBlockRows;
using amx::kPanelColumns;
using amx::kStepDepth;
using amx::kStepValues;
using Eigen::Index;

// Steps summed in the tiles per pass (depth 1,024): GPT-2 small's d_model-deep products take one pass.
constexpr Index kPassSteps = 32;
// Packed A per thread and chunk: 1 MiB stays in L2 (2 MiB per core) beside a panel of B.
constexpr size_t kChunkBytes = size_t{1} << 20;
// Below this many blocks of rows per thread, the threads split the panels of B instead of the rows.
constexpr Index kBlocksPerThread = 2;

Index blocks_of(Index count, Index size) { return (count + size - 1) / size; }

// How a product is cut. Rows split: the threads pack all of B together once (each panel is met by every
// thread's chunks, and packing costs as much as several passes of the tiles over it), then each thread packs
// chunks of its own rows of A. Panels split: the threads pack A together, then each packs the panels it
// multiplies, one at a time.
struct Plan {
  Plan(Index rows, Index depth, Index columns, int thread_count)
      : row_blocks(blocks_of(rows, kBlockRows)),
        panels(blocks_of(columns, kPanelColumns)),
        steps(blocks_of(depth, kStepDepth)),
        passes(blocks_of(steps, kPassSteps)),
        pass_steps(std::min(steps, kPassSteps)),
        threads(thread_count),
        split_rows(row_blocks >= kBlocksPerThread * thread_count),
        chunk_blocks(split_rows ? std::clamp<Index>(static_cast<Index>(kChunkBytes / (pass_steps * kStepValues * 2)), 1,
                                                    blocks_of(row_blocks, thread_count))
                                : row_blocks) {}

  // Packed values (bf16) of one block of A, or of one panel of B, over a pass.
  size_t pass_values() const { return static_cast<size_t>(pass_steps) * kStepValues; }
  // Blocks of A packed at a time: a chunk per thread, or all of them.
  size_t packed_a_blocks() const { return static_cast<size_t>(split_rows ? threads * chunk_blocks : row_blocks); }
  // The blocks of C whose sums wait between passes: each thread's chunk, or all of C.
  size_t accumulator_floats() const { return passes == 1 ? 0 : packed_a_blocks() * panels * kBlockFloats; }
  // All of B, over every step; or one panel over a pass per thread.
  size_t packed_b_values() const {
    return split_rows ? static_cast<size_t>(panels * steps) * kStepValues
                      : static_cast<size_t>(threads) * pass_values();
  }
  // Left: packed A, then the accumulators. Right: packed B, then one block of C per thread. Each part starts
  // on a cache line (PackingBuffers' are aligned, every part is a multiple of 64 bytes), as tile rows must.
  PackingSizes sizes() const {
    return {packed_a_blocks() * pass_values() / 2 + accumulator_floats(),
            packed_b_values() / 2 + static_cast<size_t>(threads) * kBlockFloats};
  }

  Index row_blocks, panels, steps, passes, pass_steps;
  int threads;
  bool split_rows;
  Index chunk_blocks;
};

// The depth range of one pass: [k0, k0 + depth), in `steps` steps from `first_step`.
struct Pass {
  Index first_step, k0;
  int depth, steps;
  bool first, last;
};

// One product's operands and the pieces of them that are packed and stored.
struct Operands {
  const ConstView& a;
  const ConstView& b;
  bool b_transposed;
  const float* bias;
  const MutableView& c;

  Pass pass(const Plan& plan, Index index) const {
    const Index first_step = index * kPassSteps, steps = std::min(kPassSteps, plan.steps - first_step);
    const Index k0 = first_step * kStepDepth;
    return {.first_step = first_step,
            .k0 = k0,
            .depth = static_cast<int>(std::min(a.cols - k0, steps * kStepDepth)),
            .steps = static_cast<int>(steps),
            .first = index == 0,
            .last = index + 1 == plan.passes};
  }
  int rows_in_block(Index block) const {
    return static_cast<int>(std::min<Index>(kBlockRows, c.rows - block * kBlockRows));
  }
  int columns_in_panel(Index panel) const {
    return static_cast<int>(std::min<Index>(kPanelColumns, c.cols - panel * kPanelColumns));
  }
  void pack_a(Index block, const Pass& pass, uint16_t* packed) const {
    amx::pack_a_block(a.data + block * kBlockRows * a.stride + pass.k0, a.stride, rows_in_block(block), pass.depth,
                      pass.steps, packed);
  }
  // Panels [first, end) over one pass's depth, each `panel_values` apart.
  void pack_b(Index first, Index end, Index k0, int depth, int steps, size_t panel_values, uint16_t* packed) const {
    const Index column = first * kPanelColumns;
    const float* origin = b_transposed ? b.data + column * b.stride + k0 : b.data + k0 * b.stride + column;
    amx::pack_b_panels(origin, b.stride, b_transposed, static_cast<int>(c.cols - column), static_cast<int>(end - first),
                       depth, steps, panel_values, packed);
  }
  void store(const float* block_sums, Index block, Index panel) const {
    const Index row = block * kBlockRows, column = panel * kPanelColumns;
    amx::store_block(block_sums, rows_in_block(block), columns_in_panel(panel), bias ? bias + column : nullptr,
                     c.data + row * c.stride + column, c.stride);
  }
};

}  // namespace

PackingSizes amx_packing_sizes(Index rows, Index depth, Index columns, int threads) {
  return Plan(rows, depth, columns, threads).sizes();
}

void multiply_with_amx(const ConstView& a, const ConstView& b, Layout layout, const float* bias, const MutableView& c,
                       bool parallel, PackingBuffers& packing) {
  const Plan plan(c.rows, a.cols, c.cols, parallel ? omp_get_max_threads() : 1);
  const PackingSizes sizes = plan.sizes();
  float* const left = packing.left(sizes.left);
  float* const right = packing.right(sizes.right);
  const size_t pass_values = plan.pass_values();
  auto* const packed_a = reinterpret_cast<uint16_t*>(left);
  float* const accumulators = left + plan.packed_a_blocks() * pass_values / 2;
  auto* const packed_b = reinterpret_cast<uint16_t*>(right);
  float* const block_scratch = right + plan.packed_b_values() / 2;
  const Operands operands{a, b, layout == Layout::n_by_k, bias, c};

#pragma omp parallel num_threads(plan.threads) if (plan.threads > 1)
  {
    amx::configure_tiles();
    const int thread = omp_get_thread_num(), team = omp_get_num_threads();
    float* const my_block = block_scratch + static_cast<size_t>(thread) * kBlockFloats;
    // Multiplies one pass of a panel of B into blocks [first, end) of A, packed from `first_packed_a` on,
    // keeping the sums between passes in `block_accumulators` (one block per row block and panel).
    auto multiply_panel = [&](Index panel, const Pass& pass, const uint16_t* panel_b, Index first, Index end,
                              const uint16_t* first_packed_a, float* block_accumulators) {
      for (Index block = first; block < end; ++block) {
        float* sums =
            plan.passes == 1 ? my_block : block_accumulators + ((block - first) * plan.panels + panel) * kBlockFloats;
        amx::multiply_block(first_packed_a + (block - first) * pass_values, panel_b, pass.steps, sums, !pass.first);
        if (pass.last) operands.store(sums, block, panel);
      }
    };

    if (plan.split_rows) {
      const size_t panel_values = static_cast<size_t>(plan.steps) * kStepValues;
      const Index first_panel = plan.panels * thread / team, end_panel = plan.panels * (thread + 1) / team;
      operands.pack_b(first_panel, end_panel, 0, static_cast<int>(a.cols), static_cast<int>(plan.steps), panel_values,
                      packed_b + first_panel * panel_values);
#pragma omp barrier
      const Index first = plan.row_blocks * thread / team, end = plan.row_blocks * (thread + 1) / team;
      uint16_t* const my_packed_a = packed_a + static_cast<size_t>(thread) * plan.chunk_blocks * pass_values;
      float* const my_accumulators =
          accumulators + static_cast<size_t>(thread) * plan.chunk_blocks * plan.panels * kBlockFloats;
      for (Index chunk = first; chunk < end; chunk += plan.chunk_blocks) {
        const Index chunk_end = std::min(end, chunk + plan.chunk_blocks);
        for (Index index = 0; index < plan.passes; ++index) {
          const Pass pass = operands.pass(plan, index);
          for (Index block = chunk; block < chunk_end; ++block)
            operands.pack_a(block, pass, my_packed_a + (block - chunk) * pass_values);
          for (Index panel = 0; panel < plan.panels; ++panel)
            multiply_panel(panel, pass, packed_b + (panel * plan.steps + pass.first_step) * kStepValues, chunk,
                           chunk_end, my_packed_a, my_accumulators);
        }
      }
    } else {
      uint16_t* const my_panel = packed_b + static_cast<size_t>(thread) * pass_values;
      for (Index index = 0; index < plan.passes; ++index) {
        const Pass pass = operands.pass(plan, index);
#pragma omp for schedule(static)
        for (Index block = 0; block < plan.row_blocks; ++block)
          operands.pack_a(block, pass, packed_a + block * pass_values);
#pragma omp for schedule(static)
        for (Index panel = 0; panel < plan.panels; ++panel) {
          operands.pack_b(panel, panel + 1, pass.k0, pass.depth, pass.steps, pass_values, my_panel);
          multiply_panel(panel, pass, my_panel, 0, plan.row_blocks, packed_a, accumulators);
        }
      }
    }
    amx::release_tiles();
  }
}

}  // namespace cscrub::engine::gemm
