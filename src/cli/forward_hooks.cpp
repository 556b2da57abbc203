#include "forward_hooks.hpp"

#include <fmt/format.h>

#include <charconv>
#include <variant>

#include "cscrub/error.hpp"
#include "cscrub/io/npy.hpp"
#include "cscrub/io/npz.hpp"

namespace cscrub::cli {

const char* const kPatchHelp =
    "overwrite a hook point with an array (repeatable): HOOK=FILE.npy replaces the whole activation; "
    "HOOK:HEAD=FILE.npy one head, HOOK:HEAD:POS=FILE.npy one head at one position, HOOK:*:POS=FILE.npy every head "
    "(or a hook without heads) at one position (the query position for attn_scores and pattern). FILE holds the "
    "hook's whole float32 activation for this input, [batch, ...] as --npz saves it; only the chosen part is "
    "copied. Attention is causal: entries of attn_scores and pattern for later keys are not read";

namespace {

std::vector<std::string> split(const std::string& list, char separator) {
  std::vector<std::string> items;
  size_t start = 0;
  while (true) {
    const size_t end = list.find(separator, start);
    items.push_back(list.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return items;
    start = end + 1;
  }
}

// "*" -> nullopt, "3" -> 3; anything else fails naming the spec.
std::optional<int> index_or_all(const std::string& text, const std::string& spec, const char* what) {
  if (text == "*") return std::nullopt;
  int value = -1;
  const auto [rest, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || rest != text.data() + text.size() || value < 0)
    throw Error("--patch " + spec + ": " + what + " '" + text + "' is not an index or *");
  return value;
}

std::string shape_text(std::span<const int64_t> shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace

std::string patch_file(const std::string& spec) {
  const size_t equals = spec.find('=');
  return equals == std::string::npos ? std::string() : spec.substr(equals + 1);
}

std::set<engine::HookPoint> parse_cache_names(const std::string& list, const engine::ModelConfig& config) {
  if (list == "all") {
    const std::vector<engine::HookPoint> all = engine::all_hook_points(config);
    return {all.begin(), all.end()};
  }
  std::set<engine::HookPoint> hooks;
  for (const std::string& name : split(list, ',')) {
    if (name.empty()) throw Error("--cache '" + list + "': an empty name", "separate names with single commas");
    try {
      hooks.insert(engine::parse_hook_name(name, config));
    } catch (const Error& error) {
      throw Error(std::string("--cache: ") + error.what(), error.hint());
    }
  }
  return hooks;
}

HookPatches::HookPatches(const std::vector<std::string>& specs, const engine::ModelConfig& config, int batch,
                         int positions) {
  for (const std::string& spec : specs) {
    const size_t equals = spec.find('=');
    if (equals == std::string::npos || equals + 1 == spec.size())
      throw Error("--patch '" + spec + "' names no file", "write HOOK[:HEAD[:POS]]=FILE.npy");
    const std::vector<std::string> parts = split(spec.substr(0, equals), ':');
    if (parts.size() > 3) throw Error("--patch '" + spec + "': more than HOOK:HEAD:POS before '='");
    engine::Patch patch;
    try {
      patch.hook = engine::parse_hook_name(parts[0], config);
    } catch (const Error& error) {
      throw Error("--patch " + spec + ": " + error.what(), error.hint());
    }
    const engine::Layout layout = engine::site_info(patch.hook.site).layout;
    const bool has_heads = layout == engine::Layout::pos_head_dhead || layout == engine::Layout::pos_head_model ||
                           layout == engine::Layout::head_pos_pos;
    if (parts.size() > 1) patch.head = index_or_all(parts[1], spec, "head");
    if (parts.size() > 2) patch.position = index_or_all(parts[2], spec, "position");
    if (patch.head && !has_heads)
      throw Error("--patch " + spec + ": " + parts[0] + " has no head axis", "write " + parts[0] + ":*:POS=... for one position");
    int rank = 0;
    const std::array<int64_t, 4> shape = engine::activation_shape(patch.hook.site, config, batch, positions, &rank);
    const std::span<const int64_t> expected(shape.data(), static_cast<size_t>(rank));
    const int64_t heads = layout == engine::Layout::head_pos_pos ? shape[1] : shape[2];
    if (patch.head && *patch.head >= heads)
      throw Error("--patch " + spec + ": head " + std::to_string(*patch.head) + " of a model with " +
                  std::to_string(heads) + " heads");
    if (patch.position && *patch.position >= positions)
      throw Error("--patch " + spec + ": position " + std::to_string(*patch.position) + " of a " +
                  std::to_string(positions) + "-token input");

    const std::string file = spec.substr(equals + 1);
    io::NpyArray array = io::read_npy(file);
    auto* values = std::get_if<std::vector<float>>(&array.values);
    if (values == nullptr) throw Error("--patch " + spec + ": " + file + " must hold float32 values");
    if (!std::equal(array.shape.begin(), array.shape.end(), expected.begin(), expected.end()))
      throw Error("--patch " + spec + ": " + file + " has shape " + shape_text(array.shape) + ", and " + parts[0] +
                      " is " + shape_text(expected) + " for this input",
                  "save it from a run on an input of the same batch and length (forward --cache " + parts[0] +
                      " --npz FILE.npz)");
    engine::StoredActivation& source = sources_.emplace_back();
    source.rank = rank;
    source.shape = shape;
    source.values = std::move(*values);
    patch.source = &source;
    patcher_.add(patch);
  }
}

std::string cache_npz(const engine::ActivationCache& cache, const engine::ModelConfig& config, const std::string& file) {
  std::vector<io::NpzMember> members;
  for (const engine::HookPoint& hook : engine::all_hook_points(config)) {
    if (!cache.contains(hook)) continue;
    const engine::StoredActivation& stored = cache.at(hook);
    const std::string name = engine::hook_name(hook);
    members.push_back({name, io::npy_bytes(stored.values, std::span<const int64_t>(stored.shape.data(),
                                                                                  static_cast<size_t>(stored.rank)),
                                           file + ": " + name)});
  }
  return io::npz_bytes(members, file);
}

}  // namespace cscrub::cli
