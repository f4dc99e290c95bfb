#pragma once
// The Expert view: the selected expert's leading singular values, σ₂/σ₁, |cos|, λ, ‖Rᵢ‖ and the
// router row's projection on the leading singular directions (session.h expert_detail, an exact
// SVD of the one expert, on a background job).
#include "app/gui/panel.h"
#include "app/gui/session.h"
#include "core/jobs.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace routerscope::gui {

class ExpertPanel {
public:
  // Computes ctx's selected expert (a job; a running one is cancelled first).
  void start(const ModelContext& ctx);
  void clear() { detail_.reset(); }                          // a new model: nothing computed yet
  bool idle() const { return !detail_ && !slot_.running(); } // nothing shown or computing
  // Once per frame: the detail when its job ended; the error text once, else empty.
  std::string poll();
  void draw(const ModelContext& ctx, const LayerAlignment& layer);
  Job* job() const { return slot_.job(); }
  bool running() const { return slot_.running(); }
  void state(nlohmann::json& j) const; // expert_detail

private:
  std::shared_ptr<const ExpertDetail> detail_;
  JobSlot<ExpertDetail> slot_; // last: its job is cancelled and joined first
};

} // namespace routerscope::gui
