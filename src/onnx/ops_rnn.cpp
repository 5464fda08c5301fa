// ONNX recurrent ops: RNN, GRU, LSTM (forward, reverse, bidirectional; sequence_lens,
// initial states, LSTM peepholes and input_forget, GRU linear_before_reset,
// activations with alpha/beta, clip, layout 0/1). The input projection of all
// steps is one matmul; each step adds H @ R^T.
#include <algorithm>
#include <cctype>

#include "src/onnx/internal.h"
#include "tessel/nn/functional.h"

namespace tessel::onnx {
namespace {

// One activation of the `activations` attribute with its alpha/beta.
struct Act {
  std::string name;  // lower case
  double alpha = 0, beta = 0;

  Tensor operator()(const Tensor& x) const {
    if (name == "sigmoid") return sigmoid(x);
    if (name == "tanh") return tanh(x);
    if (name == "relu") return relu(x);
    if (name == "affine") return add(mul(x, Scalar(alpha)), Scalar(beta));
    if (name == "leakyrelu") return leaky_relu(x, alpha);
    if (name == "thresholdedrelu") return where(gt(x, Scalar(alpha)), x, Scalar(0.0));
    if (name == "scaledtanh") return mul(tanh(mul(x, Scalar(beta))), Scalar(alpha));
    if (name == "hardsigmoid") return clamp(add(mul(x, Scalar(alpha)), Scalar(beta)), Scalar(0.0), Scalar(1.0));
    if (name == "elu") return elu(x, alpha);
    if (name == "softsign") return div(x, add(abs(x), Scalar(1.0)));
    return softplus(x);  // "softplus", checked in activations()
  }
};

// The activations of every direction (`per_dir` each), defaults when absent;
// activation_alpha/beta are consumed in order by the activations that take them.
std::vector<Act> activations(const Node& n, const std::vector<std::string>& dflt, int64_t dirs) {
  std::vector<std::string> names = n.strings("activations", {});
  const size_t per_dir = dflt.size();
  if (names.empty())
    for (int64_t d = 0; d < dirs; ++d) names.insert(names.end(), dflt.begin(), dflt.end());
  else if (names.size() == per_dir && dirs == 2)
    names.insert(names.end(), names.begin(), names.end());  // one list for both directions
  if (names.size() != per_dir * static_cast<size_t>(dirs))
    n.error("activations must list ", per_dir, " functions per direction (", per_dir * dirs, " in all), got ",
            names.size());
  const std::vector<double> alphas = n.floats("activation_alpha", {}), betas = n.floats("activation_beta", {});
  size_t ia = 0, ib = 0;
  std::vector<Act> acts;
  for (const auto& raw : names) {
    Act a;
    for (char ch : raw) a.name += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    // (uses alpha, default alpha, uses beta, default beta), as onnxruntime.
    struct Spec {
      bool ua;
      double da;
      bool ub;
      double db;
    };
    static const std::map<std::string, Spec> specs = {
        {"sigmoid", {false, 0, false, 0}},       {"tanh", {false, 0, false, 0}},
        {"relu", {false, 0, false, 0}},          {"affine", {true, 1.0, true, 0.0}},
        {"leakyrelu", {true, 0.01, false, 0}},   {"thresholdedrelu", {true, 1.0, false, 0}},
        {"scaledtanh", {true, 1.0, true, 1.0}},  {"hardsigmoid", {true, 0.2, true, 0.5}},
        {"elu", {true, 1.0, false, 0}},          {"softsign", {false, 0, false, 0}},
        {"softplus", {false, 0, false, 0}}};
    auto it = specs.find(a.name);
    if (it == specs.end()) {
      const bool printable = std::all_of(raw.begin(), raw.end(), [](char ch) { return ch >= 0x20 && ch < 0x7F; });
      n.error("activation ", printable ? "'" + raw + "'" : std::string("(not text)"), " is not supported");
    }
    if (it->second.ua) a.alpha = ia < alphas.size() ? alphas[ia++] : it->second.da;
    if (it->second.ub) a.beta = ib < betas.size() ? betas[ib++] : it->second.db;
    acts.push_back(a);
  }
  return acts;
}

enum class Kind { RNN, GRU, LSTM };

// X [S, B, I] with batch-major layout 1 as [B, S, I]; states [D, B, H] (layout 1: [B, D, H]).
std::vector<Tensor> recurrent(Kind kind, const Node& n, const Inputs& in) {
  const int64_t G = kind == Kind::RNN ? 1 : kind == Kind::GRU ? 3 : 4;
  const int64_t layout = n.i("layout", 0);
  if (layout != 0 && layout != 1) n.error("layout must be 0 or 1, got ", layout);
  Tensor X = input(n, in, 0), W = input(n, in, 1), R = input(n, in, 2);
  if (!is_floating(X.dtype())) n.error<TypeError>("X must be a floating tensor, got ", X.dtype());
  if (X.dim() != 3) n.error("X must be 3-D, got shape ", X.shape());
  if (layout == 1) X = X.transpose(0, 1);
  const int64_t S = X.shape()[0], Bt = X.shape()[1], I = X.shape()[2];
  const std::string direction = n.s("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    n.error("direction must be forward, reverse or bidirectional");
  const int64_t D = direction == "bidirectional" ? 2 : 1;
  if (R.dim() != 3) n.error("R must be 3-D, got shape ", R.shape());
  const int64_t H = n.i("hidden_size", R.shape()[2]);
  if (H < 1) n.error("hidden_size must be positive, got ", H);
  if (W.shape() != Shape{D, G * H, I}) n.error("W must have shape ", Shape{D, G * H, I}, ", got ", W.shape());
  if (R.shape() != Shape{D, G * H, H}) n.error("R must have shape ", Shape{D, G * H, H}, ", got ", R.shape());
  auto opt = [&](size_t k) -> std::optional<Tensor> {
    if (k < in.size() && in[k]) return *in[k];
    return std::nullopt;
  };
  const auto Bias = opt(3), lens = opt(4), h0 = opt(5);
  const auto c0 = kind == Kind::LSTM ? opt(6) : std::nullopt;
  const auto P = kind == Kind::LSTM ? opt(7) : std::nullopt;
  if (Bias && Bias->shape() != Shape{D, 2 * G * H})
    n.error("B must have shape ", Shape{D, 2 * G * H}, ", got ", Bias->shape());
  if (P && P->shape() != Shape{D, 3 * H}) n.error("P must have shape ", Shape{D, 3 * H}, ", got ", P->shape());
  auto state = [&](const std::optional<Tensor>& s, const char* what) {
    if (!s) return zeros({D, Bt, H}, TensorOptions(X.dtype()));
    Tensor t = layout == 1 ? s->transpose(0, 1) : *s;
    if (t.shape() != Shape{D, Bt, H})
      n.error(what, " must have shape ", layout == 1 ? Shape{Bt, D, H} : Shape{D, Bt, H}, ", got ", s->shape());
    return t;
  };
  const Tensor H0 = state(h0, "initial_h"), C0 = state(c0, "initial_c");
  // Per-batch lengths as a [B, 1] mask source; none when every sequence is full.
  std::optional<Tensor> len_col;
  if (lens) {
    std::vector<int64_t> v = int_values(n, *lens, "sequence_lens");
    if (static_cast<int64_t>(v.size()) != Bt) n.error("sequence_lens must have ", Bt, " values, got ", v.size());
    for (int64_t l : v)
      if (l < 0 || l > S) n.error("sequence_lens values must be in [0, ", S, "], got ", l);
    if (std::any_of(v.begin(), v.end(), [&](int64_t l) { return l != S; }))
      len_col = lens->to(DType::Int64).reshape({Bt, 1});
  }
  const std::vector<std::string> dflt = kind == Kind::RNN   ? std::vector<std::string>{"Tanh"}
                                        : kind == Kind::GRU ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                            : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
  const std::vector<Act> acts = activations(n, dflt, D);
  const double clip = n.f("clip", 0.0);
  if (n.has("clip") && !(clip > 0)) n.error("clip must be positive, got ", clip);
  auto clipped = [&](const Tensor& t) { return n.has("clip") ? clamp(t, Scalar(-clip), Scalar(clip)) : t; };
  const bool lbr = kind == Kind::GRU && n.i("linear_before_reset", 0) != 0;
  const bool input_forget = kind == Kind::LSTM && n.i("input_forget", 0) != 0;

  std::vector<Tensor> ys, hs, cs;
  for (int64_t d = 0; d < D; ++d) {
    const bool reverse = direction == "reverse" || d == 1;
    const Act* f = &acts[static_cast<size_t>(d) * dflt.size()];
    const Tensor Wd = W.select(0, d), Rd = R.select(0, d);
    // The input projection of every step at once: [S, B, G*H].
    Tensor xw = matmul(X, Wd.t());
    Tensor rbh;  // GRU with linear_before_reset keeps the hidden gate's R bias inside r * (...)
    if (Bias) {
      Tensor wb = Bias->select(0, d).narrow(0, 0, G * H), rb = Bias->select(0, d).narrow(0, G * H, G * H);
      if (kind == Kind::GRU) {
        rbh = rb.narrow(0, 2 * H, H);
        xw = add(xw, add(wb, cat({rb.narrow(0, 0, 2 * H), zeros({H}, TensorOptions(rb.dtype()))})));
      } else {
        xw = add(xw, add(wb, rb));
      }
    }
    Tensor h = H0.select(0, d), c = C0.select(0, d);
    std::vector<Tensor> y(static_cast<size_t>(S));
    for (int64_t s = 0; s < S; ++s) {
      const int64_t t = reverse ? S - 1 - s : s;
      Tensor gx = xw.select(0, t);
      Tensor hn, cn;
      if (kind == Kind::RNN) {
        hn = f[0](clipped(add(gx, matmul(h, Rd.t()))));
      } else if (kind == Kind::GRU) {
        Tensor hr = matmul(h, Rd.narrow(0, 0, 2 * H).t());
        Tensor z = f[0](clipped(add(gx.narrow(1, 0, H), hr.narrow(1, 0, H))));
        Tensor r = f[0](clipped(add(gx.narrow(1, H, H), hr.narrow(1, H, H))));
        const Tensor Rh = Rd.narrow(0, 2 * H, H);
        Tensor hh;
        if (lbr) {
          Tensor lin = matmul(h, Rh.t());
          if (rbh.defined()) lin = add(lin, rbh);
          hh = add(gx.narrow(1, 2 * H, H), mul(r, lin));
        } else {
          hh = add(gx.narrow(1, 2 * H, H), matmul(mul(r, h), Rh.t()));
          if (rbh.defined()) hh = add(hh, rbh);
        }
        Tensor ht = f[1](clipped(hh));
        hn = add(mul(sub(Scalar(1.0), z), ht), mul(z, h));
      } else {
        Tensor g = add(gx, matmul(h, Rd.t()));
        Tensor gi = g.narrow(1, 0, H), go = g.narrow(1, H, H), gf = g.narrow(1, 2 * H, H), gc = g.narrow(1, 3 * H, H);
        Tensor pi, po, pf;
        if (P) {
          pi = P->select(0, d).narrow(0, 0, H);
          po = P->select(0, d).narrow(0, H, H);
          pf = P->select(0, d).narrow(0, 2 * H, H);
          gi = add(gi, mul(pi, c));
          gf = add(gf, mul(pf, c));
        }
        Tensor it = f[0](clipped(gi));
        Tensor ft = input_forget ? sub(Scalar(1.0), it) : f[0](clipped(gf));
        Tensor ct = f[1](clipped(gc));
        cn = add(mul(ft, c), mul(it, ct));
        if (P) go = add(go, mul(po, cn));
        Tensor ot = f[0](clipped(go));
        hn = mul(ot, f[2](cn));
      }
      if (len_col) {
        // Steps past a sequence's length leave its state alone and output zeros.
        Tensor valid = gt(*len_col, Scalar(t));
        y[static_cast<size_t>(t)] = where(valid, hn, Scalar(0.0));
        h = where(valid, hn, h);
        if (kind == Kind::LSTM) c = where(valid, cn, c);
      } else {
        y[static_cast<size_t>(t)] = hn;
        h = hn;
        if (kind == Kind::LSTM) c = cn;
      }
    }
    ys.push_back(S > 0 ? stack(y, 0) : zeros({0, Bt, H}, TensorOptions(X.dtype())));
    hs.push_back(h);
    cs.push_back(c);
  }
  Tensor Y = stack(ys, 1), Yh = stack(hs, 0), Yc = stack(cs, 0);  // [S, D, B, H], [D, B, H]
  if (layout == 1) {
    Y = Y.permute({2, 0, 1, 3}).contiguous();
    Yh = Yh.transpose(0, 1).contiguous();
    Yc = Yc.transpose(0, 1).contiguous();
  }
  if (kind == Kind::LSTM) return {Y, Yh, Yc};
  return {Y, Yh};
}

}  // namespace

void register_rnn_ops(std::map<std::string, OpFn>& t) {
  t["RNN"] = [](const Node& n, const Inputs& in, const OpContext&) { return recurrent(Kind::RNN, n, in); };
  t["GRU"] = [](const Node& n, const Inputs& in, const OpContext&) { return recurrent(Kind::GRU, n, in); };
  t["LSTM"] = [](const Node& n, const Inputs& in, const OpContext&) { return recurrent(Kind::LSTM, n, in); };
}

}  // namespace tessel::onnx
