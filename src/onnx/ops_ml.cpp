// ONNX-ML domain (ai.onnx.ml) ops that scikit-learn exports (skl2onnx) use:
// preprocessing (Binarizer, Scaler, Normalizer, Imputer, ArrayFeatureExtractor)
// and linear models. Tree ensembles are in ops_ml_tree.cpp, the string ones
// (LabelEncoder, CategoryMapper) in ops_string.cpp.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "kernels/cpu/loops.h"
#include "src/onnx/ml_internal.h"

namespace tessel::onnx {
namespace ml {

Post post_of(const Node& n, const std::string& name) {
  if (name == "NONE") return Post::None;
  if (name == "SOFTMAX") return Post::Softmax;
  if (name == "LOGISTIC") return Post::Logistic;
  if (name == "SOFTMAX_ZERO") return Post::SoftmaxZero;
  if (name == "PROBIT") return Post::Probit;
  n.error("post_transform '", name, "' is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT");
}

Post post_of(const Node& n, int64_t code) {
  if (code < 0 || code > 4) n.error("post_transform ", code, " is not in 0..4 (NONE .. PROBIT)");
  return static_cast<Post>(code);
}

double logistic(double v) { return v >= 0 ? 1 / (1 + std::exp(-v)) : std::exp(v) / (1 + std::exp(v)); }

// sqrt(2) * erfinv(2p - 1), the standard normal quantile: an initial guess
// refined by Newton steps on erf (onnxruntime uses a 1e-3 approximation).
double probit(double p) {
  const double y = 2 * p - 1;
  if (!(y > -1 && y < 1)) return y == 1 ? INFINITY : y == -1 ? -INFINITY : NAN;
  const double l = std::log((1 - y) * (1 + y)), a = 0.147, b = 2 / (M_PI * a) + l / 2;
  double x = std::copysign(std::sqrt(std::sqrt(b * b - l / a) - b), y);
  for (int k = 0; k < 3; ++k) x -= (std::erf(x) - y) / (2 / std::sqrt(M_PI) * std::exp(-x * x));
  return M_SQRT2 * x;
}

void apply_post(Post p, double* s, int64_t n) {
  switch (p) {
    case Post::None: return;
    case Post::Logistic:
      for (int64_t j = 0; j < n; ++j) s[j] = logistic(s[j]);
      return;
    case Post::Probit:
      for (int64_t j = 0; j < n; ++j) s[j] = probit(s[j]);
      return;
    case Post::Softmax:
    case Post::SoftmaxZero: {
      // SOFTMAX_ZERO leaves exact zeros at 0 and out of the sum.
      const bool zero = p == Post::SoftmaxZero;
      double m = -INFINITY, sum = 0;
      for (int64_t j = 0; j < n; ++j)
        if (!zero || s[j] != 0) m = std::max(m, s[j]);
      for (int64_t j = 0; j < n; ++j) {
        s[j] = zero && s[j] == 0 ? 0 : std::exp(s[j] - m);
        sum += s[j];
      }
      if (sum > 0)
        for (int64_t j = 0; j < n; ++j) s[j] /= sum;
      return;
    }
  }
}

Tensor features(const Node& n, const Tensor& x) {
  if (!is_floating(x.dtype()) && !is_integral(x.dtype()))
    n.error<TypeError>("X must be a tensor of numbers, got ", x.dtype());
  if (x.dim() != 1 && x.dim() != 2) n.error("X must be 1-D or 2-D [N, features], got shape ", x.shape());
  Tensor x2 = x.dim() == 1 ? x.reshape({1, x.numel()}) : x;
  return x2.to(DType::Float64).contiguous();
}

Labels labels_of(const Node& n, const char* ints_attr, const char* strings_attr) {
  Labels l;
  l.is_string = n.has(strings_attr);
  if (l.is_string == n.has(ints_attr)) n.error("exactly one of ", ints_attr, " and ", strings_attr, " must be given");
  if (l.is_string) l.strings = n.strings(strings_attr);
  else l.ints = n.ints(ints_attr);
  if (l.size() == 0) n.error("the class label list is empty");
  return l;
}

Value Labels::make(const std::vector<int64_t>& idx) const {
  const int64_t rows = static_cast<int64_t>(idx.size());
  if (is_string) {
    StringTensor s{{rows}, {}};
    s.data.reserve(idx.size());
    for (auto k : idx) s.data.push_back(strings[static_cast<size_t>(k)]);
    return string_value(std::move(s));
  }
  std::vector<int64_t> v;
  v.reserve(idx.size());
  for (auto k : idx) v.push_back(ints[static_cast<size_t>(k)]);
  return from_vector(v, {rows});
}

}  // namespace ml

namespace {

using namespace ml;

// A 1-D float tensor of `v`, or of its one value repeated `n` times.
Tensor per_feature(const Node& n, const std::vector<double>& v, int64_t features, const char* what, DType dt) {
  if (v.size() == 1 || static_cast<int64_t>(v.size()) == features) return from_vector(v, {static_cast<int64_t>(v.size())}).to(dt);
  n.error(what, " has ", v.size(), " values for ", features, " features (1 or one per feature)");
}

// X and its last dim, for ops that act per feature on [N, F] or [F].
int64_t feature_count(const Node& n, const Tensor& x) {
  if (!is_floating(x.dtype()) && !is_integral(x.dtype()))
    n.error<TypeError>("X must be a tensor of numbers, got ", x.dtype());
  if (x.dim() == 0 || x.dim() > 2) n.error("X must be 1-D or 2-D, got shape ", x.shape());
  return x.shape().back();
}

template <class T>
void dot_rows(const T* x, int64_t rows, int64_t f, const std::vector<double>& w, const std::vector<double>& b,
              int64_t t, double* out) {
  cpu::for_each_index(rows, rows * f * t > 1 << 16, [&](int64_t i) {
    for (int64_t j = 0; j < t; ++j) {
      double acc = b.empty() ? 0.0 : b[static_cast<size_t>(j)];
      const double* wj = w.data() + j * f;
      const T* xi = x + i * f;
      for (int64_t k = 0; k < f; ++k) acc += static_cast<double>(xi[k]) * wj[k];
      out[i * t + j] = acc;
    }
  });
}

// Scores = X W^T + b for a [T * F] coefficient list (row-major [T, F]) in float64,
// [rows * T]; X float32 is read as it is, other dtypes through a float64 copy (features()
// checks the dtype and rank).
std::vector<double> linear_scores(const Node& n, const Tensor& x_in, const std::vector<double>& coef,
                                  const std::vector<double>& icpt, int64_t& rows, int64_t& t) {
  const Tensor x = x_in.dtype() == DType::Float32 && (x_in.dim() == 1 || x_in.dim() == 2)
                       ? (x_in.dim() == 1 ? x_in.reshape({1, x_in.numel()}) : x_in).contiguous()
                       : features(n, x_in);
  const int64_t f = x.shape()[1];
  rows = x.shape()[0];
  if (coef.empty() || f == 0 || static_cast<int64_t>(coef.size()) % f != 0)
    n.error("coefficients has ", coef.size(), " values, not a multiple of the ", f, " features");
  t = static_cast<int64_t>(coef.size()) / f;
  if (!icpt.empty() && static_cast<int64_t>(icpt.size()) != t)
    n.error("intercepts has ", icpt.size(), " values for ", t, " targets");
  std::vector<double> out(static_cast<size_t>(rows * t));
  if (x.dtype() == DType::Float32) dot_rows(x.data<float>(), rows, f, coef, icpt, t, out.data());
  else dot_rows(x.data<double>(), rows, f, coef, icpt, t, out.data());
  return out;
}

std::vector<Value> linear_classifier(const Node& n, const ValueInputs& in, const OpContext&) {
  if (in.empty() || !in[0] || !std::holds_alternative<Tensor>(*in[0])) n.error<TypeError>("X must be a numeric tensor");
  const Tensor& x = std::get<Tensor>(*in[0]);  // checked by linear_scores
  const Labels labels = labels_of(n, "classlabels_ints", "classlabels_strings");
  const Post post = post_of(n, n.s("post_transform", "NONE"));
  int64_t rows = 0, t = 0;
  const std::vector<double> raw = linear_scores(n, x, n.floats("coefficients"), n.floats("intercepts"), rows, t);
  const int64_t c = labels.size();
  // One score column for two classes is the binary form: the columns are [-s, s].
  const bool binary = t == 1 && c == 2;
  if (!binary && t != c)
    n.error("the coefficients give ", t, " score columns for ", c, " class labels (one per class, or 1 for 2 classes)");
  if (binary && post == Post::Probit) n.error<NotImplementedError>("post_transform PROBIT with one score column for two classes");
  const int64_t cols = binary ? 2 : t;
  std::vector<double> scores(static_cast<size_t>(rows * cols));
  std::vector<int64_t> idx(static_cast<size_t>(rows));
  const double* r = raw.data();
  cpu::for_each_index(rows, rows > 2048, [&](int64_t i) {  // per row; nothing here throws
    double* s = scores.data() + i * cols;
    if (binary) {
      // As onnxruntime: [1 - p, p] with p = σ(s) for LOGISTIC, else p = s (the softmaxes
      // do not apply to one column).
      idx[static_cast<size_t>(i)] = r[i] > 0 ? 1 : 0;
      const double p = post == Post::Logistic ? logistic(r[i]) : r[i];
      s[0] = 1 - p, s[1] = p;
      return;
    }
    std::copy(r + i * t, r + (i + 1) * t, s);
    idx[static_cast<size_t>(i)] = std::max_element(s, s + cols) - s;  // the first of equal maxima
    apply_post(post, s, cols);
  });
  return {labels.make(idx), from_vector(scores, {rows, cols}).to(DType::Float32)};
}

// One-hot rows over the categories (int64s or strings) with an extra last dim;
// an unknown value is all zeros, or an error when zeros=0.
std::vector<Value> one_hot_encoder(const Node& n, const ValueInputs& in, const OpContext&) {
  if (in.empty() || !in[0]) n.error("input X is required");
  const bool strs = n.has("cats_strings");
  if (strs == n.has("cats_int64s")) n.error("exactly one of cats_int64s and cats_strings must be given");
  const auto* st = std::get_if<StringPtr>(&*in[0]);
  const auto* tx = std::get_if<Tensor>(&*in[0]);
  if (!st && !tx) n.error<TypeError>("X must be a tensor, got ", value_kind(*in[0]));
  if (strs != (st != nullptr))
    n.error<TypeError>("X is ", st ? "strings" : "numbers", " but the categories are ", strs ? "strings" : "int64s");
  const bool unknown_zero = n.i("zeros", 1) != 0;
  Shape shape = st ? (*st)->shape : tx->shape();
  std::vector<int64_t> pos;  // the category of each element, -1 when unknown
  if (strs) {
    std::unordered_map<std::string, int64_t> at;
    for (const auto& c : n.strings("cats_strings")) at.emplace(c, static_cast<int64_t>(at.size()));
    for (const auto& v : (*st)->data) {
      auto it = at.find(v);
      pos.push_back(it == at.end() ? -1 : it->second);
    }
  } else {
    if (!is_floating(tx->dtype()) && !is_integral(tx->dtype())) n.error<TypeError>("X must be numbers, got ", tx->dtype());
    std::unordered_map<int64_t, int64_t> at;
    for (auto c : n.ints("cats_int64s")) at.emplace(c, static_cast<int64_t>(at.size()));
    for (double v : host_doubles(*tx)) {
      auto it = at.find(static_cast<int64_t>(v));
      pos.push_back(it == at.end() || static_cast<double>(static_cast<int64_t>(v)) != v ? -1 : it->second);
    }
  }
  const int64_t cats = strs ? static_cast<int64_t>(n.strings("cats_strings").size()) : static_cast<int64_t>(n.ints("cats_int64s").size());
  shape.push_back(cats);
  check_size(n, shape, DType::Float32);
  Tensor out = zeros(shape, DType::Float32);
  float* o = out.data<float>();
  for (size_t i = 0; i < pos.size(); ++i) {
    if (pos[i] >= 0) o[static_cast<int64_t>(i) * cats + pos[i]] = 1;
    else if (!unknown_zero) n.error("element ", i, " of X is not one of the ", cats, " categories (zeros=0)");
  }
  return {out};
}

// Class scores [N, C] (or [C]) as N maps {label: score}, a seq(map(K, float)).
std::vector<Value> zip_map(const Node& n, const ValueInputs& in, const OpContext&) {
  if (in.empty() || !in[0] || !std::holds_alternative<Tensor>(*in[0])) n.error<TypeError>("X must be a float tensor");
  const Tensor& x = std::get<Tensor>(*in[0]);
  if (x.dtype() != DType::Float32) n.error<TypeError>("X must be float32, got ", x.dtype());
  if (x.dim() != 1 && x.dim() != 2) n.error("X must be [N, classes] or [classes], got shape ", x.shape());
  const Labels labels = labels_of(n, "classlabels_int64s", "classlabels_strings");
  const Tensor x2 = x.dim() == 1 ? x.reshape({1, x.numel()}) : x;
  if (x2.shape()[1] != labels.size())
    n.error("X has ", x2.shape()[1], " columns for ", labels.size(), " class labels");
  Sequence seq;
  seq.elem = DType::Float32;
  for (int64_t i = 0; i < x2.shape()[0]; ++i) {
    ValueMap m;
    m.by_string = labels.is_string;
    m.int_keys = labels.ints;
    m.string_keys = labels.strings;
    m.values = x2.select(0, i).clone();
    seq.items.emplace_back(std::make_shared<const ValueMap>(std::move(m)));
  }
  return {std::make_shared<const Sequence>(std::move(seq))};
}

const ValueMap& map_input(const Node& n, const ValueInputs& in) {
  if (in.empty() || !in[0] || !std::holds_alternative<MapPtr>(*in[0])) n.error<TypeError>("X must be a map");
  return *std::get<MapPtr>(*in[0]);
}

// A map's values in the order of `keys` (a vocabulary), 0 for a key the map lacks;
// keys outside the vocabulary are dropped. [1, V], as onnxruntime.
std::vector<Value> dict_vectorizer(const Node& n, const ValueInputs& in, const OpContext&) {
  const ValueMap& m = map_input(n, in);
  const Labels vocab = labels_of(n, "int64_vocabulary", "string_vocabulary");
  if (vocab.size() == 0) n.error("needs int64_vocabulary or string_vocabulary");
  if (vocab.is_string != m.by_string)
    n.error<TypeError>("the map has ", m.by_string ? "string" : "int64", " keys but the vocabulary is ",
                       vocab.is_string ? "strings" : "int64s");
  const Tensor vals = m.values.to(DType::Float64).contiguous();
  const double* v = vals.data<double>();
  std::vector<double> out(static_cast<size_t>(vocab.size()), 0.0);
  std::unordered_map<std::string, size_t> by_str;
  std::unordered_map<int64_t, size_t> by_int;
  for (size_t k = 0; k < static_cast<size_t>(vocab.size()); ++k) {
    if (vocab.is_string) by_str.emplace(vocab.strings[k], k);
    else by_int.emplace(vocab.ints[k], k);
  }
  for (size_t k = 0; k < static_cast<size_t>(vals.numel()); ++k) {
    if (m.by_string) {
      if (auto it = by_str.find(m.string_keys[k]); it != by_str.end()) out[it->second] = v[k];
    } else if (auto it = by_int.find(m.int_keys[k]); it != by_int.end()) {
      out[it->second] = v[k];
    }
  }
  return {from_vector<double>(out, {1, vocab.size()}).to(m.values.dtype())};
}

// map(int64, T) to a tensor: the values by increasing key (DENSE), or at their keys'
// positions in [0, max_map) with 0 elsewhere (SPARSE); [1, n], as onnxruntime.
// TO_INT64 truncates toward zero; TO_STRING prints as C's "%f" ("0.f" for a sparse gap).
std::vector<Value> cast_map(const Node& n, const ValueInputs& in, const OpContext&) {
  const ValueMap& m = map_input(n, in);
  if (m.by_string) n.error<TypeError>("X must have int64 keys");
  const std::string to = n.s("cast_to", "TO_FLOAT"), form = n.s("map_form", "DENSE");
  if (to != "TO_FLOAT" && to != "TO_INT64" && to != "TO_STRING")
    n.error("cast_to must be TO_FLOAT, TO_INT64 or TO_STRING, got '", to, "'");
  if (form != "DENSE" && form != "SPARSE") n.error("map_form must be DENSE or SPARSE, got '", form, "'");
  const Tensor vals = m.values.to(DType::Float64).contiguous();
  const double* v = vals.data<double>();
  std::vector<std::pair<int64_t, double>> items;
  for (size_t k = 0; k < static_cast<size_t>(vals.numel()); ++k) items.emplace_back(m.int_keys[k], v[k]);
  std::sort(items.begin(), items.end());
  std::vector<double> out;
  std::vector<bool> present;
  if (form == "DENSE") {
    for (const auto& [key, x] : items) out.push_back(x);
    present.assign(out.size(), true);
  } else {
    const int64_t size = n.i("max_map", 1);
    if (size < 1) n.error("max_map must be positive, got ", size);
    out.assign(static_cast<size_t>(size), 0.0);
    present.assign(out.size(), false);
    for (const auto& [key, x] : items) {
      if (key < 0 || key >= size) n.error("key ", key, " is outside [0, max_map=", size, ")");
      out[static_cast<size_t>(key)] = x;
      present[static_cast<size_t>(key)] = true;
    }
  }
  const int64_t len = static_cast<int64_t>(out.size());
  if (to == "TO_STRING") {
    StringTensor s{{1, len}, {}};
    for (size_t k = 0; k < out.size(); ++k) {
      char buf[512];
      std::snprintf(buf, sizeof buf, "%f", out[k]);
      s.data.emplace_back(present[k] ? buf : "0.f");  // onnxruntime's filler for a missing key
    }
    return {string_value(std::move(s))};
  }
  if (to == "TO_INT64") {
    std::vector<int64_t> ints;
    for (double x : out) ints.push_back(static_cast<int64_t>(std::trunc(x)));
    return {from_vector<int64_t>(ints, {1, len})};
  }
  return {from_vector<double>(out, {1, len}).to(DType::Float32)};
}

}  // namespace

void register_ml_ops(std::map<std::string, OpFn>& t) {
  // 1 where X > threshold, else 0, in X's dtype.
  t["ai.onnx.ml.Binarizer"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    if (!is_floating(x.dtype()) && !is_integral(x.dtype()))
      n.error<TypeError>("X must be a number tensor, got ", x.dtype());
    return std::vector<Tensor>{gt(x, Scalar(n.f("threshold", 0.0))).to(x.dtype())};
  };
  // Picks entries of the last axis; a 1-D input gives [1, n] (as onnxruntime).
  t["ai.onnx.ml.ArrayFeatureExtractor"] = [](const Node& n, const Inputs& in, const OpContext&) {
    Tensor x = input(n, in, 0);
    const Tensor& idx = input(n, in, 1);
    if (idx.dtype() != DType::Int64) n.error<TypeError>("indices must be int64, got ", idx.dtype());
    if (x.dim() == 0) n.error("X must have at least 1 dim");
    if (x.dim() == 1) x = x.unsqueeze(0);
    const int64_t size = x.shape().back();
    Tensor flat = idx.reshape({-1}).contiguous();
    if (flat.numel() == 0) n.error("indices must not be empty");
    const int64_t* ip = flat.data<int64_t>();  // a handful of indices: checked on the host, no reductions
    for (int64_t k = 0; k < flat.numel(); ++k)
      if (ip[k] < 0 || ip[k] >= size) n.error("index ", ip[k], " is out of range for a last axis of size ", size);
    return std::vector<Tensor>{index_select(x, x.dim() - 1, flat)};
  };
  // (X - offset) * scale per feature, in float32 (as onnxruntime).
  t["ai.onnx.ml.Scaler"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    const int64_t f = feature_count(n, x);
    const std::vector<double> offv = n.floats("offset", {0.0}), scv = n.floats("scale", {1.0});
    const Tensor off = per_feature(n, offv, f, "offset", DType::Float32);
    const Tensor sc = per_feature(n, scv, f, "scale", DType::Float32);
    if (x.device().is_cpu() && x.dtype() == DType::Float32 && x.is_contiguous() && x.numel() > 0) {
      // One pass (a served model's rows are a few features each: three op calls cost
      // more than the arithmetic), the same float32 steps as the ops below.
      Tensor y = empty(x.shape(), TensorOptions(DType::Float32));
      const float* xp = x.data<float>();
      const float* op = off.data<float>();
      const float* sp = sc.data<float>();
      float* yp = y.data<float>();
      const int64_t os = off.numel() == 1 ? 0 : 1, ss = sc.numel() == 1 ? 0 : 1;
      for (int64_t i = 0; i < x.numel(); i += f)
        for (int64_t j = 0; j < f; ++j) yp[i + j] = (xp[i + j] - op[j * os]) * sp[j * ss];
      return one(y);
    }
    return one(mul(sub(x.to(DType::Float32), off), sc));
  };
  // Each row divided by its max |x|, sum |x| or 2-norm, in float32. MAX is max |x| as in
  // scikit-learn and the ONNX reference (onnxruntime 1.32 divides by the signed max).
  t["ai.onnx.ml.Normalizer"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    feature_count(n, x);
    const std::string norm = n.s("norm", "MAX");
    if (norm != "MAX" && norm != "L1" && norm != "L2") n.error("norm '", norm, "' is not one of MAX, L1, L2");
    if (x.device().is_cpu() && x.dtype() == DType::Float32 && x.is_contiguous() && x.numel() > 0) {
      // One pass per row (as Scaler above); a NaN in a row makes its divisor NaN, as amax does.
      const int64_t f = x.shape().back();
      const bool max = norm == "MAX", l1 = norm == "L1";
      Tensor y = empty(x.shape(), TensorOptions(DType::Float32));
      const float* xp = x.data<float>();
      float* yp = y.data<float>();
      for (int64_t i = 0; i < x.numel(); i += f) {
        float d = 0;
        if (max) {
          for (int64_t j = 0; j < f; ++j) {
            const float a = std::fabs(xp[i + j]);
            if (a > d || a != a) d = a;
            if (d != d) break;
          }
        } else {
          float acc = 0;
          for (int64_t j = 0; j < f; ++j) acc += l1 ? std::fabs(xp[i + j]) : xp[i + j] * xp[i + j];
          d = l1 ? acc : std::sqrt(acc);
        }
        d = d != d ? d : std::max(d, 1e-30f);
        for (int64_t j = 0; j < f; ++j) yp[i + j] = xp[i + j] / d;
      }
      return one(y);
    }
    Tensor xf = x.to(DType::Float32), d;
    const int64_t last = x.dim() - 1;
    if (norm == "MAX") d = amax(abs(xf), {last}, true);
    else if (norm == "L1") d = sum(abs(xf), {last}, true);
    else if (norm == "L2") d = sqrt(sum(mul(xf, xf), {last}, true));
    else n.error("norm '", norm, "' is not one of MAX, L1, L2");
    return one(div(xf, clamp(d, std::optional<Scalar>(Scalar(1e-30)), std::nullopt)));
  };
  // Replaces `replaced_value_*` (NaN by default for floats) by a per-feature value.
  t["ai.onnx.ml.Imputer"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    const int64_t f = feature_count(n, x);
    const bool floats = !n.floats("imputed_value_floats").empty();
    const bool ints = !n.ints("imputed_value_int64s").empty();
    if (floats == ints) n.error("exactly one of imputed_value_floats and imputed_value_int64s must be given");
    if (floats != is_floating(x.dtype()))
      n.error<TypeError>("imputed values are ", floats ? "floats" : "int64s", " but X is ", x.dtype());
    Tensor vals, hit;
    if (floats) {
      vals = per_feature(n, n.floats("imputed_value_floats"), f, "imputed_value_floats", x.dtype());
      const double r = n.f("replaced_value_float", 0.0);
      hit = std::isnan(r) ? isnan(x) : eq(x, Scalar(r));
    } else {
      const auto v = n.ints("imputed_value_int64s");
      if (v.size() != 1 && static_cast<int64_t>(v.size()) != f)
        n.error("imputed_value_int64s has ", v.size(), " values for ", f, " features");
      vals = from_vector(v, {static_cast<int64_t>(v.size())}).to(x.dtype());
      hit = eq(x, Scalar(n.i("replaced_value_int64", 0)));
    }
    return one(where(hit, broadcast_to(vals, x.shape()), x));
  };
  // X W^T + b per target, float32 [N, targets].
  t["ai.onnx.ml.LinearRegressor"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);  // checked by linear_scores
    const int64_t targets = n.i("targets", 1);
    int64_t rows = 0, t = 0;
    std::vector<double> s = linear_scores(n, x, n.floats("coefficients"), n.floats("intercepts"), rows, t);
    if (t != targets) n.error("the coefficients give ", t, " targets, not targets=", targets);
    const Post post = post_of(n, n.s("post_transform", "NONE"));
    if (post != Post::None)
      for (int64_t i = 0; i < rows; ++i) apply_post(post, s.data() + i * t, t);
    return one(from_vector(s, {rows, t}).to(DType::Float32));
  };
  register_tree_ops(t);
  register_svm_ops(t);
}

void register_ml_value_ops(std::map<std::string, ValueOpFn>& t) {
  // Label (int64 or string) and per-class scores of a linear model.
  t["ai.onnx.ml.LinearClassifier"] = linear_classifier;
  // X may be strings: an op on values.
  t["ai.onnx.ml.OneHotEncoder"] = one_hot_encoder;
  t["ai.onnx.ml.ZipMap"] = zip_map;
  t["ai.onnx.ml.DictVectorizer"] = dict_vectorizer;  // map inputs
  t["ai.onnx.ml.CastMap"] = cast_map;
  register_tree_value_ops(t);
  register_svm_value_ops(t);
}

}  // namespace tessel::onnx
