// The forward pass's side of the Interventions protocol: asks whether a hook point is wanted, and hands
// over contiguous [batch, ...] data. With no Interventions every question is a null check.
#pragma once
#include "cscrub/engine/hooks.hpp"

namespace cscrub::engine {

class HookSink {
 public:
  HookSink(Interventions* interventions, const ModelConfig& config, int batch, int positions)
      : interventions_(interventions), config_(config), batch_(batch), positions_(positions) {}

  bool active() const { return interventions_ != nullptr; }
  bool wants(Site site, int layer = -1) const {
    return interventions_ != nullptr && interventions_->wants({site, layer});
  }
  // `data` must hold the activation contiguously in the site's layout; it may be modified.
  void visit(Site site, int layer, float* data) const {
    Activation activation;
    activation.hook = {site, layer};
    activation.shape = activation_shape(site, config_, batch_, positions_, &activation.rank);
    int64_t size = 1;
    for (int d = 0; d < activation.rank; ++d) size *= activation.shape[d];
    activation.data = std::span<float>(data, static_cast<size_t>(size));
    interventions_->visit(activation);
  }
  // wants() then visit(): for activations already stored contiguously.
  void offer(Site site, int layer, float* data) const {
    if (wants(site, layer)) visit(site, layer, data);
  }

 private:
  Interventions* interventions_;
  const ModelConfig& config_;
  int batch_;
  int positions_;
};

}  // namespace cscrub::engine
