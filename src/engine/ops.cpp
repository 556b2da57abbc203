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

void add(const ConstRef& a, const ConstRef& b, MutableRef sum) {
  assert(a.rows() == b.rows() && a.cols() == b.cols() && sum.rows() == a.rows() && sum.cols() == a.cols());
  const int rows = static_cast<int>(sum.rows());
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, sum.cols()))
  for (int r = 0; r < rows; ++r) sum.row(r) = a.row(r) + b.row(r);
}

void gelu_tanh(MutableRef values) { gelu_tanh(values, values); }

void gelu_tanh(const ConstRef& in, MutableRef out) {
  assert(in.rows() == out.rows() && in.cols() == out.cols());
  const int rows = static_cast<int>(in.rows());
  const float sqrt_2_over_pi = 0.7978845608028654f;
  // Element-wise: Eigen's float tanh is the same rational approximation for vectors and for a row's
  // unaligned ends, so an element's value does not depend on where its row lies (tested).
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, 8 * in.cols()))
  for (int r = 0; r < rows; ++r) {
    const auto x = in.row(r).array();
    out.row(r).array() = 0.5f * x * (1.0f + (sqrt_2_over_pi * (x + 0.044715f * x.cube())).tanh());
  }
}

void gelu_tanh_backward(const ConstRef& pre, const ConstRef& d_out, MutableRef d_in) {
  assert(pre.rows() == d_out.rows() && pre.cols() == d_out.cols() && d_in.rows() == pre.rows());
  const int rows = static_cast<int>(pre.rows());
  const float sqrt_2_over_pi = 0.7978845608028654f;
  // GELU(x) = x/2 (1 + tanh(u)), u = c (x + 0.044715 x^3):
  // GELU'(x) = (1 + tanh(u)) / 2 + x/2 (1 - tanh(u)^2) c (1 + 3 * 0.044715 x^2).
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, 8 * pre.cols()))
  for (int r = 0; r < rows; ++r) {
    const auto x = pre.row(r).array();
    const Eigen::Array<float, 1, Eigen::Dynamic> tanh_u = (sqrt_2_over_pi * (x + 0.044715f * x.cube())).tanh();
    d_in.row(r).array() = d_out.row(r).array() *
                          (0.5f * (1.0f + tanh_u) +
                           0.5f * x * (1.0f - tanh_u.square()) * sqrt_2_over_pi * (1.0f + 3.0f * 0.044715f * x.square()));
  }
}

void layer_norm_backward(const ConstRef& normalized, std::span<const float> scale, const RowVector& weight,
                         const ConstRef& d_out, MutableRef d_in) {
  assert(normalized.rows() == d_out.rows() && normalized.cols() == d_out.cols() && d_in.rows() == d_out.rows());
  const int rows = static_cast<int>(d_out.rows()), width = static_cast<int>(d_out.cols());
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, 4 * width))
  for (int r = 0; r < rows; ++r) {
    const float* x_hat = normalized.row(r).data();
    const float* dy = d_out.row(r).data();
    const float* w = weight.data();
    const float mean_g = ordered_sum(width, [&](int j) { return dy[j] * w[j]; }) / static_cast<float>(width);
    const float mean_g_x = ordered_sum(width, [&](int j) { return dy[j] * w[j] * x_hat[j]; }) / static_cast<float>(width);
    const float inverse_scale = 1.0f / scale[static_cast<size_t>(r)];
    float* dx = d_in.row(r).data();
    for (int j = 0; j < width; ++j) dx[j] = (dy[j] * w[j] - mean_g - x_hat[j] * mean_g_x) * inverse_scale;
  }
}

bool worth_parallel_elements(Eigen::Index rows, Eigen::Index columns) {
  return static_cast<double>(rows) * static_cast<double>(columns) >= kParallelElementWork;
}

namespace {

// out = f(in) (and a second input) over whole fixed-size chunks, the tail zero-padded: every element goes through
// the same vector code (Eigen's scalar path for a row's unaligned ends rounds erf's and exp's multiply-adds
// differently), so an element's value does not depend on where its row lies. `out` may be `in`.
using Chunk = Eigen::Array<float, 16, 1>;
template <typename F>
void chunked(const ConstRef& in, const ConstRef* second, MutableRef out, F&& f) {
  assert(in.rows() == out.rows() && in.cols() == out.cols());
  const int rows = static_cast<int>(in.rows()), width = static_cast<int>(in.cols());
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, 8 * width))
  for (int r = 0; r < rows; ++r) {
    const float* x_row = in.row(r).data();
    const float* y_row = second != nullptr ? second->row(r).data() : nullptr;
    float* out_row = out.row(r).data();
    for (int j0 = 0; j0 < width; j0 += Chunk::SizeAtCompileTime) {
      const int count = std::min<int>(Chunk::SizeAtCompileTime, width - j0);
      Chunk x = Chunk::Zero(), y = Chunk::Zero();
      std::copy(x_row + j0, x_row + j0 + count, x.data());
      if (y_row != nullptr) std::copy(y_row + j0, y_row + j0 + count, y.data());
      const Chunk result = f(x, y);
      std::copy(result.data(), result.data() + count, out_row + j0);
    }
  }
}

constexpr float kInverseSqrt2 = 0.7071067811865476f;
constexpr float kInverseSqrt2Pi = 0.3989422804014327f;

}  // namespace

void gelu_erf(MutableRef values) { gelu_erf(values, values); }

void gelu_erf(const ConstRef& in, MutableRef out) {
  chunked(in, nullptr, out, [](const Chunk& x, const Chunk&) -> Chunk { return 0.5f * x * (1.0f + (x * kInverseSqrt2).erf()); });
}

void gelu_erf_backward(const ConstRef& pre, const ConstRef& d_out, MutableRef d_in) {
  // GELU(x) = x Φ(x): GELU'(x) = Φ(x) + x φ(x), Φ(x) = (1 + erf(x / sqrt 2)) / 2, φ(x) = exp(-x²/2) / sqrt(2π).
  chunked(pre, &d_out, d_in, [](const Chunk& x, const Chunk& g) -> Chunk {
    return g * (0.5f * (1.0f + (x * kInverseSqrt2).erf()) + x * kInverseSqrt2Pi * (-0.5f * x.square()).exp());
  });
}

void activate(ActivationFunction activation, MutableRef values) { activate(activation, values, values); }

void activate(ActivationFunction activation, const ConstRef& in, MutableRef out) {
  switch (activation) {
    case ActivationFunction::gelu_tanh: return gelu_tanh(in, out);
    case ActivationFunction::gelu_erf: return gelu_erf(in, out);
  }
}

void activate_backward(ActivationFunction activation, const ConstRef& pre, const ConstRef& d_out, MutableRef d_in) {
  switch (activation) {
    case ActivationFunction::gelu_tanh: return gelu_tanh_backward(pre, d_out, d_in);
    case ActivationFunction::gelu_erf: return gelu_erf_backward(pre, d_out, d_in);
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

void rotate_rows_back(MutableRef rows, int heads, int head_stride, const RotaryTable& table, int positions_per_sequence) {
  const int count = static_cast<int>(rows.rows()), half = table.half;
  if (half == 0) return;
#pragma omp parallel for schedule(static) if (worth_parallel_elements(count, 2 * heads * half))
  for (int r = 0; r < count; ++r) {
    const int position = r % positions_per_sequence;
    const float* cos = table.cos.row(position).data();
    const float* sin = table.sin.row(position).data();
    for (int h = 0; h < heads; ++h) {
      float* g = rows.row(r).data() + static_cast<ptrdiff_t>(h) * head_stride;
      for (int i = 0; i < half; ++i) {
        const float first = g[i], second = g[i + half];
        g[i] = first * cos[i] + second * sin[i];
        g[i + half] = second * cos[i] - first * sin[i];
      }
    }
  }
}

bool worth_parallel_attention(int sequences, int positions, int d_head) {
  return static_cast<double>(sequences) * positions * positions * d_head >= kParallelProductWork / 4;
}

}  // namespace cscrub::engine::ops
