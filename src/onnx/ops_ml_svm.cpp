// Support vector machines of the ONNX-ML domain (what skl2onnx writes for SVC,
// NuSVC, SVR, NuSVR and OneClassSVM): SVMClassifier (one-vs-one votes over the
// support-vector kernels, Platt probabilities coupled pairwise as libsvm does)
// and SVMRegressor. Parsed and checked once at load; sums in float64. Where the
// spec is vague (binary score columns, labels) the results follow onnxruntime.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/vecmath.h"
#include "src/onnx/ml_internal.h"

namespace tessel::onnx {
namespace {

using namespace ml;

enum class Kernel { Linear, Poly, Rbf, Sigmoid };
// Rows per kernel matmul: bounds the [rows, support vectors] kernel block.
constexpr int64_t kRowBlock = 256;

struct Svm : NodePrep {
  Kernel kernel = Kernel::Linear;
  double gamma = 0, coef0 = 0, degree = 0;
  int64_t features = 0;
  int64_t vectors = 0;              // support vectors (0: a linear model on `coef`)
  std::vector<double> sv;           // [vectors, features]
  std::vector<double> coef;         // classifier: [classes - 1, vectors] or [classes, features]; regressor: [vectors] or [features]
  std::vector<double> rho;
  // Classifier.
  Labels labels;
  std::vector<int64_t> per_class, start;  // support vectors of each class, and where they start
  std::vector<double> prob_a, prob_b;
  bool all_positive = true;
  // Regressor.
  bool one_class = false;
  Post post = Post::None;

  Tensor svt;                     // support vectors transposed, [features, vectors] float64, for one matmul per block
  std::vector<double> sv_norm2;   // |sv|^2 of each support vector (RBF)

  // The kernel from a dot product x.y (and |x|^2 + |y|^2 for RBF).
  double kernel_from(double dot, double norms) const {
    switch (kernel) {
      case Kernel::Rbf: return std::exp(-gamma * std::max(norms - 2 * dot, 0.0));
      case Kernel::Poly: return std::pow(gamma * dot + coef0, degree);
      case Kernel::Sigmoid: return std::tanh(gamma * dot + coef0);
      default: return dot;
    }
  }
  double kernel_of(const double* x, const double* y) const {
    double s = 0;
    if (kernel == Kernel::Rbf) {
      for (int64_t k = 0; k < features; ++k) s += (x[k] - y[k]) * (x[k] - y[k]);
      return std::exp(-gamma * s);
    }
    for (int64_t k = 0; k < features; ++k) s += x[k] * y[k];
    if (kernel == Kernel::Poly) return std::pow(gamma * s + coef0, degree);
    if (kernel == Kernel::Sigmoid) return std::tanh(gamma * s + coef0);
    return s;
  }
};

Kernel kernel_of(const Node& n) {
  const std::string k = n.s("kernel_type", "LINEAR");
  if (k == "LINEAR") return Kernel::Linear;
  if (k == "POLY") return Kernel::Poly;
  if (k == "RBF") return Kernel::Rbf;
  if (k == "SIGMOID") return Kernel::Sigmoid;
  n.error("kernel_type '", k, "' is not one of LINEAR, POLY, RBF, SIGMOID");
}

void common(const Node& n, Svm& s) {
  s.kernel = kernel_of(n);
  const auto kp = n.floats("kernel_params");
  if (!kp.empty() && kp.size() != 3) n.error("kernel_params has ", kp.size(), " values (gamma, coef0, degree)");
  if (kp.size() == 3) s.gamma = kp[0], s.coef0 = kp[1], s.degree = kp[2];
  s.coef = n.floats("coefficients");
  s.rho = n.floats("rho");
  if (s.coef.empty()) n.error("coefficients is empty");
  if (s.rho.empty()) n.error("rho is empty");
  s.post = post_of(n, n.s("post_transform", "NONE"));
}

// Support vectors [vectors, features]: their count must divide the list.
void support_vectors(const Node& n, Svm& s) {
  s.sv = n.floats("support_vectors");
  if (s.sv.empty() || s.sv.size() % static_cast<size_t>(s.vectors) != 0)
    n.error("support_vectors has ", s.sv.size(), " values, not a multiple of the ", s.vectors, " support vectors");
  s.features = static_cast<int64_t>(s.sv.size()) / s.vectors;
  s.svt = from_vector(s.sv, {s.vectors, s.features}).transpose(0, 1).contiguous();
  for (int64_t m = 0; m < s.vectors; ++m) {
    double q = 0;
    for (int64_t k = 0; k < s.features; ++k) q += s.sv[static_cast<size_t>(m * s.features + k)] * s.sv[static_cast<size_t>(m * s.features + k)];
    s.sv_norm2.push_back(q);
  }
}

// Dot products of rows x [len, f] with the support vectors svt [f, v] into d [len, v],
// for the few rows of a small batch: a call of matmul costs more there (5.3 us for one
// row against 1,016 vectors of 20 features, float64).
TESSEL_CLONES void dots_small(const double* x, const double* svt, int64_t len, int64_t f, int64_t v, double* d) {
  // Blocks of 32 vectors summed in registers over the features: the block's row of
  // svt is the only load per multiply-add (a pass per feature over all of d would
  // load and store d as well).
  constexpr int64_t kBlock = 32;
  for (int64_t r = 0; r < len; ++r) {
    const double* xr = x + r * f;
    double* dr = d + r * v;
    int64_t m0 = 0;
    for (; m0 + kBlock <= v; m0 += kBlock) {
      double acc[kBlock] = {};
      for (int64_t j = 0; j < f; ++j) {
        const double xj = xr[j];
        const double* row = svt + j * v + m0;
        for (int64_t m = 0; m < kBlock; ++m) acc[m] += xj * row[m];
      }
      std::copy(acc, acc + kBlock, dr + m0);
    }
    for (int64_t m = m0; m < v; ++m) {
      double acc = 0;
      for (int64_t j = 0; j < f; ++j) acc += xr[j] * svt[j * v + m];
      dr[m] = acc;
    }
  }
}

// The kernel of each row of x with each support vector, rows [i0, i1): the dot
// products from one matmul (as onnxruntime does through GEMM; a plain loop for a few
// rows), then the kernel elementwise, RBF's exp on the vector math table.
std::vector<double> kernel_block(const Svm& s, const Tensor& x, int64_t i0, int64_t i1) {
  const int64_t v = s.vectors, f = s.features, len = i1 - i0;
  const Tensor xb = x.narrow(0, i0, len).contiguous();
  const double* xp = xb.data<double>();
  std::vector<double> k(static_cast<size_t>(len * v));
  Tensor d;
  const double* dp = k.data();
  if (len <= 4) {
    dots_small(xp, s.svt.data<double>(), len, f, v, k.data());
  } else {
    d = matmul(xb, s.svt).contiguous();
    dp = d.data<double>();
  }
  const cpu::vecmath::Table* vm = s.kernel == Kernel::Rbf ? cpu::vecmath::table() : nullptr;
  cpu::for_each_index(len, len * v > 1 << 14, [&](int64_t r) {
    double xn = 0;
    if (s.kernel == Kernel::Rbf)
      for (int64_t j = 0; j < f; ++j) xn += xp[r * f + j] * xp[r * f + j];
    double* kr = k.data() + r * v;
    const double* dr = dp + r * v;
    if (vm) {
      for (int64_t m = 0; m < v; ++m) kr[m] = -s.gamma * std::max(xn + s.sv_norm2[static_cast<size_t>(m)] - 2 * dr[m], 0.0);
      vm->f64[cpu::vecmath::Exp](kr, kr, v, {});
    } else {
      for (int64_t m = 0; m < v; ++m) kr[m] = s.kernel_from(dr[m], xn + s.sv_norm2[static_cast<size_t>(m)]);
    }
  });
  return k;
}

std::shared_ptr<Svm> parse_classifier(const Node& n) {
  auto s = std::make_shared<Svm>();
  common(n, *s);
  s->labels = labels_of(n, "classlabels_ints", "classlabels_strings");
  const int64_t c = s->labels.size();
  if (c < 2) n.error("an SVM classifier needs at least 2 class labels, got ", c);
  s->per_class = n.ints("vectors_per_class");
  for (auto v : s->per_class) {
    if (v < 0) n.error("vectors_per_class has a negative count ", v);
    s->start.push_back(s->vectors);
    s->vectors += v;
  }
  s->prob_a = n.floats("prob_a");
  s->prob_b = n.floats("prob_b");
  if (s->prob_a.size() != s->prob_b.size())
    n.error("prob_a has ", s->prob_a.size(), " values and prob_b ", s->prob_b.size());
  const auto pairs = static_cast<size_t>(c * (c - 1) / 2);
  if (s->vectors > 0) {
    if (static_cast<int64_t>(s->per_class.size()) != c)
      n.error("vectors_per_class has ", s->per_class.size(), " counts for ", c, " class labels");
    support_vectors(n, *s);
    if (s->coef.size() < static_cast<size_t>((c - 1) * s->vectors))
      n.error("coefficients has ", s->coef.size(), " values; ", c - 1, " x ", s->vectors, " are needed");
    if (s->rho.size() < pairs) n.error("rho has ", s->rho.size(), " values for ", pairs, " class pairs");
    if (!s->prob_a.empty() && s->prob_a.size() < pairs)
      n.error("prob_a has ", s->prob_a.size(), " values for ", pairs, " class pairs");
  } else {
    // liblinear's form: one coefficient row per class, a linear kernel.
    s->kernel = Kernel::Linear;
    if (s->coef.size() % static_cast<size_t>(c) != 0)
      n.error("coefficients has ", s->coef.size(), " values, not a multiple of the ", c, " classes");
    s->features = static_cast<int64_t>(s->coef.size()) / c;
  }
  for (double w : s->coef) s->all_positive = s->all_positive && w >= 0;
  return s;
}

std::shared_ptr<Svm> parse_regressor(const Node& n) {
  auto s = std::make_shared<Svm>();
  common(n, *s);
  s->vectors = n.i("n_supports", 0);
  s->one_class = n.i("one_class", 0) != 0;
  if (s->vectors < 0) n.error("n_supports is negative");
  if (s->vectors > 0) {
    support_vectors(n, *s);
    if (static_cast<int64_t>(s->coef.size()) < s->vectors)
      n.error("coefficients has ", s->coef.size(), " values for ", s->vectors, " support vectors");
  } else {
    s->kernel = Kernel::Linear;
    s->features = static_cast<int64_t>(s->coef.size());
  }
  return s;
}

std::shared_ptr<const Svm> svm_of(const Node& n) {
  if (auto p = std::dynamic_pointer_cast<const Svm>(n.prep)) return p;
  return n.op_type == "SVMClassifier" ? parse_classifier(n) : parse_regressor(n);
}

Tensor checked_x(const Node& n, const Svm& s, const Tensor& x_in) {
  Tensor x = features(n, x_in);
  if (x.shape()[1] != s.features) n.error("X has ", x.shape()[1], " features; the model has ", s.features);
  return x;
}

// Class probabilities from the pairwise ones r[i][j] (libsvm's coupling: the
// fixed point of Q p = (p'Qp) 1 by coordinate steps, Wu, Lin and Weng 2004).
void couple(int64_t k, const std::vector<double>& r, double* p) {
  std::vector<double> q(static_cast<size_t>(k * k)), qp(static_cast<size_t>(k));
  auto R = [&](int64_t i, int64_t j) { return r[static_cast<size_t>(i * k + j)]; };
  for (int64_t t = 0; t < k; ++t) {
    p[t] = 1.0 / static_cast<double>(k);
    double d = 0;
    for (int64_t j = 0; j < k; ++j)
      if (j != t) d += R(j, t) * R(j, t);
    q[static_cast<size_t>(t * k + t)] = d;
    for (int64_t j = 0; j < k; ++j)
      if (j != t) q[static_cast<size_t>(t * k + j)] = -R(j, t) * R(t, j);
  }
  const double eps = 0.005 / static_cast<double>(k);
  for (int64_t it = 0, iters = std::max<int64_t>(100, k); it < iters; ++it) {
    double pqp = 0;
    for (int64_t t = 0; t < k; ++t) {
      qp[static_cast<size_t>(t)] = 0;
      for (int64_t j = 0; j < k; ++j) qp[static_cast<size_t>(t)] += q[static_cast<size_t>(t * k + j)] * p[j];
      pqp += p[t] * qp[static_cast<size_t>(t)];
    }
    double worst = 0;
    for (int64_t t = 0; t < k; ++t) worst = std::max(worst, std::abs(qp[static_cast<size_t>(t)] - pqp));
    if (worst < eps) break;
    for (int64_t t = 0; t < k; ++t) {
      const double qtt = q[static_cast<size_t>(t * k + t)];
      const double diff = (-qp[static_cast<size_t>(t)] + pqp) / qtt;
      p[t] += diff;
      pqp = (pqp + diff * (diff * qtt + 2 * qp[static_cast<size_t>(t)])) / (1 + diff) / (1 + diff);
      for (int64_t j = 0; j < k; ++j) {
        qp[static_cast<size_t>(j)] = (qp[static_cast<size_t>(j)] + diff * q[static_cast<size_t>(t * k + j)]) / (1 + diff);
        p[j] /= 1 + diff;
      }
    }
  }
}

std::vector<Value> classify(const Node& n, const ValueInputs& in, const OpContext&) {
  if (in.empty() || !in[0] || !std::holds_alternative<Tensor>(*in[0])) n.error<TypeError>("X must be a numeric tensor");
  const auto s = svm_of(n);
  const Tensor x = checked_x(n, *s, std::get<Tensor>(*in[0]));
  const int64_t rows = x.shape()[0], c = s->labels.size(), f = s->features, v = s->vectors;
  const int64_t pairs = c * (c - 1) / 2;
  const bool svc = v > 0, proba = svc && !s->prob_a.empty();
  if (svc && c == 2 && !proba && s->post == Post::Probit)
    n.error<NotImplementedError>("post_transform PROBIT with one score column for two classes");
  // Columns of the scores: probabilities or linear scores per class; else the pair scores (2 for a binary SVC).
  const int64_t cols = !svc || proba ? c : c > 2 ? pairs : 2;
  std::vector<double> out(static_cast<size_t>(rows * cols));
  std::vector<int64_t> idx(static_cast<size_t>(rows));
  const double* xp = x.data<double>();
  for (int64_t i0 = 0; i0 < rows; i0 += kRowBlock) {
  const int64_t i1 = std::min(rows, i0 + kRowBlock);
  const std::vector<double> kb = svc ? kernel_block(*s, x, i0, i1) : std::vector<double>{};
  cpu::for_each_index(i1 - i0, (i1 - i0) * std::max<int64_t>(v, c) > 1 << 14, [&](int64_t i_) {
    const int64_t i = i0 + i_;
    const double* xi = xp + i * f;
    double* o = out.data() + i * cols;
    double top = 0;  // the best linear score (0 for an SVC: its label comes from the votes)
    int64_t best = 0;
    if (!svc) {
      for (int64_t j = 0; j < c; ++j) o[j] = s->kernel_of(xi, s->coef.data() + j * f) + s->rho[0];
      best = std::max_element(o, o + c) - o;
      top = o[best];
    } else {
      const double* k = kb.data() + (i - i0) * v;
      std::vector<double> pair(static_cast<size_t>(pairs));
      std::vector<int64_t> votes(static_cast<size_t>(c), 0);
      int64_t p = 0;
      for (int64_t a = 0; a < c; ++a)
        for (int64_t b = a + 1; b < c; ++b, ++p) {
          // Class a's vectors weigh in with coefficient row b - 1, class b's with row a.
          double sum = s->rho[static_cast<size_t>(p)];
          for (int64_t m = 0; m < s->per_class[static_cast<size_t>(a)]; ++m) {
            const int64_t sv = s->start[static_cast<size_t>(a)] + m;
            sum += s->coef[static_cast<size_t>((b - 1) * v + sv)] * k[sv];
          }
          for (int64_t m = 0; m < s->per_class[static_cast<size_t>(b)]; ++m) {
            const int64_t sv = s->start[static_cast<size_t>(b)] + m;
            sum += s->coef[static_cast<size_t>(a * v + sv)] * k[sv];
          }
          pair[static_cast<size_t>(p)] = sum;
          ++votes[static_cast<size_t>(sum > 0 ? a : b)];
        }
      best = std::max_element(votes.begin(), votes.end()) - votes.begin();
      if (proba) {
        std::vector<double> r(static_cast<size_t>(c * c), 0.0);
        p = 0;
        for (int64_t a = 0; a < c; ++a)
          for (int64_t b = a + 1; b < c; ++b, ++p) {
            // Platt's sigmoid 1 / (1 + e^(A s + B)), kept inside (1e-7, 1 - 1e-7).
            const double e = pair[static_cast<size_t>(p)] * s->prob_a[static_cast<size_t>(p)] + s->prob_b[static_cast<size_t>(p)];
            const double q = std::clamp(1 - logistic(e), 1e-7, 1 - 1e-7);
            r[static_cast<size_t>(a * c + b)] = q;
            r[static_cast<size_t>(b * c + a)] = 1 - q;
          }
        couple(c, r, o);
      } else if (c > 2) {
        std::copy(pair.begin(), pair.end(), o);
      } else {
        // One pair score for two classes, as onnxruntime writes it: [-s, s] without a
        // transform, else [1 - s, s].
        const double sc = pair[0];
        o[0] = s->post == Post::None ? -sc : 1 - sc, o[1] = sc;
      }
    }
    // Two classes: onnxruntime's choice between the labels (by the best linear score's
    // size, else the best class).
    if (c == 2 && !proba && !svc)
      best = (s->all_positive && top >= 0.5) || (!s->all_positive && top > 0) ? 1 : best;
    idx[static_cast<size_t>(i)] = best;
    if (!(svc && c == 2 && !proba)) apply_post(s->post, o, cols);
  });
  }
  return {s->labels.make(idx), from_vector(out, {rows, cols}).to(DType::Float32)};
}

std::vector<Tensor> regress(const Node& n, const Inputs& in, const OpContext&) {
  const auto s = svm_of(n);
  const Tensor x = checked_x(n, *s, input(n, in, 0));
  const int64_t rows = x.shape()[0], f = s->features;
  std::vector<double> out(static_cast<size_t>(rows));
  const double* xp = x.data<double>();
  const int64_t v = s->vectors;
  for (int64_t i0 = 0; i0 < rows; i0 += kRowBlock) {
    const int64_t i1 = std::min(rows, i0 + kRowBlock);
    const std::vector<double> kb = v > 0 ? kernel_block(*s, x, i0, i1) : std::vector<double>{};
    cpu::for_each_index(i1 - i0, (i1 - i0) * std::max<int64_t>(v, f) > 1 << 14, [&](int64_t i_) {
      const int64_t i = i0 + i_;
      double sum = s->rho[0];
      if (v > 0)
        for (int64_t m = 0; m < v; ++m) sum += s->coef[static_cast<size_t>(m)] * kb[static_cast<size_t>((i - i0) * v + m)];
      else
        sum += s->kernel_of(xp + i * f, s->coef.data());
      if (s->one_class) sum = sum > 0 ? 1 : -1;
      else if (s->post == Post::Probit) sum = probit(sum);  // one target: only PROBIT applies, as for the trees
      out[static_cast<size_t>(i)] = sum;
    });
  }
  return one(from_vector(out, {rows, 1}).to(DType::Float32));
}

}  // namespace

void register_svm_ops(std::map<std::string, OpFn>& t) { t["ai.onnx.ml.SVMRegressor"] = regress; }
void register_svm_value_ops(std::map<std::string, ValueOpFn>& t) { t["ai.onnx.ml.SVMClassifier"] = classify; }

void prepare_svm_nodes(std::vector<Node>& nodes) {
  for (auto& n : nodes)
    if (n.domain == "ai.onnx.ml" && (n.op_type == "SVMClassifier" || n.op_type == "SVMRegressor"))
      n.prep = std::const_pointer_cast<Svm>(svm_of(n));
}

}  // namespace tessel::onnx
