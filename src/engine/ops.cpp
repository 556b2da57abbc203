#include "ops.hpp"

#include <cassert>
#include <cmath>
#include <limits>

#include "gemm.hpp"

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

gemm::ConstView view(const ConstRef& matrix) {
  return {matrix.data(), matrix.rows(), matrix.cols(), matrix.outerStride()};
}

}  // namespace

void linear(const ConstRef& in, const ConstRef& weight, const RowVector* bias, MutableRef out,
            gemm::PackingBuffers* buffers) {
  assert(in.cols() == weight.rows() && out.rows() == in.rows() && out.cols() == weight.cols());
  gemm::multiply(view(in), view(weight), gemm::Layout::k_by_n, bias != nullptr ? bias->data() : nullptr,
                 {out.data(), out.rows(), out.cols(), out.outerStride()}, worth_parallel_product(in, weight.cols()),
                 buffers);
}

void linear_transposed(const ConstRef& in, const ConstRef& weight_rows, MutableRef out,
                       gemm::PackingBuffers* buffers) {
  assert(in.cols() == weight_rows.cols() && out.rows() == in.rows() && out.cols() == weight_rows.rows());
  gemm::multiply(view(in), view(weight_rows), gemm::Layout::n_by_k, nullptr,
                 {out.data(), out.rows(), out.cols(), out.outerStride()},
                 worth_parallel_product(in, weight_rows.rows()), buffers);
}

void layer_norm_scale(const ConstRef& x, float epsilon, std::span<float> scale) {
  const int rows = static_cast<int>(x.rows());
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, x.cols()))
  for (int r = 0; r < rows; ++r) {
    const float mean = x.row(r).mean();
    const float variance = (x.row(r).array() - mean).square().mean();
    scale[r] = std::sqrt(variance + epsilon);
  }
}

void layer_norm_normalize(const ConstRef& x, std::span<const float> scale, MutableRef normalized) {
  const int rows = static_cast<int>(x.rows());
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, x.cols()))
  for (int r = 0; r < rows; ++r) {
    const float mean = x.row(r).mean();
    normalized.row(r) = (x.row(r).array() - mean) / scale[r];
  }
}

void apply_affine(const ConstRef& normalized, const RowVector& weight, const RowVector& bias, MutableRef out) {
  const int rows = static_cast<int>(normalized.rows());
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, normalized.cols()))
  for (int r = 0; r < rows; ++r) out.row(r) = normalized.row(r).cwiseProduct(weight) + bias;
}

void layer_norm(const ConstRef& x, float epsilon, const RowVector& weight, const RowVector& bias, MutableRef out) {
  const int rows = static_cast<int>(x.rows());
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, x.cols()))
  for (int r = 0; r < rows; ++r) {
    const float mean = x.row(r).mean();
    const float variance = (x.row(r).array() - mean).square().mean();
    const float scale = std::sqrt(variance + epsilon);
    out.row(r) = ((x.row(r).array() - mean) / scale).matrix().cwiseProduct(weight) + bias;
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
#pragma omp parallel for schedule(static) if (worth_parallel_elements(rows, 8 * values.cols()))
  for (int r = 0; r < rows; ++r) {
    auto x = values.row(r).array();
    x = 0.5f * x * (1.0f + (sqrt_2_over_pi * (x + 0.044715f * x.cube())).tanh());
  }
}

bool worth_parallel_attention(int sequences, int positions, int d_head) {
  return static_cast<double>(sequences) * positions * positions * d_head >= kParallelProductWork / 4;
}

void attention_scores(const StridedMap& q, const StridedMap& k, Eigen::Ref<RowMatrix> scores) {
  const int positions = static_cast<int>(q.rows());
  const float inverse_sqrt_d = 1.0f / std::sqrt(static_cast<float>(q.cols()));
  const float masked = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < positions; ++i) {
    for (int j = 0; j <= i; ++j) scores(i, j) = q.row(i).dot(k.row(j)) * inverse_sqrt_d;
    for (int j = i + 1; j < positions; ++j) scores(i, j) = masked;
  }
}

void causal_softmax(Eigen::Ref<RowMatrix> scores_to_pattern) {
  const int positions = static_cast<int>(scores_to_pattern.rows());
  for (int i = 0; i < positions; ++i) {
    auto visible = scores_to_pattern.row(i).head(i + 1).array();
    const float max = visible.maxCoeff();
    visible = (visible - max).exp();
    visible /= visible.sum();
    scores_to_pattern.row(i).tail(positions - i - 1).setZero();
  }
}

void mix_values(const Eigen::Ref<const RowMatrix>& pattern, const StridedMap& v, MutableStridedMap z) {
  const int positions = static_cast<int>(pattern.rows());
  for (int i = 0; i < positions; ++i) {
    z.row(i).setZero();
    for (int j = 0; j <= i; ++j) z.row(i) += pattern(i, j) * v.row(j);
  }
}

}  // namespace cscrub::engine::ops
