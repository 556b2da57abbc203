// Products of matrices with long rows: c(i, j) = Σ_k a(i, k) b(j, k), for a and b of tens to hundreds of rows
// and thousands to millions of columns, e.g. EAP's contraction of activation differences with gradients over
// every position and dimension of a prompt. Rows may lie anywhere (any stride between them).
//
// Each c(i, j) is summed in one fixed order whatever the strides, the other rows or the thread count: k in
// kOrderedSumLanes-wide running sums (lane l takes k = l, l + lanes, ... in increasing order, each term a fused
// multiply-add), the lanes then added in ordered_sum's fixed tree. Single-threaded: callers split the work.
#pragma once
#include <Eigen/Core>
#include <vector>

#include "cscrub/engine/tensor.hpp"

namespace cscrub::engine {

using ConstRowsMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;

// The running sums between chunks of k (M x N x kOrderedSumLanes floats): a caller making many products keeps
// one, so that each product does not fault in fresh pages.
using RowProductsScratch = std::vector<float, Eigen::aligned_allocator<float>>;

// c = a · bᵀ: a [M, K], b [N, K], c [M, N] (overwritten). Throws nothing; the shapes must agree (asserted).
void row_products(const ConstRowsMap& a, const ConstRowsMap& b, Eigen::Ref<RowMatrix> c, RowProductsScratch& scratch);

}  // namespace cscrub::engine
