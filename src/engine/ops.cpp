#include "ops.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <unsupported/Eigen/SpecialFunctions>

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

void gelu_erf(MutableRef values) {
  using Chunk = Eigen::Array<float, 16, 1>;
  const int rows = static_cast<int>(values.rows()), width = static_cast<int>(values.cols());
  const float inverse_sqrt_2 = 0.7071067811865476f;
  // Whole fixed-size chunks, the tail zero-padded: every element goes through the same vector erf (Eigen's scalar
  // path for a row's unaligned ends rounds its multiply-adds differently), so an element's value does not depend
  // on where its row lies.
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, 8 * values.cols()))
  for (int r = 0; r < rows; ++r) {
    float* row = values.row(r).data();
    for (int j0 = 0; j0 < width; j0 += Chunk::SizeAtCompileTime) {
      const int count = std::min<int>(Chunk::SizeAtCompileTime, width - j0);
      Chunk x = Chunk::Zero();
      std::copy(row + j0, row + j0 + count, x.data());
      const Chunk y = 0.5f * x * (1.0f + (x * inverse_sqrt_2).erf());
      std::copy(y.data(), y.data() + count, row + j0);
    }
  }
}

void activate(ActivationFunction activation, MutableRef values) {
  switch (activation) {
    case ActivationFunction::gelu_tanh: return gelu_tanh(values);
    case ActivationFunction::gelu_erf: return gelu_erf(values);
  }
}

RotaryTable::RotaryTable(int positions, int dims, double base) : half(dims / 2), cos(positions, dims / 2), sin(positions, dims / 2) {
  for (int i = 0; i < half; ++i) {
    const double inverse_frequency = std::pow(base, -2.0 * i / dims);
    for (int p = 0; p < positions; ++p) {
      const double angle = p * inverse_frequency;
      cos(p, i) = static_cast<float>(std::cos(angle));
      sin(p, i) = static_cast<float>(std::sin(angle));
    }
  }
}

void rotate_row(float* row, int heads, int head_stride, const RotaryTable& table, int position) {
  const int half = table.half;
  const float* cos = table.cos.row(position).data();
  const float* sin = table.sin.row(position).data();
  for (int h = 0; h < heads; ++h) {
    float* x = row + static_cast<ptrdiff_t>(h) * head_stride;
    for (int i = 0; i < half; ++i) {
      const float first = x[i], second = x[i + half];
      x[i] = first * cos[i] - second * sin[i];  // Hugging Face's q * cos + rotate_half(q) * sin, rounded alike
      x[i + half] = second * cos[i] + first * sin[i];
    }
  }
}

void rotate_rows(MutableRef rows, int heads, int head_stride, const RotaryTable& table, int positions_per_sequence,
                 int first_position) {
  const int count = static_cast<int>(rows.rows());
  if (table.half == 0) return;
#pragma omp parallel for schedule(static) if (worth_parallel_elements(count, 2 * heads * table.half))
  for (int r = 0; r < count; ++r)
    rotate_row(rows.row(r).data(), heads, head_stride, table, first_position + r % positions_per_sequence);
}

bool worth_parallel_attention(int sequences, int positions, int d_head) {
  return static_cast<double>(sequences) * positions * positions * d_head >= kParallelProductWork / 4;
}

}  // namespace cscrub::engine::ops
