#include "cscrub/scrub/memory.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "cscrub/engine/forward.hpp"
#include "cscrub/error.hpp"
#include "cscrub/graph/model_graph.hpp"
#include "cscrub/scrub/clean_cache.hpp"

namespace cscrub::scrub {
namespace {

using Kind = graph::Component::Kind;

constexpr uint64_t kFloat = sizeof(float);
// Rows a batch's buffers may hold beyond its own (the fp32-fma GEMM computes edge tiles through a 12-row
// buffer; the engine's own buffers round up): 16 rows bound them.
constexpr uint64_t kPaddingRows = 16;

// What the products of recomputing a component (or its clean output) pack, at most, for `rows` rows:
// the engine says (engine::matmul_packing_bytes), for the kernel the weights use.
class ProductPacking {
 public:
  ProductPacking(const engine::ModelConfig& config, engine::MatmulKernel kernel, int threads)
      : config_(config), kernel_(kernel), threads_(threads) {}

  // q, k and v projections of one head (d_model -> d_head, with bias), and its output (d_head -> d_model).
  uint64_t head(uint64_t rows) const {
    const int64_t r = static_cast<int64_t>(rows), d = config_.d_model, head = config_.d_head();
    return std::max(of({r, d, head, false, true}), of({r, head, d, false, false}));
  }
  uint64_t mlp(uint64_t rows) const {
    const int64_t r = static_cast<int64_t>(rows), d = config_.d_model, m = config_.d_mlp;
    return std::max(of({r, d, m, false, true}), of({r, m, d, false, true}));
  }
  // What a forward pass's workspace keeps for its products.
  uint64_t forward(uint64_t rows) const {
    return engine::forward_packing_bytes(config_, kernel_, static_cast<int>(rows), threads_);
  }
  // The unembedding of `rows` rows over the whole vocabulary.
  uint64_t unembedding(uint64_t rows) const {
    return of({static_cast<int64_t>(rows), config_.d_model, config_.vocab_size, true, false});
  }

 private:
  uint64_t of(const engine::ProductShape& shape) const {
    return engine::matmul_packing_bytes(kernel_, shape, threads_);
  }

  const engine::ModelConfig& config_;
  engine::MatmulKernel kernel_;
  int threads_;
};

// Floats per row of a batch that Scrubber::evaluate holds at its peak for a node and everything recomputed
// below it. It follows evaluate's order: each parent subtree is evaluated while the contributions of the
// parents before it are held; the parent's values and their deltas coexist while the deltas are made; then
// each component reads its ports (copies of a base stream plus contributions) while all deltas and the
// node's values so far are held. Memoised: a node's peak does not depend on the path to it.
class ScrubFootprint {
 public:
  ScrubFootprint(const graph::Hypothesis& hypothesis, const engine::ModelConfig& config)
      : hypothesis_(hypothesis),
        d_(config.d_model),
        head_(config.d_head()),
        mlp_(config.d_mlp),
        edges_into_(hypothesis.nodes.size()),
        peaks_(hypothesis.nodes.size(), -1.0) {
    for (size_t e = 0; e < hypothesis.edges.size(); ++e)
      edges_into_[static_cast<size_t>(hypothesis.edges[e].child)].push_back(static_cast<int>(e));
  }

  double peak(int node_index) {
    double& memo = peaks_[static_cast<size_t>(node_index)];
    if (memo >= 0) return memo;
    const graph::InterpNode& node = hypothesis_.nodes[static_cast<size_t>(node_index)];
    const auto& incoming = edges_into_[static_cast<size_t>(node_index)];
    const double values = static_cast<double>(node.components.size()) * d_;
    const bool all_embed = std::all_of(node.components.begin(), node.components.end(),
                                       [](const graph::Component& c) { return c.kind == Kind::embed; });
    if (all_embed || (incoming.empty() && node.rest == graph::InterpNode::Rest::same)) {
      memo = values + clean_output_transient(node);
      return memo;
    }
    double held = 0, result = 0;
    for (int edge_index : incoming) {
      const int parent_index = hypothesis_.edges[static_cast<size_t>(edge_index)].parent;
      const graph::InterpNode& parent = hypothesis_.nodes[static_cast<size_t>(parent_index)];
      const double parent_values = static_cast<double>(parent.components.size()) * d_;
      result = std::max(result, held + peak(parent_index));
      // Parent values, the deltas made so far, and one clean output being subtracted.
      result = std::max(result, held + 2 * parent_values + d_ + clean_output_transient(parent));
      held += parent_values;
    }
    for (const graph::Component& component : node.components)
      result = std::max(result, held + values + component_work(component));
    memo = result;
    return memo;
  }

 private:
  // Beyond its result: a head's clean output gathers the layer's whole z, pads one head's part and projects it.
  double clean_output_transient(const graph::InterpNode& node) const {
    const bool has_head = std::any_of(node.components.begin(), node.components.end(),
                                      [](const graph::Component& c) { return c.kind == Kind::head; });
    return has_head ? 2 * d_ + head_ : 0;
  }

  // Beyond its result: what recomputing one component allocates, but for its products' packing (which
  // ProductPacking counts: it is not proportional to the rows).
  double component_work(const graph::Component& component) const {
    switch (component.kind) {
      // Base stream, q/k/v inputs, their layer norms, per-head projections and z, the padded output.
      case Kind::head:
        return 8 * d_ + 4 * head_;
      // Base stream, input, its layer norm, the hidden layer, the padded output.
      case Kind::mlp:
        return 4 * d_ + mlp_;
      case Kind::output: return 2 * d_;  // base stream and input
      case Kind::embed: return 0;         // a clean output, counted in the values
    }
    return 0;
  }

  const graph::Hypothesis& hypothesis_;
  double d_, head_, mlp_;
  std::vector<std::vector<int>> edges_into_;
  std::vector<double> peaks_;
};

// A scrubber's model graph G (a Boost adjacency list with sets of out- and in-edges): measured with
// libstdc++ at 153-193 bytes per edge and a few hundred per node (GPT-2 small: 32,936 edges, 5.2 MB).
uint64_t model_graph_bytes(const engine::ModelConfig& config) {
  const graph::ModelGraph graph(config);
  return 200 * graph.edge_count() + 256 * graph.node_count();
}

// Rows of the largest batch of the clean pass, which batches prompts of equal length.
uint64_t largest_clean_batch_rows(const data::Dataset& dataset, int batch_size, uint64_t* longest) {
  std::map<size_t, uint64_t> count_by_length;
  for (const auto& example : dataset.examples) ++count_by_length[example.tokens.size()];
  uint64_t rows = 0;
  for (const auto& [length, count] : count_by_length) {
    rows = std::max(rows, std::min<uint64_t>(count, static_cast<uint64_t>(batch_size)) * length);
    *longest = std::max<uint64_t>(*longest, length);
  }
  return rows;
}

// Whether any of the hypotheses recomputes a component of this kind.
bool recomputes(const std::vector<const graph::Hypothesis*>& hypotheses, Kind kind) {
  for (const graph::Hypothesis* hypothesis : hypotheses)
    for (const auto& node : hypothesis->nodes)
      for (const graph::Component& component : node.components)
        if (component.kind == kind) return true;
  return false;
}

// Distinct feature lists of a hypothesis: each one's agreement classes are built once per scrubber.
size_t feature_lists(const graph::Hypothesis& hypothesis) {
  std::set<std::vector<std::string>> lists{{"none"}};
  for (const auto& node : hypothesis.nodes) lists.insert(node.feature);
  return lists.size();
}

std::string with_thousands(uint64_t value) {
  std::string digits = std::to_string(value), text;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) text += ',';
    text += digits[i];
  }
  return text;
}

}  // namespace

uint64_t MemoryEstimate::batch_working() const {
  return std::max(clean_forward, metric_clean + std::max(scrub_batch, metric_batch));
}

uint64_t MemoryEstimate::peak() const {
  const uint64_t scrubbing = clean_cache + results + scrubber + batch_working();
  const uint64_t summarising = results + statistics;
  return program + weights + std::max({model_file, scrubbing, summarising});
}

MemoryEstimate estimate_memory(const engine::ModelConfig& config, engine::MatmulKernel matmul,
                               const data::Dataset& dataset, const std::vector<graph::Hypothesis>& hypotheses,
                               const graph::Hypothesis& baseline, const ExperimentSettings& settings) {
  MemoryEstimate estimate;
  const uint64_t d = static_cast<uint64_t>(config.d_model), vocab = static_cast<uint64_t>(config.vocab_size);
  const uint64_t threads = static_cast<uint64_t>(std::max(1, omp_get_max_threads()));
  const ProductPacking packing(config, matmul, static_cast<int>(threads));
  const int batch_size = std::max(1, settings.batch_size);
  estimate.weights = engine::weight_bytes(config);

  std::set<Stream> streams = streams_needed(baseline, config);
  for (const auto& hypothesis : hypotheses) streams.merge(streams_needed(hypothesis, config));
  estimate.streams = static_cast<int>(streams.size());
  estimate.prompts = static_cast<int>(dataset.examples.size());
  for (const auto& example : dataset.examples) estimate.tokens += example.tokens.size();
  estimate.clean_cache = CleanCache::bytes_needed(dataset, streams, config.d_model);
  // The counterfactual ablation caches the paired prompts too (of the same lengths).
  if (settings.ablation == Ablation::counterfactual) estimate.clean_cache *= 2;

  // The forward pass of the clean cache: its workspace (residual, normalized, qkv, z, attention output,
  // MLP hidden and output), its products' packing, and each thread's attention scores.
  uint64_t longest = 0;
  const uint64_t clean_rows = largest_clean_batch_rows(dataset, batch_size, &longest) + kPaddingRows;
  const uint64_t attention_scores = kFloat * threads * longest * longest;
  estimate.clean_forward = kFloat * clean_rows * (8 * d + static_cast<uint64_t>(config.d_mlp) + 1) +
                           packing.forward(clean_rows) + attention_scores;

  // Scrubbing one batch: the deepest treeified path of the most demanding hypothesis, each thread's
  // attention scores, and the batch's clean and scrubbed final rows.
  const std::vector<int> references = scored_references(dataset);
  estimate.references = static_cast<int>(references.size());
  uint64_t batch_rows = 0, batch_references = 0;
  for (const auto& batch : reference_batches(dataset, references, batch_size)) {
    const size_t length = dataset.examples[static_cast<size_t>(references[static_cast<size_t>(batch.front())])].tokens.size();
    batch_rows = std::max<uint64_t>(batch_rows, batch.size() * length);
    batch_references = std::max<uint64_t>(batch_references, batch.size());
  }
  double floats_per_row = ScrubFootprint(baseline, config).peak(baseline.output_node);
  std::vector<const graph::Hypothesis*> scrubbed{&baseline};
  for (const auto& hypothesis : hypotheses) {
    floats_per_row = std::max(floats_per_row, ScrubFootprint(hypothesis, config).peak(hypothesis.output_node));
    scrubbed.push_back(&hypothesis);
  }
  // One product at a time packs: the largest of the components recomputed.
  const uint64_t padded_batch_rows = batch_rows + kPaddingRows;
  uint64_t component_packing = 0;
  if (recomputes(scrubbed, Kind::head)) component_packing = packing.head(padded_batch_rows);
  if (recomputes(scrubbed, Kind::mlp)) component_packing = std::max(component_packing, packing.mlp(padded_batch_rows));
  estimate.scrub_batch = static_cast<uint64_t>(floats_per_row * static_cast<double>(padded_batch_rows)) * kFloat +
                         component_packing + attention_scores + kFloat * 2 * (batch_references + kPaddingRows) * d;

  // The metric on one batch: loss and KL unembed the whole vocabulary (logits and log-probabilities); KL
  // also keeps the model's own log-probabilities of the batch while it is scrubbed. The others need two
  // logits per reference, or one row of the vocabulary for accuracy without a distractor.
  const bool full_vocabulary = settings.metric == Metric::loss || settings.metric == Metric::kl;
  const uint64_t metric_rows = full_vocabulary ? 2 * batch_references + kPaddingRows : kPaddingRows + 1;
  // Besides the logits: the rows scored (up to two per reference) and their normalised copy, and the
  // packing of the unembedding over the whole vocabulary (the other metrics read a few logits, without it).
  estimate.metric_batch = kFloat * (metric_rows * vocab + (3 * batch_references + kPaddingRows) * d) +
                          (full_vocabulary ? packing.unembedding(batch_references) : 0);
  estimate.metric_clean = settings.metric == Metric::kl ? kFloat * batch_references * vocab : 0;

  // Per reference: every run's seed-averaged values and the model's; and, for the one scrubber that exists
  // at a time, its agreement classes per prompt and feature list (and, while they are built, the map from
  // agreement keys, which for the "prompt" feature spell out the tokens).
  const uint64_t runs = hypotheses.size() + 1, n = references.size(), prompts = dataset.examples.size();
  uint64_t lists = feature_lists(baseline);
  for (const auto& hypothesis : hypotheses) lists = std::max<uint64_t>(lists, feature_lists(hypothesis));
  // Map nodes, key strings and member vectors, each with malloc's header: measured at up to ~480 bytes a
  // prompt beyond the key's tokens (tests/scrub/test_memory.cpp doubles the prompts to check).
  const uint64_t key_bytes = 512 + 8 * longest;
  estimate.scrubber = model_graph_bytes(config);
  // Also every run's value per reference and seed (written out for plots and tests), and per hypothesis
  // node the size of each reference's agreement class.
  const uint64_t seeds = static_cast<uint64_t>(std::max(1, settings.seeds));
  uint64_t nodes = 0;
  for (const auto& hypothesis : hypotheses) nodes += hypothesis.nodes.size();
  estimate.results = sizeof(double) * (runs + 1) * n + sizeof(int) * 3 * n + 32 * prompts * lists + prompts * key_bytes +
                     sizeof(double) * runs * seeds + sizeof(double) * runs * seeds * n + sizeof(int) * (nodes + 1) * n;
  // After scrubbing: the bootstrap's index sets and draws, and each hypothesis' copy of the model, baseline
  // and scrubbed values.
  const uint64_t resamples = static_cast<uint64_t>(std::max(0, settings.bootstrap_resamples));
  estimate.statistics = resamples * (sizeof(int) * n + 32 + sizeof(double)) + sizeof(double) * 3 * n * hypotheses.size();
  return estimate;
}

void check_memory(const MemoryEstimate& estimate, const ExperimentSettings& settings) {
  // The largest --n (of prompts like these) whose estimate stays within `fits`; 0 if not even 2 fit. A
  // smaller --n draws other prompts, whose lengths differ from these on average: the suggestion keeps 1/32
  // of the limit to spare (seen: a suggested --n 483 estimated 0.1 MiB over a 161.8 MiB limit).
  const auto spared = [](uint64_t limit) { return limit - limit / 32; };
  auto prompts_that_fit = [&](auto fits) {
    if (!fits(scaled(estimate, 2))) return 0;
    int low = 2, high = estimate.prompts;
    while (low < high) {
      const int middle = low + (high - low + 1) / 2;
      if (fits(scaled(estimate, middle))) low = middle;
      else high = middle - 1;
    }
    return low;
  };
  const std::string cache_text =
      "the activation cache would need " + memory_text(estimate.clean_cache) + " (" + std::to_string(estimate.streams) +
      " cached activations x " + with_thousands(estimate.tokens) + " tokens of " +
      with_thousands(static_cast<uint64_t>(estimate.prompts)) + " prompts)";
  const std::string fewer_activations =
      "a hypothesis that caches fewer activations (it claims heads or MLPs in fewer layers)";

  if (settings.max_cache_bytes > 0 && estimate.clean_cache > settings.max_cache_bytes) {
    const int fit =
        prompts_that_fit([&](const MemoryEstimate& e) { return e.clean_cache <= spared(settings.max_cache_bytes); });
    throw Error(cache_text + ", more than its limit of " + memory_text(settings.max_cache_bytes),
                (fit >= 2 ? "use --n " + std::to_string(fit) + " or fewer, " : std::string("use ")) + fewer_activations +
                    ", or raise the limit");
  }
  if (settings.max_memory_bytes == 0 || estimate.peak() <= settings.max_memory_bytes) return;

  std::string parts = cache_text + ", the weights " + memory_text(estimate.weights);
  if (estimate.model_file > 0) parts += " (and the checkpoint " + memory_text(estimate.model_file) + " while they are read)";
  parts += ", the working memory of one batch (--batch-size " + std::to_string(settings.batch_size) + ") " +
           memory_text(estimate.batch_working());
  if (estimate.program > 0) parts += ", the program itself " + memory_text(estimate.program);
  const std::string message = "this run would need about " + memory_text(estimate.peak()) +
                              " of memory, more than the --max-memory limit of " +
                              memory_text(settings.max_memory_bytes) + ": " + parts;
  const bool batch_matters = estimate.batch_working() > settings.max_memory_bytes / 4;
  const std::string smaller_batch = batch_matters ? ", a smaller --batch-size" : "";
  const int fit =
      prompts_that_fit([&](const MemoryEstimate& e) { return e.peak() <= spared(settings.max_memory_bytes); });
  if (fit < 2)
    throw Error(message, "even --n 2 would need " + memory_text(scaled(estimate, 2).peak()) +
                             ": raise --max-memory (GiB)" +
                             (batch_matters ? ", use a smaller --batch-size," : std::string()) + " or use a smaller model");
  throw Error(message, "use --n " + std::to_string(fit) + " or fewer, " + fewer_activations + smaller_batch +
                           ", or raise --max-memory (GiB)");
}

MemoryEstimate scaled(const MemoryEstimate& estimate, int prompts) {
  MemoryEstimate result = estimate;
  const double factor = static_cast<double>(prompts) / std::max(1, estimate.prompts);
  for (uint64_t* part : {&result.clean_cache, &result.results, &result.statistics})
    *part = static_cast<uint64_t>(static_cast<double>(*part) * factor) + 1;
  result.tokens = static_cast<uint64_t>(static_cast<double>(estimate.tokens) * factor);
  result.references = static_cast<int>(static_cast<double>(estimate.references) * factor);
  result.prompts = prompts;
  return result;
}

std::string memory_text(uint64_t bytes) {
  char text[32];
  const double value = static_cast<double>(bytes);
  if (bytes >= (uint64_t{1} << 30)) std::snprintf(text, sizeof text, "%.2f GiB", value / (1024.0 * 1024.0 * 1024.0));
  else std::snprintf(text, sizeof text, "%.1f MiB", value / (1024.0 * 1024.0));
  return text;
}

std::string describe(const MemoryEstimate& estimate) {
  std::string text = "peak " + memory_text(estimate.peak()) + ": activation cache " + memory_text(estimate.clean_cache) +
                     " (" + std::to_string(estimate.streams) + " activations x " + with_thousands(estimate.tokens) +
                     " tokens), weights " + memory_text(estimate.weights);
  if (estimate.model_file > 0) text += " (+ checkpoint " + memory_text(estimate.model_file) + " while loading)";
  text += ", one batch " + memory_text(estimate.batch_working()) + ", model graph " + memory_text(estimate.scrubber) +
          ", results " + memory_text(std::max(estimate.results, estimate.statistics));
  if (estimate.program > 0) text += ", program " + memory_text(estimate.program);
  return text;
}

}  // namespace cscrub::scrub
