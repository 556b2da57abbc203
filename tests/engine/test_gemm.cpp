// The packed matrix product, in each kernel this machine runs, against a double-precision reference, on
// shapes that exercise every edge: partial row and column tiles, several k-blocks (passes) with a remainder,
// both layouts of B, strided views, and both ways of sharing the work (threads take rows of C when there
// are many, columns otherwise).
#include <omp.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <tuple>
#include <utility>

#include "../../src/engine/gemm.hpp"
#include "cscrub/engine/tensor.hpp"
#include "matmul_kernels.hpp"

using cscrub::engine::MatmulKernel;
using cscrub::engine::RowMatrix;
namespace gemm = cscrub::engine::gemm;

namespace {

using cscrub::test::matmul_kernels_here;

RowMatrix random_matrix(Eigen::Index rows, Eigen::Index columns, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  RowMatrix m(rows, columns);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = uniform(generator);
  return m;
}

gemm::ConstView view(const RowMatrix& m) { return {m.data(), m.rows(), m.cols(), m.cols()}; }
gemm::MutableView view(RowMatrix& m) { return {m.data(), m.rows(), m.cols(), m.cols()}; }

// a · b (+ bias) in double, b given as [K, N].
RowMatrix reference_product(const RowMatrix& a, const RowMatrix& b, const std::vector<float>* bias) {
  Eigen::MatrixXd product = a.cast<double>() * b.cast<double>();
  if (bias != nullptr)
    for (Eigen::Index j = 0; j < product.cols(); ++j) product.col(j).array() += (*bias)[static_cast<size_t>(j)];
  return product.cast<float>();
}

}  // namespace

TEST_CASE("the packed product matches a double-precision product on edge shapes", "[engine][gemm]") {
  const MatmulKernel kernel = GENERATE(from_range(matmul_kernels_here()));
  INFO(cscrub::engine::to_string(kernel));
  struct Shape {
    int rows, depth, columns;
  };
  for (const Shape shape : {Shape{1, 1, 1}, Shape{5, 7, 3}, Shape{13, 300, 33}, Shape{24, 256, 64},
                            Shape{37, 529, 95}, Shape{64, 48, 130},
                            Shape{100, 2500, 70}, Shape{150, 1100, 45}, Shape{20, 1500, 77}, Shape{128, 40, 50},
                            Shape{129, 64, 25}}) {
    const RowMatrix a = random_matrix(shape.rows, shape.depth, 1);
    const RowMatrix b = random_matrix(shape.depth, shape.columns, 2);
    const RowMatrix b_transposed = b.transpose();
    std::vector<float> bias(static_cast<size_t>(shape.columns));
    for (size_t j = 0; j < bias.size(); ++j) bias[j] = 0.25f * static_cast<float>(j % 7) - 0.5f;
    for (const bool with_bias : {false, true}) {
      const RowMatrix expected = reference_product(a, b, with_bias ? &bias : nullptr);
      RowMatrix from_k_by_n(shape.rows, shape.columns), from_n_by_k(shape.rows, shape.columns);
      gemm::multiply(kernel, view(a), view(b), gemm::Layout::k_by_n, with_bias ? bias.data() : nullptr,
                     view(from_k_by_n), true);
      gemm::multiply(kernel, view(a), view(b_transposed), gemm::Layout::n_by_k, with_bias ? bias.data() : nullptr,
                     view(from_n_by_k), true);
      INFO(shape.rows << " x " << shape.depth << " x " << shape.columns << (with_bias ? " with bias" : ""));
      const double tolerance = 1e-5 * std::sqrt(static_cast<double>(shape.depth));
      CHECK((from_k_by_n - expected).cwiseAbs().maxCoeff() <= tolerance);
      CHECK((from_n_by_k - expected).cwiseAbs().maxCoeff() <= tolerance);
      // Same arithmetic whichever way B is stored (fp32-fma runs [N, K] with few rows transposed, B's rows in
      // place; amx-split-bf16 packs both into the same tiles): the same bits.
      CHECK((from_k_by_n.array() == from_n_by_k.array()).all());
    }
  }
}

TEST_CASE("the packed product reads and writes strided views without touching outside them", "[engine][gemm]") {
  const MatmulKernel kernel = GENERATE(from_range(matmul_kernels_here()));
  INFO(cscrub::engine::to_string(kernel));
  const RowMatrix a_storage = random_matrix(20, 90, 3), b_storage = random_matrix(70, 60, 4);
  RowMatrix c_storage = RowMatrix::Constant(20, 50, 7.0f);
  // a = columns 5..74 of rows 0..16; b = rows 0..69 x columns 10..44; c = rows 2..18 x columns 3..37.
  const gemm::ConstView a{a_storage.data() + 5, 17, 70, a_storage.cols()};
  const gemm::ConstView b{b_storage.data() + 10, 70, 35, b_storage.cols()};
  const gemm::MutableView c{c_storage.data() + 2 * c_storage.cols() + 3, 17, 35, c_storage.cols()};
  gemm::multiply(kernel, a, b, gemm::Layout::k_by_n, nullptr, c, false);
  const RowMatrix expected = reference_product(a_storage.block(0, 5, 17, 70), b_storage.block(0, 10, 70, 35), nullptr);
  CHECK((c_storage.block(2, 3, 17, 35) - expected).cwiseAbs().maxCoeff() <= 1e-4);
  RowMatrix untouched = c_storage;
  untouched.block(2, 3, 17, 35).setConstant(7.0f);
  CHECK((untouched.array() == 7.0f).all());
}

TEST_CASE("each element of the packed product is bit-identical whatever the rows around it and the threads",
          "[engine][gemm]") {
  const MatmulKernel kernel = GENERATE(from_range(matmul_kernels_here()));
  INFO(cscrub::engine::to_string(kernel));
  // 50 rows: the threads split the columns; 150 rows x depth 2,100: they split the rows, over three k-blocks
  // (fp32-fma) or three passes (amx-split-bf16).
  for (const auto& [rows, depth, columns] : {std::tuple{50, 700, 97}, std::tuple{150, 2100, 70}}) {
    INFO(rows << " x " << depth << " x " << columns);
    const RowMatrix a = random_matrix(rows, depth, 5), b = random_matrix(depth, columns, 6);
    RowMatrix whole(rows, columns);
    gemm::multiply(kernel, view(a), view(b), gemm::Layout::k_by_n, nullptr, view(whole), false);
    // Rows 17..39 alone: they fall on other positions within the row tiles.
    const RowMatrix part_a = a.middleRows(17, 23);
    RowMatrix part(23, columns);
    gemm::multiply(kernel, view(part_a), view(b), gemm::Layout::k_by_n, nullptr, view(part), false);
    CHECK((part.array() == whole.middleRows(17, 23).array()).all());
    for (const int threads : {1, 2, 3}) {
      omp_set_num_threads(threads);
      RowMatrix threaded(rows, columns);
      gemm::multiply(kernel, view(a), view(b), gemm::Layout::k_by_n, nullptr, view(threaded), true);
      CHECK((threaded.array() == whole.array()).all());
    }
    omp_set_num_threads(omp_get_num_procs());
  }
}

TEST_CASE("a product over zero depth is the bias alone", "[engine][gemm]") {
  const MatmulKernel kernel = GENERATE(from_range(matmul_kernels_here()));
  const RowMatrix a(3, 0), b(0, 4);
  RowMatrix c = RowMatrix::Constant(3, 4, 9.0f);
  const std::vector<float> bias{1, 2, 3, 4};
  gemm::multiply(kernel, {a.data(), 3, 0, 0}, {b.data(), 0, 4, 4}, gemm::Layout::k_by_n, bias.data(), view(c), false);
  for (int r = 0; r < 3; ++r)
    for (int j = 0; j < 4; ++j) CHECK(c(r, j) == bias[static_cast<size_t>(j)]);
}

TEST_CASE("amx-split-bf16 is as accurate as fp32-fma against double precision", "[engine][gemm][amx]") {
  if (!cscrub::engine::amx_usable()) {
    WARN("no AMX on this machine: skipped");
    return;
  }
  // Values spread over many binades (so that every one of the three bf16 parts matters), GPT-2's depths.
  std::mt19937 generator(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto spread = [&](Eigen::Index rows, Eigen::Index columns) {
    RowMatrix m(rows, columns);
    for (Eigen::Index i = 0; i < m.size(); ++i)
      m.data()[i] = normal(generator) * std::exp2(std::round(4 * normal(generator)));
    return m;
  };
  for (const auto& [rows, depth, columns] : {std::tuple{64, 768, 200}, std::tuple{96, 3072, 64}}) {
    const RowMatrix a = spread(rows, depth), b = spread(depth, columns);
    const Eigen::MatrixXd exact = a.cast<double>() * b.cast<double>();
    double worst[2] = {0, 0};
    for (const MatmulKernel kernel : {MatmulKernel::fp32_fma, MatmulKernel::amx_split_bf16}) {
      RowMatrix c(rows, columns);
      gemm::multiply(kernel, view(a), view(b), gemm::Layout::k_by_n, nullptr, view(c), true);
      // Error relative to the sum of the products' magnitudes: the scale FP32 rounding works at.
      const Eigen::MatrixXd scale = a.cast<double>().cwiseAbs() * b.cast<double>().cwiseAbs();
      worst[kernel == MatmulKernel::amx_split_bf16] =
          ((c.cast<double>() - exact).cwiseAbs().cwiseQuotient(scale)).maxCoeff();
    }
    INFO(rows << " x " << depth << " x " << columns << ": worst relative error fp32-fma " << worst[0]
              << ", amx-split-bf16 " << worst[1]);
    CHECK(worst[1] <= worst[0]);
  }
}

// An infinity meets the other operand's zero lower parts (inf x 0): where FP32 gives +-inf, amx-split-bf16
// gives NaN. Either way the result is not finite, which is what the engine's checks look for.
TEST_CASE("amx-split-bf16 keeps non-finite values non-finite and the largest floats finite", "[engine][gemm][amx]") {
  if (!cscrub::engine::amx_usable()) {
    WARN("no AMX on this machine: skipped");
    return;
  }
  RowMatrix a = RowMatrix::Constant(3, 40, 0.5f);
  a(0, 7) = std::numeric_limits<float>::infinity();
  a(1, 7) = std::numeric_limits<float>::quiet_NaN();
  a(2, 7) = std::numeric_limits<float>::max();  // truncation, not rounding, keeps it finite
  const RowMatrix b = RowMatrix::Constant(40, 5, 0.25f);
  for (const auto& [kernel, name] :
       {std::pair{MatmulKernel::fp32_fma, "fp32"}, std::pair{MatmulKernel::amx_split_bf16, "amx"}}) {
    INFO(name);
    RowMatrix c(3, 5);
    gemm::multiply(kernel, view(std::as_const(a)), view(b), gemm::Layout::k_by_n, nullptr, view(c), false);
    CHECK(!c.row(0).array().isFinite().any());
    CHECK(c.row(1).array().isNaN().all());
    CHECK((c.row(2).array() == std::numeric_limits<float>::max() * 0.25f + 39 * 0.125f).all());
  }
}
