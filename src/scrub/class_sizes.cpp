#include "cscrub/scrub/class_sizes.hpp"

#include "cscrub/scrub/sampling.hpp"

namespace cscrub::scrub {

int NodeClassSizes::singletons() const {
  int count = 0;
  for (int size : sizes) count += size == 1 ? 1 : 0;
  return count;
}

double NodeClassSizes::singleton_fraction() const {
  return sizes.empty() ? 0.0 : static_cast<double>(singletons()) / static_cast<double>(sizes.size());
}

std::vector<NodeClassSizes> class_sizes(const graph::Hypothesis& hypothesis, const data::Dataset& dataset,
                                        std::span<const int> references) {
  std::vector<NodeClassSizes> result;
  for (size_t n = 0; n < hypothesis.nodes.size(); ++n) {
    if (static_cast<int>(n) == hypothesis.output_node) continue;
    const graph::InterpNode& node = hypothesis.nodes[n];
    const AgreementClasses classes(dataset, node.feature);
    NodeClassSizes sizes{node.name, node.feature, {}, !(node.feature.size() == 1 && node.feature.front() == "prompt")};
    for (int reference : references) sizes.sizes.push_back(static_cast<int>(classes.agreeing(reference).size()));
    result.push_back(std::move(sizes));
  }
  return result;
}

std::vector<int> alignment_group_sizes(const data::Dataset& dataset, std::span<const int> references) {
  const AgreementClasses groups(dataset, {"none"});
  std::vector<int> sizes;
  for (int reference : references) sizes.push_back(static_cast<int>(groups.agreeing(reference).size()));
  return sizes;
}

std::vector<bool> singleton_references(const std::vector<graph::Hypothesis>& hypotheses, const data::Dataset& dataset,
                                       std::span<const int> references) {
  std::vector<bool> singleton(references.size(), false);
  for (const graph::Hypothesis& hypothesis : hypotheses)
    for (const NodeClassSizes& node : class_sizes(hypothesis, dataset, references))
      if (node.resampled)
        for (size_t r = 0; r < references.size(); ++r) singleton[r] = singleton[r] || node.sizes[r] == 1;
  return singleton;
}

}  // namespace cscrub::scrub
