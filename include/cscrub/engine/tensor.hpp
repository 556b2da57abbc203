// Eigen types the engine computes with. Activations are row-major: one row per token, so a batch
// [batch, pos, d] is a [batch * pos, d] matrix whose row b * pos + p is token p of sequence b.
#pragma once
#include <Eigen/Core>

namespace cscrub::engine {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVector = Eigen::Matrix<float, 1, Eigen::Dynamic>;
using RowMatrixMap = Eigen::Map<RowMatrix>;
using ConstRowMatrixMap = Eigen::Map<const RowMatrix>;

}  // namespace cscrub::engine
