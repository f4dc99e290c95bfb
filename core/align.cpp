#include "core/align.h"

#include "core/error.h"
#include "core/parallel.h"

#include <algorithm>

namespace routerscope {

namespace {

Summary summarize_field(const std::vector<ExpertAlignment>& experts,
                        double ExpertAlignment::*field) {
  std::vector<double> v;
  for (const auto& e : experts)
    if (e.status == DirectionStatus::Ok)
      v.push_back(e.*field);
  return summarize(v);
}

} // namespace

std::vector<LayerAlignment> align_model(const MoeModel& model, const AlignOptions& options,
                                        const Progress& progress) {
  const ModelInfo& info = model.info();
  std::vector<int> layers = options.layers.empty() ? info.moe_layers() : options.layers;
  for (int l : layers)
    if (!info.layer(l).moe)
      throw_input_error(info.path + ": layer " + std::to_string(l) +
                        " is a dense layer, not an MoE layer (MoE layers: see 'inspect')");
  std::size_t total = 0;
  for (int l : layers)
    total += static_cast<std::size_t>(info.layer(l).experts);

  const int threads = options.threads; // 0: one per hardware thread
  std::vector<LayerAlignment> out;
  std::size_t done = 0;
  for (int l : layers) {
    progress.check();
    const LayerInfo& li = info.layer(l);
    MatrixF router = model.router(l);
    if (router.rows() != li.experts || router.cols() != info.d_model)
      throw_input_error(info.path + ": router of layer " + std::to_string(l) + " is [" +
                        std::to_string(router.rows()) + ", " + std::to_string(router.cols()) +
                        "], expected [" + std::to_string(li.experts) + ", " +
                        std::to_string(info.d_model) + "]");
    LayerAlignment layer;
    layer.layer = l;
    layer.experts.resize(static_cast<std::size_t>(li.experts));
    auto checked_operator = [&](int e) {
      MatrixF g = direction_operator(model, l, e, options.matrix);
      if (g.cols() != info.d_model)
        throw_input_error(
            info.path + ": layer " + std::to_string(l) + " expert " + std::to_string(e) + " " +
            std::string(to_string(options.matrix)) + " matrix has " + std::to_string(g.cols()) +
            " columns after orientation, expected d_model = " + std::to_string(info.d_model));
      return g;
    };
    auto fill = [&](int e, const MatrixF& g, PrincipalDirection pd) {
      ExpertAlignment& a = layer.experts[static_cast<std::size_t>(e)];
      VectorF r = router.row(e).transpose();
      a.expert = e;
      a.sigma1 = pd.sigma1;
      a.sigma2 = pd.sigma2;
      a.gap_ratio = pd.sigma1 > 0 ? pd.sigma2 / pd.sigma1 : 0.0;
      a.router_norm = r.norm();
      a.weight_norm = g.cast<double>().norm();
      a.status = pd.status;
      if (pd.status == DirectionStatus::Ok) {
        a.cos = abs_cos(r, pd.u1);
        a.lambda = alignment_lambda(r, g, pd.sigma1);
        a.u1 = std::move(pd.u1);
      }
    };
    if (options.backend && options.backend->batches_layers()) {
      // Groups of experts (decoded in parallel), each group's directions in one batched call. A
      // group holds at most batch_bytes of float operators, so host and device memory stay
      // bounded on layers of any size (a DeepSeek-V3 layer is 15 GB of float gate matrices).
      const std::size_t per_expert = sizeof(float) * static_cast<std::size_t>(li.d_expert) *
                                     static_cast<std::size_t>(info.d_model);
      const int group = static_cast<int>(
          std::clamp<std::size_t>(options.batch_bytes / std::max<std::size_t>(per_expert, 1), 1,
                                  static_cast<std::size_t>(li.experts)));
      for (int first = 0; first < li.experts; first += group) {
        const int count = std::min(group, li.experts - first);
        std::vector<MatrixF> g(static_cast<std::size_t>(count));
        parallel_for(count, threads, [&](int i) {
          if (!progress.cancelled())
            g[static_cast<std::size_t>(i)] = checked_operator(first + i);
        });
        progress.check();
        auto ops = options.backend->upload(g);
        auto directions = options.backend->principal_directions(*ops, options.spectral, progress);
        parallel_for(count, threads, [&](int i) {
          fill(first + i, g[size_t(i)], std::move(directions[size_t(i)]));
        });
      }
    } else {
      // One expert decoded at a time per thread: memory stays bounded by `threads` experts.
      parallel_for(li.experts, threads, [&](int e) {
        if (progress.cancelled())
          return;
        MatrixF g = checked_operator(e);
        fill(e, g, principal_direction(g, options.spectral));
      });
    }
    progress.check();
    layer.cos = summarize_field(layer.experts, &ExpertAlignment::cos);
    layer.lambda = summarize_field(layer.experts, &ExpertAlignment::lambda);
    layer.gap_ratio = summarize_field(layer.experts, &ExpertAlignment::gap_ratio);
    layer.router_norm = summarize_field(layer.experts, &ExpertAlignment::router_norm);
    done += static_cast<std::size_t>(li.experts);
    progress(static_cast<double>(done) / static_cast<double>(std::max<std::size_t>(total, 1)),
             "layer " + std::to_string(l));
    out.push_back(std::move(layer));
  }
  return out;
}

} // namespace routerscope
