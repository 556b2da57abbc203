#include "ops.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "gemm.hpp"
#include "ordered_sum.hpp"

namespace cscrub::engine::ops {
namespace {

// Below this much work (multiply-adds or elements) a parallel region costs more than it saves, and on a
// busy machine threads spin waiting for a descheduled partner: stay on one thread.
constexpr double kParallelProductWork = 1 << 21;
constexpr double kParallelElementWork = 1 << 16;

bool worth_parallel_product(const ConstRef& in, Eigen::Index output_columns) {
  return static_cast<double>(in.rows()) * static_cast<double>(in.cols()) * static_cast<double>(output_columns) >=
         kParallelProductWork;
}

bool worth_parallel_elements(Eigen::Index rows, Eigen::Index columns) {
  return static_cast<double>(rows) * static_cast<double>(columns) >= kParallelElementWork;
}

struct RowStatistics {
  float mean, scale;  // scale = sqrt(variance + epsilon)
};

float row_mean(const float* row, int width) {
  return ordered_sum(width, [row](int j) { return row[j]; }) / static_cast<float>(width);
}

// Row statistics summed in a fixed order (ordered_sum.hpp): the same wherever the row lies in the batch.
RowStatistics row_statistics(const float* row, int width, float epsilon) {
  const float mean = row_mean(row, width);
  const float squares = ordered_sum(width, [row, mean](int j) { return (row[j] - mean) * (row[j] - mean); });
  return {mean, std::sqrt(squares / static_cast<float>(width) + epsilon)};
}

gemm::ConstView view(const ConstRef& matrix) {
  return {matrix.data(), matrix.rows(), matrix.cols(), matrix.outerStride()};
}

}  // namespace

void linear(MatmulKernel kernel, const ConstRef& in, const ConstRef& weight, const RowVector* bias, MutableRef out,
            gemm::PackingBuffers* buffers) {
  assert(in.cols() == weight.rows() && out.rows() == in.rows() && out.cols() == weight.cols());
  if (out.size() == 0) return;
  if (in.cols() == 0) {  // an attention-only model's MLP output: a sum over no hidden units, plus the bias
    if (bias != nullptr) out.rowwise() = *bias;
    else out.setZero();
    return;
  }
  gemm::multiply(kernel, view(in), view(weight), gemm::Layout::k_by_n, bias != nullptr ? bias->data() : nullptr,
                 {out.data(), out.rows(), out.cols(), out.outerStride()}, worth_parallel_product(in, weight.cols()),
                 buffers);
}

void linear_transposed(MatmulKernel kernel, const ConstRef& in, const ConstRef& weight_rows, MutableRef out,
                       gemm::PackingBuffers* buffers) {
  assert(in.cols() == weight_rows.cols() && out.rows() == in.rows() && out.cols() == weight_rows.rows());
  gemm::multiply(kernel, view(in), view(weight_rows), gemm::Layout::n_by_k, nullptr,
                 {out.data(), out.rows(), out.cols(), out.outerStride()},
                 worth_parallel_product(in, weight_rows.rows()), buffers);
}

void layer_norm_scale(const ConstRef& x, float epsilon, std::span<float> scale) {
  const int rows = static_cast<int>(x.rows()), width = static_cast<int>(x.cols());
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, width))
  for (int r = 0; r < rows; ++r) scale[r] = row_statistics(x.row(r).data(), width, epsilon).scale;
}

void layer_norm_normalize(const ConstRef& x, std::span<const float> scale, MutableRef normalized) {
  const int rows = static_cast<int>(x.rows()), width = static_cast<int>(x.cols());
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, width))
  for (int r = 0; r < rows; ++r) {
    const float* in = x.row(r).data();
    const float mean = row_mean(in, width);
    float* out = normalized.row(r).data();
    for (int j = 0; j < width; ++j) out[j] = (in[j] - mean) / scale[r];
  }
}

void apply_affine(const ConstRef& normalized, const RowVector& weight, const RowVector& bias, MutableRef out) {
  const int rows = static_cast<int>(normalized.rows()), width = static_cast<int>(normalized.cols());
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, width))
  for (int r = 0; r < rows; ++r) {
    const float* in = normalized.row(r).data();
    float* result = out.row(r).data();
    for (int j = 0; j < width; ++j) result[j] = in[j] * weight[j] + bias[j];
  }
}

void layer_norm(const ConstRef& x, float epsilon, const RowVector& weight, const RowVector& bias, MutableRef out) {
  const int rows = static_cast<int>(x.rows()), width = static_cast<int>(x.cols());
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, width))
  for (int r = 0; r < rows; ++r) {
    const float* in = x.row(r).data();
    const RowStatistics statistics = row_statistics(in, width, epsilon);
    float* result = out.row(r).data();
    // The staged functions' arithmetic: normalise, round, then scale and shift.
    for (int j = 0; j < width; ++j) {
      const float normalized = (in[j] - statistics.mean) / statistics.scale;
      result[j] = normalized * weight[j] + bias[j];
    }
  }
}

void add_in_place(MutableRef sum, const ConstRef& addend) {
  assert(sum.rows() == addend.rows() && sum.cols() == addend.cols());
  const int rows = static_cast<int>(sum.rows());
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, sum.cols()))
  for (int r = 0; r < rows; ++r) sum.row(r) += addend.row(r);
}

void gelu_tanh(MutableRef values) {
  const int rows = static_cast<int>(values.rows());
  const float sqrt_2_over_pi = 0.7978845608028654f;
  // Element-wise: Eigen's float tanh is the same rational approximation for vectors and for a row's
  // unaligned ends, so an element's value does not depend on where its row lies (tested).
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, 8 * values.cols()))
  for (int r = 0; r < rows; ++r) {
    auto x = values.row(r).array();
    x = 0.5f * x * (1.0f + (sqrt_2_over_pi * (x + 0.044715f * x.cube())).tanh());
  }
}

bool worth_parallel_attention(int sequences, int positions, int d_head) {
  return static_cast<double>(sequences) * positions * positions * d_head >= kParallelProductWork / 4;
}

}  // namespace cscrub::engine::ops
