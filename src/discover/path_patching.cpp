#include "cscrub/discover/path_patching.hpp"

#include <algorithm>
#include <numeric>

#include "cscrub/discover/targets.hpp"
#include "cscrub/engine/interventions.hpp"
#include "cscrub/error.hpp"

namespace cscrub::discover {
namespace {

engine::Site port_site(Receiver::Port port) {
  switch (port) {
    case Receiver::Port::q: return engine::Site::attn_q;
    case Receiver::Port::k: return engine::Site::attn_k;
    case Receiver::Port::v: return engine::Site::attn_v;
  }
  return engine::Site::attn_q;
}

char port_letter(Receiver::Port port) { return "qkv"[static_cast<int>(port)]; }

double sum(const std::vector<double>& values) { return std::accumulate(values.begin(), values.end(), 0.0); }

// The layer after which a sender can no longer reach any receiver.
int last_receiver_layer(const PathPatchingSpec& spec, int n_layer) {
  if (spec.receivers.empty()) return n_layer;  // the logits read the final residual stream
  int last = 0;
  for (const Receiver& receiver : spec.receivers) last = std::max(last, receiver.layer);
  return last;
}

std::set<engine::HookPoint> z_hooks(int layers) {
  std::set<engine::HookPoint> hooks;
  for (int layer = 0; layer < layers; ++layer) hooks.insert({engine::Site::attn_z, layer});
  return hooks;
}

}  // namespace

std::vector<Receiver> parse_receivers(std::string_view text, const engine::ModelConfig& config) {
  if (text == "logits") return {};
  std::vector<Receiver> receivers;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    const size_t colon = item.find(':');
    const std::string_view port = colon == std::string_view::npos ? std::string_view() : item.substr(colon + 1);
    if (port != "q" && port != "k" && port != "v")
      throw Error("receiver '" + std::string(item) + "' is not LAYER.HEAD:q, :k or :v",
                  "e.g. --receivers 2.1:q,2.3:q, or --receivers logits");
    const HeadId head = parse_head(item.substr(0, colon), config);
    const Receiver receiver{head.layer, head.head, port == "q" ? Receiver::Port::q
                                                   : port == "k" ? Receiver::Port::k
                                                                 : Receiver::Port::v};
    for (const Receiver& other : receivers)
      if (other.layer == receiver.layer && other.head == receiver.head && other.port == receiver.port)
        throw Error("receiver '" + std::string(item) + "' is given twice");
    receivers.push_back(receiver);
    start = end + 1;
  }
  return receivers;
}

std::string describe(const std::vector<Receiver>& receivers) {
  if (receivers.empty()) return "logits";
  std::string text;
  for (const Receiver& receiver : receivers)
    text += (text.empty() ? "" : ", ") + std::to_string(receiver.layer) + "." + std::to_string(receiver.head) + ":" +
            port_letter(receiver.port);
  return text;
}

Sweep path_patching(const engine::Weights& weights, const PairedDataset& pairs, const PathPatchingSpec& spec,
                    int batch_size, const Progress& progress) {
  check_pairs(pairs);
  const engine::ModelConfig& config = weights.config;
  const std::vector<Batch> batches = make_batches(pairs.clean, batch_size);
  resolve_position(pairs.clean.schema, batches.front(), spec.position);  // a misspelt position fails first
  const int reach = last_receiver_layer(spec, config.n_layer);  // senders below this layer have a path
  if (reach == 0) throw Error("path patching: receivers in layer 0 have no sender heads before them");
  const int senders = reach * config.n_head;
  const bool to_logits = spec.receivers.empty();

  std::set<engine::HookPoint> receiver_hooks;
  for (const Receiver& receiver : spec.receivers) receiver_hooks.insert({port_site(receiver.port), receiver.layer});

  Grid sums = numbered_grid("layer", config.n_layer, "head", config.n_head);
  for (int sender = 0; sender < senders; ++sender) sums.values[static_cast<size_t>(sender)] = 0.0;
  double clean_sum = 0, corrupted_sum = 0;
  const int per_batch = 2 + senders * (to_logits ? 1 : 2);
  const int total = static_cast<int>(batches.size()) * per_batch;
  int done = 0;
  auto step = [&] {
    if (progress) progress(++done, total);
  };

  for (const Batch& batch : batches) {
    const std::vector<int32_t> clean_tokens = batch_tokens(pairs.clean, batch);
    const std::vector<int32_t> corrupted_tokens = batch_tokens(pairs.corrupted, batch);
    const std::optional<int> receiver_position = resolve_position(pairs.clean.schema, batch, spec.position);

    // Every head's clean z (the frozen values) and the senders' corrupted z (step 1).
    engine::ActivationCache clean_z(z_hooks(config.n_layer)), corrupted_z(z_hooks(reach));
    clean_sum += sum(logit_diffs(weights, pairs.clean, batch, clean_tokens, &clean_z));
    step();
    corrupted_sum += sum(logit_diffs(weights, pairs.clean, batch, corrupted_tokens, &corrupted_z));
    step();

    for (int sender = 0; sender < senders; ++sender) {
      const int sender_layer = sender / config.n_head, sender_head = sender % config.n_head;
      // Step 2: every head frozen to its clean z, then the sender's z from the corrupted run; MLPs recomputed.
      engine::ActivationPatcher frozen;
      for (int layer = 0; layer < config.n_layer; ++layer) {
        const engine::HookPoint hook{engine::Site::attn_z, layer};
        frozen.add({.hook = hook, .head = std::nullopt, .position = std::nullopt, .source = &clean_z.at(hook), .fill = 0});
      }
      const engine::HookPoint sender_hook{engine::Site::attn_z, sender_layer};
      frozen.add({.hook = sender_hook, .head = sender_head, .position = std::nullopt,
                  .source = &corrupted_z.at(sender_hook), .fill = 0});
      engine::ActivationCache receiver_inputs(receiver_hooks);
      engine::InterventionChain step2;
      step2.add(frozen);
      step2.add(receiver_inputs);
      const std::vector<double> step2_diffs = logit_diffs(weights, pairs.clean, batch, clean_tokens, &step2);
      step();
      if (to_logits) {
        sums.values[static_cast<size_t>(sender)] += sum(step2_diffs);
        continue;
      }
      // Step 3: the clean run with only the receivers' inputs from step 2.
      engine::ActivationPatcher receivers;
      for (const Receiver& receiver : spec.receivers) {
        const engine::HookPoint hook{port_site(receiver.port), receiver.layer};
        receivers.add({.hook = hook, .head = receiver.head, .position = receiver_position,
                       .source = &receiver_inputs.at(hook), .fill = 0});
      }
      sums.values[static_cast<size_t>(sender)] += sum(logit_diffs(weights, pairs.clean, batch, clean_tokens, &receivers));
      step();
    }
  }

  Sweep sweep;
  sweep.prompts = static_cast<int>(pairs.clean.examples.size());
  sweep.clean = clean_sum / sweep.prompts;
  sweep.corrupted = corrupted_sum / sweep.prompts;
  sweep.base = sweep.clean;
  sweep.patched = sums;
  for (double& value : sweep.patched.values) value /= sweep.prompts;  // NaN (no path) stays NaN
  sweep.description = "path patching: each sender head from the corrupted run (" + pairs.corruption +
                      ") to " + describe(spec.receivers) +
                      (spec.position.empty() || to_logits ? std::string() : " @" + spec.position) +
                      ", other heads frozen to clean, MLPs recomputed";
  return sweep;
}

}  // namespace cscrub::discover
