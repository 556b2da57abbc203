// How many prompts each claimed feature leaves to resample from. Causal scrubbing replaces a node's input
// by a prompt agreeing with it on the node's feature; with a finite dataset a reference may be the only
// prompt of its alignment group with its value (a class of one), and then nothing is resampled for it: the
// claim silently becomes "this part gets its own input". These counts make that visible.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/graph/hypothesis.hpp"

namespace cscrub::scrub {

// The agreement class sizes of one node's feature, per reference.
struct NodeClassSizes {
  std::string node;
  std::vector<std::string> feature;
  // Per reference (in the order given): the prompts of the dataset in its alignment group that agree with
  // it on the feature, itself included. 1: a singleton, nothing to resample from.
  std::vector<int> sizes;
  // False for feature "prompt": the node is claimed to see its own input, so a class of one is the claim.
  bool resampled = true;

  int singletons() const;
  double singleton_fraction() const;
};

// Every node a draw is made for (all but the output, whose feature plays no role), in file order.
std::vector<NodeClassSizes> class_sizes(const graph::Hypothesis& hypothesis, const data::Dataset& dataset,
                                        std::span<const int> references);

// Per reference: how many prompts share its alignment group (itself included): where its random inputs come from.
std::vector<int> alignment_group_sizes(const data::Dataset& dataset, std::span<const int> references);

// The references that are a singleton for some resampled node of some hypothesis: the ones
// ExperimentSettings::exclude_singletons leaves out.
std::vector<bool> singleton_references(const std::vector<graph::Hypothesis>& hypotheses, const data::Dataset& dataset,
                                       std::span<const int> references);

}  // namespace cscrub::scrub
