#pragma once
// Dense types shared by every room. Matrices are row-major so that a row of a stored [out, in]
// Linear weight is contiguous, exactly as it lies in a safetensors file.
#include <Eigen/Core>
#include <cstdint>

namespace routerscope {

using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using VectorF = Eigen::VectorXf;
using VectorD = Eigen::VectorXd;

} // namespace routerscope
