// ONNX text-feature ops on integer tokens: TfIdfVectorizer (string tokens are
// mapped to ids by its string version in ops_string.cpp).
#include <algorithm>
#include <map>

#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace {

// Counts the pool's n-grams (pool: pool_int64s or string ids) in each row of X ([C] or [B, C] int32/int64): for
// each skip distance d (1 .. max_skip_count + 1), items start, start + d, ...;
// unigrams count only at d = 1. Then TF (counts), IDF (weight where present) or
// TFIDF (weight * count), weights given per pool n-gram.
std::vector<Tensor> tfidf(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  if (x.dtype() != DType::Int64 && x.dtype() != DType::Int32)
    n.error<TypeError>("X must be int32, int64 or strings, got ", x.dtype());
  if (n.has("pool_strings")) n.error<TypeError>("X is int but the node's pool is pool_strings");
  return {tfidf_ids(n, x, n.ints("pool_int64s"))};
}

}  // namespace

Tensor tfidf_ids(const Node& n, const Tensor& x, const std::vector<int64_t>& pool) {
  if (x.dim() > 2) n.error("X must be [C] or [B, C], got shape ", x.shape());
  const std::string mode = n.s("mode", "");
  if (mode != "TF" && mode != "IDF" && mode != "TFIDF") n.error("mode must be TF, IDF or TFIDF");
  const int64_t lo = n.i("min_gram_length", 1), hi = n.i("max_gram_length", 1), skip = n.i("max_skip_count", 0);
  if (lo < 1 || hi < lo || skip < 0) n.error("need 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0");
  const std::vector<int64_t> counts = n.ints("ngram_counts"), indexes = n.ints("ngram_indexes");
  const std::vector<double> weights = n.floats("weights");
  if (indexes.empty()) n.error("ngram_indexes must not be empty");
  const int64_t out_size = *std::max_element(indexes.begin(), indexes.end()) + 1;
  if (*std::min_element(indexes.begin(), indexes.end()) < 0) n.error("ngram_indexes must be nonnegative");
  if (!weights.empty() && weights.size() != indexes.size())
    n.error("weights must have one value per pool n-gram (", indexes.size(), "), got ", weights.size());

  // Pool n-gram -> its id (pool order); section s of the pool holds n-grams of length s + 1.
  std::map<std::vector<int64_t>, int64_t> grams;
  size_t id = 0;
  for (size_t s = 0; s < counts.size(); ++s) {
    const int64_t len = static_cast<int64_t>(s) + 1;
    const int64_t begin = counts[s], end = s + 1 < counts.size() ? counts[s + 1] : static_cast<int64_t>(pool.size());
    if (begin < 0 || end < begin || end > static_cast<int64_t>(pool.size()) || (end - begin) % len != 0)
      n.error("ngram_counts ", counts, " do not split pool_int64s (", pool.size(), " items) into n-grams");
    for (int64_t p = begin; p < end; p += len, ++id) {
      if (len < lo || len > hi) continue;
      if (id >= indexes.size()) n.error("ngram_indexes has fewer entries than the pool has n-grams");
      grams[std::vector<int64_t>(pool.begin() + p, pool.begin() + p + len)] = static_cast<int64_t>(id);
    }
  }

  const int64_t rows = x.dim() == 2 ? x.shape()[0] : 1, C = x.dim() == 0 ? 1 : x.shape()[x.dim() - 1];
  Tensor xs = x.to(DType::Int64).contiguous();
  const int64_t* px = xs.data<int64_t>();
  const int64_t n_ids = static_cast<int64_t>(indexes.size());
  std::vector<int64_t> freq(static_cast<size_t>(rows * n_ids), 0);
  std::vector<int64_t> key;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t* row = px + r * C;
    int64_t first = lo;
    for (int64_t d = 1; d <= skip + 1; ++d) {
      for (int64_t start = 0; start + d * (first - 1) < C; ++start) {
        key.clear();
        for (int64_t len = 1, item = start; len <= hi && item < C; ++len, item += d) {
          key.push_back(row[item]);
          if (len < first) continue;
          auto it = grams.find(key);
          if (it != grams.end()) ++freq[r * n_ids + it->second];
        }
      }
      if (first == 1) first = 2;  // unigrams once, not per skip distance
      if (first > hi) break;
    }
  }
  // Each n-gram's count (weighted by its own weight, as onnxruntime does) lands in its output column.
  Tensor y = zeros(x.dim() == 2 ? Shape{rows, out_size} : Shape{out_size}, DType::Float32);
  float* py = y.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < n_ids; ++g) {
      const double f = static_cast<double>(freq[r * n_ids + g]);
      if (f == 0) continue;
      const double w = weights.empty() ? 1.0 : weights[g];
      float& out = py[r * out_size + indexes[g]];
      out = mode == "IDF" ? static_cast<float>(w) : out + static_cast<float>(mode == "TF" ? f : w * f);
    }
  return y;
}

void register_text_ops(std::map<std::string, OpFn>& t) { t["TfIdfVectorizer"] = tfidf; }

}  // namespace tessel::onnx
