#include "core/lm/lm_ops.h"

#include "core/parallel.h"

#include <algorithm>

namespace routerscope::lm {

namespace {

// Row blocks worth a thread: below this many rows one thread does the whole product.
constexpr Eigen::Index kMinRowsPerThread = 64;

int chunks_for(Eigen::Index rows, int threads) {
  if (threads <= 1)
    return 1;
  return int(std::clamp<Eigen::Index>(rows / kMinRowsPerThread, 1, threads));
}

template <typename F> void for_row_blocks(Eigen::Index rows, int threads, F&& body) {
  const int chunks = chunks_for(rows, threads);
  if (chunks == 1) {
    body(Eigen::Index(0), rows);
    return;
  }
  const Eigen::Index step = (rows + chunks - 1) / chunks;
  parallel_for(chunks, chunks, [&](int c) {
    const Eigen::Index r0 = c * step, r1 = std::min(rows, r0 + step);
    if (r1 > r0)
      body(r0, r1 - r0);
  });
}

} // namespace

template <typename S> Mat<S> linear_forward(CRef<S> x, CRef<S> w, int threads) {
  Mat<S> y(x.rows(), w.rows());
  for_row_blocks(x.rows(), threads, [&](Eigen::Index r0, Eigen::Index n) {
    y.middleRows(r0, n).noalias() = x.middleRows(r0, n) * w.transpose();
  });
  return y;
}

template <typename S> Mat<S> linear_input_grad(CRef<S> dy, CRef<S> w, int threads) {
  Mat<S> dx(dy.rows(), w.cols());
  for_row_blocks(dy.rows(), threads, [&](Eigen::Index r0, Eigen::Index n) {
    dx.middleRows(r0, n).noalias() = dy.middleRows(r0, n) * w;
  });
  return dx;
}

template <typename S> void linear_weight_grad(CRef<S> dy, CRef<S> x, MatMap<S> dw, int threads) {
  // Blocks of output rows of dw (columns of dy) are independent.
  for_row_blocks(dw.rows(), threads, [&](Eigen::Index r0, Eigen::Index n) {
    dw.middleRows(r0, n).noalias() += dy.middleCols(r0, n).transpose() * x;
  });
}

template Mat<float> linear_forward<float>(CRef<float>, CRef<float>, int);
template Mat<double> linear_forward<double>(CRef<double>, CRef<double>, int);
template Mat<float> linear_input_grad<float>(CRef<float>, CRef<float>, int);
template Mat<double> linear_input_grad<double>(CRef<double>, CRef<double>, int);
template void linear_weight_grad<float>(CRef<float>, CRef<float>, MatMap<float>, int);
template void linear_weight_grad<double>(CRef<double>, CRef<double>, MatMap<double>, int);

} // namespace routerscope::lm
