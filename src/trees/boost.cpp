// Gradient-boosted oblivious trees (include/tessel/trees.h).
//
// Layout: the training rows' bins are uint8 [N, F] (row-major: one pass over
// the rows fills the histograms of a range of features); a level's
// histograms are [node][bin][g.. K, h.. K] in double. Each thread owns a range
// of features, for the histograms and for the split search, and the best
// split is reduced in feature order: the trees do not depend on the thread
// count.
#include "tessel/trees.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "tessel/error.h"
#include "tessel/ops.h"

namespace tessel::trees {
namespace {

constexpr const char* kOp = "trees.Booster";

std::vector<float> column_borders(std::vector<float> v, int64_t max_bins) {
  v.erase(std::remove_if(v.begin(), v.end(), [](float a) { return std::isnan(a); }), v.end());
  std::sort(v.begin(), v.end());
  std::vector<float> u;
  for (float a : v)
    if (u.empty() || a != u.back()) u.push_back(a);
  std::vector<float> b;
  auto mid = [](float a, float c) {
    float m = static_cast<float>((static_cast<double>(a) + c) / 2);
    return m < c ? m : a;  // a border equal to a keeps a on the left: x > border decides
  };
  if (static_cast<int64_t>(u.size()) <= max_bins) {
    for (size_t i = 1; i < u.size(); ++i) b.push_back(mid(u[i - 1], u[i]));
    return b;
  }
  // Quantiles of the rows: a border after each max_bins-th row, where the value changes.
  const size_t n = v.size();
  for (int64_t q = 1; q < max_bins; ++q) {
    size_t i = static_cast<size_t>(static_cast<double>(q) * n / max_bins);
    if (i == 0 || i >= n) continue;
    // move to where the value changes so that one border separates distinct values
    while (i < n && v[i] == v[i - 1]) ++i;
    if (i >= n) break;
    float m = mid(v[i - 1], v[i]);
    if (b.empty() || m > b.back()) b.push_back(m);
  }
  return b;
}

inline uint8_t bin_of(const std::vector<float>& borders, float x) {
  // the number of borders below x (NaN: 0, the left of every split)
  return static_cast<uint8_t>(std::lower_bound(borders.begin(), borders.end(), x) - borders.begin());
}

// G^2 / (H + l2), 0 for a side without rows (H + l2 is 0 there when l2 is 0; a difference of histograms
// may leave it a rounding error from 0)
inline double score_of(double g, double hl2) { return hl2 > 1e-12 ? g * g / hl2 : 0.0; }

double softplus(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }

}  // namespace

struct Booster::Impl {
  BoostOptions o;
  int64_t n = 0, nf = 0, nv = 0;
  int64_t k = 1;        // outputs trained: 1 (regression, binary) or num_classes
  int64_t classes = 0;  // 0 for regression
  std::vector<std::vector<float>> borders;
  std::vector<int64_t> offset;  // first bin of each feature in a node's histogram
  int64_t total_bins = 0;
  std::vector<uint8_t> bins, vbins;
  std::vector<float> y, yv;  // targets, or class ids as floats
  std::vector<double> pred, vpred, bias;
  std::vector<float> g, h;
  std::vector<double> hist, prev;  // kept between trees: a fresh multi-MB buffer per level cost page faults
  // the trees
  int64_t trees = 0;
  std::vector<int64_t> feat;
  std::vector<int32_t> border;  // the border index of each split (-1: no split, all left)
  std::vector<float> thr, leaves;
  // losses after each tree
  double train_loss = NAN, val_loss = NAN, best_val = INFINITY;
  int64_t best = 0;
  bool stopped = false;
  std::mt19937_64 rng;

  double loss_of(const std::vector<double>& p, const std::vector<float>& t, int64_t rows) const {
    double s = 0;
    for (int64_t i = 0; i < rows; ++i) {
      const double* f = &p[i * k];
      if (classes == 0) {
        const double d = f[0] - t[i];
        s += d * d;
      } else if (k == 1) {
        s += t[i] > 0.5f ? softplus(-f[0]) : softplus(f[0]);
      } else {
        double m = *std::max_element(f, f + k), z = 0;
        for (int64_t c = 0; c < k; ++c) z += std::exp(f[c] - m);
        s += m + std::log(z) - f[static_cast<int64_t>(t[i])];
      }
    }
    return rows ? s / rows : NAN;
  }

  void gradients() {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const double* f = &pred[i * k];
      float* gi = &g[i * k];
      float* hi = &h[i * k];
      if (classes == 0) {
        gi[0] = static_cast<float>(f[0] - y[i]);
        hi[0] = 1.f;
      } else if (k == 1) {
        const double p = 1 / (1 + std::exp(-f[0]));
        gi[0] = static_cast<float>(p - y[i]);
        hi[0] = static_cast<float>(std::max(p * (1 - p), 1e-16));
      } else {
        double m = *std::max_element(f, f + k), z = 0;
        for (int64_t c = 0; c < k; ++c) z += std::exp(f[c] - m);
        const int64_t t = static_cast<int64_t>(y[i]);
        for (int64_t c = 0; c < k; ++c) {
          const double p = std::exp(f[c] - m) / z;
          gi[c] = static_cast<float>(p - (c == t ? 1.0 : 0.0));
          hi[c] = static_cast<float>(std::max(p * (1 - p), 1e-16));
        }
      }
    }
  }

  // Histograms of the 2^lv nodes of level lv over the active features. From the second level on only the
  // rows on the smaller side of the last split are summed (`side`: their bit lv - 1); each other node is its
  // parent's histogram (`prev`, the last level's) minus its sibling's.
  void histograms(const std::vector<int32_t>& node, int64_t lv, int side, const std::vector<int64_t>& active) {
    const int64_t w = 2 * k, nodes = int64_t{1} << lv, cells = total_bins * w;
    hist.assign(static_cast<size_t>(nodes * cells), 0.0);
    const int64_t na = static_cast<int64_t>(active.size());
    const int nt = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), std::max<int64_t>(1, na)));
    const bool par = nt > 1 && n * na * k >= 20000;
    const int shift = lv > 0 ? static_cast<int>(lv - 1) : 0;
#pragma omp parallel num_threads(nt) if (par)
    {
      const int t = omp_get_thread_num(), T = omp_get_num_threads();
      const int64_t a0 = na * t / T, a1 = na * (t + 1) / T;
      for (int64_t i = 0; i < n; ++i) {
        if (lv > 0 && ((node[i] >> shift) & 1) != side) continue;
        const float* gi = &g[i * k];
        const float* hi = &h[i * k];
        const uint8_t* bi = &bins[i * nf];
        double* base = &hist[static_cast<size_t>(node[i] * cells)];
        for (int64_t a = a0; a < a1; ++a) {
          const int64_t f = active[a];
          double* cell = base + (offset[f] + bi[f]) * w;
          for (int64_t c = 0; c < k; ++c) {
            cell[c] += gi[c];
            cell[k + c] += hi[c];
          }
        }
      }
    }
    if (lv == 0) return;
    const int64_t half = nodes / 2;
    for (int64_t p = 0; p < half; ++p) {
      const double* parent = &prev[static_cast<size_t>(p * cells)];
      const double* built = &hist[static_cast<size_t>((p + side * half) * cells)];
      double* other = &hist[static_cast<size_t>((p + (1 - side) * half) * cells)];
      for (int64_t j = 0; j < cells; ++j) other[j] = parent[j] - built[j];
    }
  }

  // The (feature, border) with the largest summed gain over the nodes; {-1, -1} when no feature splits.
  std::pair<int64_t, int32_t> best_split(const std::vector<double>& hist, int64_t nodes,
                                         const std::vector<int64_t>& active) {
    const int64_t w = 2 * k;
    const double l2 = o.l2;
    const int64_t na = static_cast<int64_t>(active.size());
    std::vector<double> fscore(na, -INFINITY);
    std::vector<int32_t> fborder(na, -1);
#pragma omp parallel for schedule(dynamic, 1) if (na > 1 && nodes * total_bins * k > 20000)
    for (int64_t a = 0; a < na; ++a) {
      const int64_t f = active[a];
      const int64_t nb = static_cast<int64_t>(borders[f].size());
      if (nb == 0) continue;
      std::vector<double> score(nb, 0.0), gl(k), hl(k), gt(k), ht(k);
      for (int64_t nd = 0; nd < nodes; ++nd) {
        const double* cells = &hist[static_cast<size_t>((nd * total_bins + offset[f]) * w)];
        std::fill(gt.begin(), gt.end(), 0.0);
        std::fill(ht.begin(), ht.end(), 0.0);
        for (int64_t b = 0; b <= nb; ++b)
          for (int64_t c = 0; c < k; ++c) {
            gt[c] += cells[b * w + c];
            ht[c] += cells[b * w + k + c];
          }
        std::fill(gl.begin(), gl.end(), 0.0);
        std::fill(hl.begin(), hl.end(), 0.0);
        double s = 0;
        bool have = false;
        for (int64_t b = 0; b < nb; ++b) {  // border b: bins 0..b go left
          // A bin without rows of this node (most, when a node holds few rows) leaves its score as it was;
          // "without": g and h both 0, or a rounding error of the histogram difference.
          bool empty = have;
          for (int64_t c = 0; c < k && empty; ++c)
            empty = std::abs(cells[b * w + c]) < 1e-12 && std::abs(cells[b * w + k + c]) < 1e-12;
          if (!empty) {
            s = 0;
            for (int64_t c = 0; c < k; ++c) {
              gl[c] += cells[b * w + c];
              hl[c] += cells[b * w + k + c];
              const double gr = gt[c] - gl[c], hr = ht[c] - hl[c];
              s += score_of(gl[c], hl[c] + l2) + score_of(gr, hr + l2);
            }
            have = true;
          }
          score[b] += s;
        }
      }
      for (int64_t b = 0; b < nb; ++b)
        if (score[b] > fscore[a]) {
          fscore[a] = score[b];
          fborder[a] = static_cast<int32_t>(b);
        }
    }
    int64_t bf = -1;
    int32_t bb = -1;
    double bs = -INFINITY;
    for (int64_t a = 0; a < na; ++a)
      if (fborder[a] >= 0 && fscore[a] > bs) {
        bs = fscore[a];
        bf = active[a];
        bb = fborder[a];
      }
    return {bf, bb};
  }

  void grow_one() {
    const int64_t d = o.depth, L = int64_t{1} << d;
    gradients();
    if (o.subsample < 1.0) {  // rows left out of this tree add nothing to its histograms
      std::bernoulli_distribution keep(o.subsample);
      for (int64_t i = 0; i < n; ++i)
        if (!keep(rng))
          for (int64_t c = 0; c < k; ++c) g[i * k + c] = h[i * k + c] = 0.f;
    }
    std::vector<int64_t> active(nf);
    std::iota(active.begin(), active.end(), 0);
    if (o.colsample < 1.0) {
      std::shuffle(active.begin(), active.end(), rng);
      const int64_t m = std::max<int64_t>(1, static_cast<int64_t>(std::llround(o.colsample * nf)));
      active.resize(m);
      std::sort(active.begin(), active.end());
    }
    std::vector<int32_t> node(n, 0);
    int64_t ones = 0;  // rows whose last split sent them right
    for (int64_t lv = 0; lv < d; ++lv) {
      std::swap(hist, prev);
      histograms(node, lv, ones <= n - ones ? 1 : 0, active);
      auto [f, b] = best_split(hist, int64_t{1} << lv, active);
      feat.push_back(f < 0 ? 0 : f);
      border.push_back(b);
      thr.push_back(f < 0 ? std::numeric_limits<float>::infinity() : borders[f][b]);
      ones = 0;
      if (f >= 0) {
#pragma omp parallel for schedule(static) reduction(+ : ones) if (n > 50000)
        for (int64_t i = 0; i < n; ++i) {
          const int32_t bit = bins[i * nf + f] > b;
          node[i] |= bit << lv;
          ones += bit;
        }
      }
    }
    // Leaf values: a Newton step on the leaf's rows.
    std::vector<double> G(L * k, 0.0), H(L * k, 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < k; ++c) {
        G[node[i] * k + c] += g[i * k + c];
        H[node[i] * k + c] += h[i * k + c];
      }
    const size_t first = leaves.size();
    leaves.resize(first + L * k);
    float* v = &leaves[first];
    for (int64_t j = 0; j < L * k; ++j)
      v[j] = H[j] + o.l2 > 1e-12 ? static_cast<float>(-o.learning_rate * G[j] / (H[j] + o.l2)) : 0.f;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < k; ++c) pred[i * k + c] += v[node[i] * k + c];
    const int64_t* tf = &feat[trees * d];
    const int32_t* tb = &border[trees * d];
    for (int64_t i = 0; i < nv; ++i) {
      int64_t leaf = 0;
      for (int64_t lv = 0; lv < d; ++lv)
        if (tb[lv] >= 0 && vbins[i * nf + tf[lv]] > tb[lv]) leaf |= int64_t{1} << lv;
      for (int64_t c = 0; c < k; ++c) vpred[i * k + c] += v[leaf * k + c];
    }
    ++trees;
    train_loss = loss_of(pred, y, n);
    if (nv) val_loss = loss_of(vpred, yv, nv);
    if (nv && o.early_stopping > 0) {  // keep the best count; without early stopping every tree counts
      if (val_loss < best_val) {
        best_val = val_loss;
        best = trees;
      } else if (trees - best >= o.early_stopping) {
        stopped = true;
      }
    } else {
      best = trees;
      best_val = val_loss;
    }
  }
};

namespace {

std::vector<float> targets(const Tensor& yt, const BoostOptions& o, int64_t rows, const char* what) {
  TS_CHECK(yt.dim() == 1 && yt.size(0) == rows, ValueError, kOp, what, " must have shape [", rows, "], got ",
           yt.shape());
  std::vector<float> out(rows);
  if (o.loss == "squared_error") {
    Tensor t = yt.to(DType::Float32).contiguous();
    const float* p = t.data<float>();
    for (int64_t i = 0; i < rows; ++i) {
      TS_CHECK(std::isfinite(p[i]), ValueError, kOp, what, "[", i, "] is ", p[i], ": targets must be finite");
      out[i] = p[i];
    }
  } else {
    TS_CHECK(!is_floating(yt.dtype()), TypeError, kOp, what, " must hold integer class ids for log_loss, got ",
             yt.dtype());
    Tensor t = yt.to(DType::Int64).contiguous();
    const int64_t* p = t.data<int64_t>();
    for (int64_t i = 0; i < rows; ++i) {
      TS_CHECK(p[i] >= 0 && p[i] < o.num_classes, ValueError, kOp, what, "[", i, "] is ", p[i],
               ": class ids must be in [0, ", o.num_classes, ")");
      out[i] = static_cast<float>(p[i]);
    }
  }
  return out;
}

Tensor features_of(const Tensor& x, const char* what) {
  TS_CHECK(x.dim() == 2, ValueError, kOp, what, " must be [rows, features], got shape ", x.shape());
  TS_CHECK(x.device().is_cpu(), ValueError, kOp, what, " must be on the cpu, got ", x.device());
  return x.to(DType::Float32).contiguous();
}

}  // namespace

Booster::Booster(const Tensor& x, const Tensor& y, const std::optional<Tensor>& x_val,
                 const std::optional<Tensor>& y_val, const BoostOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  const BoostOptions& o = options;
  TS_CHECK(o.loss == "squared_error" || o.loss == "log_loss", ValueError, kOp, "loss must be squared_error or ",
           "log_loss, got '", o.loss, "'");
  TS_CHECK(o.depth >= 1 && o.depth <= 12, ValueError, kOp, "depth must be in [1, 12], got ", o.depth);
  TS_CHECK(o.learning_rate > 0 && std::isfinite(o.learning_rate), ValueError, kOp, "learning_rate must be > 0, got ",
           o.learning_rate);
  TS_CHECK(o.l2 >= 0 && std::isfinite(o.l2), ValueError, kOp, "l2 must be >= 0, got ", o.l2);
  TS_CHECK(o.subsample > 0 && o.subsample <= 1, ValueError, kOp, "subsample must be in (0, 1], got ", o.subsample);
  TS_CHECK(o.colsample > 0 && o.colsample <= 1, ValueError, kOp, "colsample must be in (0, 1], got ", o.colsample);
  TS_CHECK(o.max_bins >= 2 && o.max_bins <= 256, ValueError, kOp, "max_bins must be in [2, 256], got ", o.max_bins);
  TS_CHECK(o.early_stopping >= 0, ValueError, kOp, "early_stopping must be >= 0, got ", o.early_stopping);
  if (o.loss == "log_loss")
    TS_CHECK(o.num_classes >= 2, ValueError, kOp, "log_loss needs num_classes >= 2, got ", o.num_classes);
  TS_CHECK(x_val.has_value() == y_val.has_value(), ValueError, kOp, "give both x_val and y_val, or neither");
  m.o = o;
  m.rng.seed(o.seed);
  Tensor xt = features_of(x, "x");
  m.n = xt.size(0);
  m.nf = xt.size(1);
  TS_CHECK(m.n > 0 && m.nf > 0, ValueError, kOp, "x must have rows and features, got shape ", xt.shape());
  m.y = targets(y, o, m.n, "y");
  m.classes = o.loss == "log_loss" ? o.num_classes : 0;
  m.k = m.classes > 2 ? m.classes : 1;
  const float* px = xt.data<float>();
  m.borders.resize(m.nf);
  m.offset.resize(m.nf);
  std::vector<float> col(m.n);
  for (int64_t f = 0; f < m.nf; ++f) {
    for (int64_t i = 0; i < m.n; ++i) col[i] = px[i * m.nf + f];
    m.borders[f] = column_borders(col, o.max_bins);
    m.offset[f] = m.total_bins;
    m.total_bins += static_cast<int64_t>(m.borders[f].size()) + 1;
  }
  auto quantize = [&](const float* p, int64_t rows, std::vector<uint8_t>& out) {
    out.resize(static_cast<size_t>(rows * m.nf));
#pragma omp parallel for schedule(static) if (rows * m.nf > 100000)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t f = 0; f < m.nf; ++f) out[i * m.nf + f] = bin_of(m.borders[f], p[i * m.nf + f]);
  };
  quantize(px, m.n, m.bins);
  if (x_val) {
    Tensor xv = features_of(*x_val, "x_val");
    TS_CHECK(xv.size(1) == m.nf, ValueError, kOp, "x_val has ", xv.size(1), " features, x has ", m.nf);
    m.nv = xv.size(0);
    m.yv = targets(*y_val, o, m.nv, "y_val");
    quantize(xv.data<float>(), m.nv, m.vbins);
  }
  // The starting score: the mean target, or the classes' log frequencies.
  m.bias.assign(m.k, 0.0);
  if (m.classes == 0) {
    m.bias[0] = std::accumulate(m.y.begin(), m.y.end(), 0.0) / m.n;
  } else {
    std::vector<double> cnt(m.classes, 0.5);
    for (float t : m.y) cnt[static_cast<int64_t>(t)] += 1;
    const double total = std::accumulate(cnt.begin(), cnt.end(), 0.0);
    if (m.k == 1) {
      m.bias[0] = std::log(cnt[1] / cnt[0]);
    } else {
      for (int64_t c = 0; c < m.k; ++c) m.bias[c] = std::log(cnt[c] / total);
    }
  }
  m.pred.resize(m.n * m.k);
  m.vpred.resize(m.nv * m.k);
  for (int64_t i = 0; i < m.n; ++i)
    for (int64_t c = 0; c < m.k; ++c) m.pred[i * m.k + c] = m.bias[c];
  for (int64_t i = 0; i < m.nv; ++i)
    for (int64_t c = 0; c < m.k; ++c) m.vpred[i * m.k + c] = m.bias[c];
  m.g.resize(m.n * m.k);
  m.h.resize(m.n * m.k);
  m.train_loss = m.loss_of(m.pred, m.y, m.n);
  if (m.nv) m.val_loss = m.best_val = m.loss_of(m.vpred, m.yv, m.nv);
}

Booster::~Booster() = default;

int64_t Booster::grow(int64_t rounds) {
  TS_CHECK(rounds >= 0, ValueError, kOp, "rounds must be >= 0, got ", rounds);
  int64_t grown = 0;
  while (grown < rounds && !impl_->stopped) {
    impl_->grow_one();
    ++grown;
  }
  return grown;
}

int64_t Booster::num_trees() const { return impl_->trees; }
int64_t Booster::best_trees() const { return impl_->best; }
bool Booster::stopped() const { return impl_->stopped; }
bool Booster::has_validation() const { return impl_->nv > 0; }
double Booster::train_loss() const { return impl_->train_loss; }
double Booster::val_loss() const { return impl_->val_loss; }
double Booster::best_val_loss() const { return impl_->nv ? impl_->best_val : NAN; }

Ensemble Booster::ensemble(std::optional<int64_t> count) const {
  const Impl& m = *impl_;
  const int64_t t = count.value_or(m.best);
  TS_CHECK(t >= 0 && t <= m.trees, ValueError, kOp, "ensemble of ", t, " trees: ", m.trees, " were grown");
  const int64_t d = m.o.depth, L = int64_t{1} << d;
  const int64_t K = m.classes == 2 ? 2 : m.k;  // binary: class 0's column is zero
  Ensemble e;
  e.features = empty({t, d}, TensorOptions(DType::Int64));
  e.thresholds = empty({t, d}, TensorOptions(DType::Float32));
  e.leaves = zeros({t, L, K}, TensorOptions(DType::Float32));
  e.bias = zeros({K}, TensorOptions(DType::Float32));
  std::copy(m.feat.begin(), m.feat.begin() + t * d, e.features.data<int64_t>());
  std::copy(m.thr.begin(), m.thr.begin() + t * d, e.thresholds.data<float>());
  float* lv = e.leaves.data<float>();
  const int64_t col = K - m.k;
  for (int64_t j = 0; j < t * L; ++j)
    for (int64_t c = 0; c < m.k; ++c) lv[j * K + col + c] = m.leaves[j * m.k + c];
  for (int64_t c = 0; c < m.k; ++c) e.bias.data<float>()[col + c] = static_cast<float>(m.bias[c]);
  return e;
}

}  // namespace tessel::trees
