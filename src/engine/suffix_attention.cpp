#include "suffix_attention.hpp"

#include <algorithm>
#include <cassert>

namespace cscrub::engine {

SuffixAttention::SuffixAttention(int positions, int d_head, const ops::AttentionRule& rule)
    : d_head_(d_head),
      rule_(rule),
      keys_(static_cast<size_t>(positions) * d_head),
      values_(keys_.size()),
      workspace_(positions, d_head) {}

void SuffixAttention::gather(const SuffixRows& rows, int layer, int head, int sequence, HeadRowsView suffix_keys,
                             HeadRowsView suffix_values) {
  assert(static_cast<size_t>(rows.positions) * d_head_ <= keys_.size());
  auto copy_row = [&](const float* source, float* target) { std::copy_n(source, d_head_, target); };
  if (rows.start > 0) {
    const RowMatrix& cached = rows.cache->layers[static_cast<size_t>(layer)];
    const int d_model = static_cast<int>(cached.cols() / 3);
    const Eigen::Index first = static_cast<Eigen::Index>(rows.cache_sequence[static_cast<size_t>(sequence)]) *
                               rows.cache->positions;
    const Eigen::Index column = key_column(d_model, d_head_, head);
    for (int p = 0; p < rows.start; ++p) {
      const float* row = cached.row(first + p).data();
      copy_row(row + column, keys_.data() + static_cast<size_t>(p) * d_head_);
      copy_row(row + column + d_model, values_.data() + static_cast<size_t>(p) * d_head_);
    }
  }
  for (int r = 0; r < rows.length(); ++r) {
    const size_t target = static_cast<size_t>(rows.start + r) * d_head_;
    copy_row(suffix_keys.data + r * suffix_keys.stride, keys_.data() + target);
    copy_row(suffix_values.data + r * suffix_values.stride, values_.data() + target);
  }
}

void SuffixAttention::attend(const float* query, int position, float* z_row) {
  const Eigen::OuterStride<> stride(d_head_);
  ops::attend_row(query, ops::StridedMap(keys_.data(), position + 1, d_head_, stride),
                  ops::StridedMap(values_.data(), position + 1, d_head_, stride), position, rule_, workspace_, z_row);
}

}  // namespace cscrub::engine
