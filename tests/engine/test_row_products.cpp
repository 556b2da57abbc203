// Products of long rows (EAP's contraction): against double precision, and each element the same bits whatever
// the other rows and the strides.
#include <catch2/catch.hpp>
#include <random>

#include "cscrub/engine/row_products.hpp"

using namespace cscrub::engine;

namespace {

RowMatrix random_matrix(Eigen::Index rows, Eigen::Index columns, unsigned seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  RowMatrix matrix(rows, columns);
  for (Eigen::Index i = 0; i < matrix.size(); ++i) matrix.data()[i] = normal(generator);
  return matrix;
}

ConstRowsMap rows_of(const RowMatrix& matrix, Eigen::Index first, Eigen::Index count, Eigen::Index columns) {
  return ConstRowsMap(matrix.data() + first * matrix.cols(), count, columns, Eigen::OuterStride<>(matrix.cols()));
}

}  // namespace

TEST_CASE("row products match double precision for every shape of tile and tail", "[row_products]") {
  for (const auto& [m, n, k] : {std::tuple{1, 1, 1}, {5, 7, 15}, {4, 6, 512}, {9, 13, 1000}, {30, 37, 3 * 512 + 17},
                                {3, 2, 16}, {2, 11, 4097}}) {
    INFO(m << " x " << n << " rows of " << k);
    // Rows strided: the matrices are wider than the k columns used.
    const RowMatrix a = random_matrix(m, k + 3, 1), b = random_matrix(n, k + 5, 2);
    RowMatrix c(m, n);
    RowProductsScratch scratch;
    row_products(rows_of(a, 0, m, k), rows_of(b, 0, n, k), c, scratch);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double exact = 0;
        for (int t = 0; t < k; ++t) exact += static_cast<double>(a(i, t)) * b(j, t);
        CHECK(c(i, j) == Approx(exact).margin(1e-5 * std::sqrt(static_cast<double>(k))));
      }
  }
}

TEST_CASE("a row product does not depend on the other rows or where the rows lie", "[row_products][determinism]") {
  const int k = 2 * 512 + 40;
  const RowMatrix a = random_matrix(11, k, 3), b = random_matrix(8, k, 4);
  RowMatrix all(11, 8), part(3, 2);
  RowProductsScratch scratch;
  row_products(rows_of(a, 0, 11, k), rows_of(b, 0, 8, k), all, scratch);
  row_products(rows_of(a, 5, 3, k), rows_of(b, 6, 2, k), part, scratch);
  CHECK(part == all.block(5, 6, 3, 2));
  const RowMatrix a_copy = a.middleRows(5, 3);  // other addresses, another stride
  RowMatrix moved(3, 2);
  row_products(rows_of(a_copy, 0, 3, k), rows_of(b, 6, 2, k), moved, scratch);
  CHECK(moved == part);
}
