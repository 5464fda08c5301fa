// Shape inference rules of the nn ops: conv, pooling, matmul/gemm, RNNs, resize.
#include <algorithm>
#include <cmath>

#include "src/onnx/shape_internal.h"

namespace tessel::onnx::shape {

// Output size of a sliding window along one dim.
SymDim window(const SymDim& in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, const std::string& pad,
              bool ceil_mode) {
  if (s <= 0 || d <= 0 || k <= 0) return {};
  int64_t dk = 0;
  if (__builtin_mul_overflow(k - 1, d, &dk)) return {};
  dk += 1;
  int64_t x = 0;
  if (pad == "SAME_UPPER" || pad == "SAME_LOWER") {
    if (fixed(in, &x)) return SymDim::of(x / s + (x % s != 0));
    return s == 1 ? in : unknown_dim();
  }
  if (pad == "VALID") pb = pe = 0;
  if (fixed(in, &x)) {
    int64_t span = 0;
    if (__builtin_add_overflow(x, pb, &span) || __builtin_add_overflow(span, pe, &span)) return {};
    span -= dk;
    if (span < 0) return {};
    int64_t o = span / s + (ceil_mode && span % s != 0 ? 1 : 0) + 1;
    // In ceil mode the last window must start inside the input or the left padding.
    if (ceil_mode && (o - 1) * s >= x + pb) --o;
    return SymDim::of(o);
  }
  if (s != 1) return {};
  return in + SymDim::of(pb + pe - dk + 1);
}

// Conv, pooling: [N, C_out, spatial...].
std::optional<Dims> spatial(const In& in, const Dims& x, const std::vector<int64_t>& kernel, bool ceil_mode) {
  const size_t nsp = x.size() - 2;
  if (kernel.size() != nsp) return std::nullopt;
  const Node& n = in.n;
  auto strides = n.ints("strides", std::vector<int64_t>(nsp, 1));
  auto dil = n.ints("dilations", std::vector<int64_t>(nsp, 1));
  auto pads = n.ints("pads", std::vector<int64_t>(2 * nsp, 0));
  const std::string pad = n.s("auto_pad", "NOTSET");
  if (strides.size() != nsp || dil.size() != nsp || pads.size() != 2 * nsp) return std::nullopt;
  Dims out{x[0], {}};
  for (size_t i = 0; i < nsp; ++i)
    out.push_back(window(x[2 + i], kernel[i], strides[i], dil[i], pads[i], pads[nsp + i], pad, ceil_mode));
  return out;
}

std::vector<VS> infer_conv(const In& in) {
  const Node& n = in.n;
  const VS& x = in[0];
  const VS& w = in[1];
  if (!x.has_shape || x.shape.size() < 3) return one(rank_unknown(x.dtype));
  std::vector<int64_t> kernel = n.ints("kernel_shape");
  if (kernel.empty() && w.has_shape && w.shape.size() == x.shape.size())
    for (size_t i = 2; i < w.shape.size(); ++i) {
      int64_t k = 0;
      if (!fixed(w.shape[i], &k)) return one(tensor(x.dtype, Dims(x.shape.size())));
      kernel.push_back(k);
    }
  if (w.has_shape && w.shape.size() != x.shape.size())
    prove(n, "weight '", in.name(1), "' has rank ", w.shape.size(), " but input '", in.name(0), "' has rank ",
          x.shape.size());
  const int64_t group = n.i("group", 1);
  int64_t c = 0, wc = 0;
  if (w.has_shape && group > 0 && fixed(x.shape[1], &c) && fixed(w.shape[1], &wc) && c != wc * group)
    prove(n, "input '", in.name(0), "' has ", c, " channels but weight '", in.name(1), "' ", show(w), " with group ",
          group, " expects ", wc * group);
  auto out = spatial(in, x.shape, kernel, false);
  if (!out) return one(rank_unknown(x.dtype));
  (*out)[1] = w.has_shape ? w.shape[0] : unknown_dim();
  return one(tensor(x.dtype, *out));
}

std::vector<VS> infer_conv_transpose(const In& in) {
  const Node& n = in.n;
  const VS& x = in[0];
  const VS& w = in[1];
  if (!x.has_shape || x.shape.size() < 3) return one(rank_unknown(x.dtype));
  const size_t nsp = x.shape.size() - 2;
  const int64_t group = n.i("group", 1);
  Dims out{x.shape[0], w.has_shape && w.shape.size() == x.shape.size() ? w.shape[1] * SymDim::of(group) : SymDim{}};
  auto output_shape = n.ints("output_shape");
  std::vector<int64_t> kernel = n.ints("kernel_shape");
  if (kernel.empty() && w.has_shape && w.shape.size() == x.shape.size())
    for (size_t i = 2; i < w.shape.size(); ++i) {
      int64_t k = 0;
      kernel.push_back(fixed(w.shape[i], &k) ? k : -1);
    }
  auto strides = n.ints("strides", std::vector<int64_t>(nsp, 1));
  auto dil = n.ints("dilations", std::vector<int64_t>(nsp, 1));
  auto pads = n.ints("pads", std::vector<int64_t>(2 * nsp, 0));
  auto opad = n.ints("output_padding", std::vector<int64_t>(nsp, 0));
  const std::string pad = n.s("auto_pad", "NOTSET");
  for (size_t i = 0; i < nsp; ++i) {
    if (output_shape.size() == nsp) {
      out.push_back(SymDim::of(output_shape[i]));
      continue;
    }
    if (kernel.size() != nsp || strides.size() != nsp || dil.size() != nsp || pads.size() != 2 * nsp ||
        opad.size() != nsp || kernel[i] < 0) {
      out.push_back({});
      continue;
    }
    const SymDim s = SymDim::of(strides[i]);
    if (pad == "SAME_UPPER" || pad == "SAME_LOWER") {
      out.push_back(x.shape[2 + i] * s);
      continue;
    }
    const int64_t dk = (kernel[i] - 1) * dil[i] + 1;
    SymDim o = s * (x.shape[2 + i] - SymDim::of(1)) + SymDim::of(opad[i] + dk);
    if (pad != "VALID") o = o - SymDim::of(pads[i] + pads[nsp + i]);
    out.push_back(o);
  }
  return one(tensor(x.dtype, out));
}

std::vector<VS> infer_pool(const In& in) {
  const Node& n = in.n;
  const VS& x = in[0];
  VS idx = rank_unknown(DType::Int64);
  if (!x.has_shape || x.shape.size() < 3) return {rank_unknown(x.dtype), idx};
  auto out = spatial(in, x.shape, n.ints("kernel_shape"), n.i("ceil_mode", 0) != 0);
  if (!out) return {rank_unknown(x.dtype), idx};
  (*out)[1] = x.shape[1];
  return {tensor(x.dtype, *out), tensor(DType::Int64, *out)};
}

std::vector<VS> infer_matmul(const In& in, std::optional<DType> out_dt) {
  const VS &a = in[0], &b = in[1];
  if (!a.has_shape || !b.has_shape || a.shape.empty() || b.shape.empty()) return one(rank_unknown(out_dt));
  Dims x = a.shape, y = b.shape;
  const bool va = x.size() == 1, vb = y.size() == 1;
  if (va) x.insert(x.begin(), SymDim::of(1));
  if (vb) y.push_back(SymDim::of(1));
  int64_t p = 0, q = 0;
  if (fixed(x.back(), &p) && fixed(y[y.size() - 2], &q) && p != q)
    prove(in.n, "inner dims differ: '", in.name(0), "' has shape ", show(a), " and '", in.name(1), "' has shape ",
          show(b));
  Dims bx(x.begin(), x.end() - 2), by(y.begin(), y.end() - 2);
  Dims out = *broadcast(in, bx, by);
  if (!va) out.push_back(x[x.size() - 2]);
  if (!vb) out.push_back(y.back());
  return one(tensor(out_dt, out));
}

std::vector<VS> infer_gemm(const In& in) {
  const Node& n = in.n;
  const VS &a = in[0], &b = in[1];
  if (!a.has_shape || !b.has_shape || a.shape.size() != 2 || b.shape.size() != 2)
    return one(tensor(a.dtype, Dims(2)));
  const bool ta = n.i("transA", 0) != 0, tb = n.i("transB", 0) != 0;
  const SymDim m = a.shape[ta ? 1 : 0], ka = a.shape[ta ? 0 : 1];
  const SymDim kb = b.shape[tb ? 1 : 0], nn = b.shape[tb ? 0 : 1];
  int64_t p = 0, q = 0;
  if (fixed(ka, &p) && fixed(kb, &q) && p != q)
    prove(n, "inner dims differ: A '", in.name(0), "' ", show(a), (ta ? " (transposed)" : ""), " and B '",
          in.name(1), "' ", show(b), (tb ? " (transposed)" : ""));
  return one(tensor(a.dtype, {m, nn}));
}

std::vector<VS> infer_rnn(const In& in, size_t nstate) {
  const Node& n = in.n;
  const VS& x = in[0];
  const int64_t hidden = n.i("hidden_size", -1);
  const int64_t dirs = n.s("direction", "forward") == "bidirectional" ? 2 : 1;
  const bool batch_first = n.i("layout", 0) != 0;
  const SymDim h = hidden > 0 ? SymDim::of(hidden) : SymDim{};
  SymDim seq, batch;
  if (x.has_shape && x.shape.size() == 3) {
    seq = x.shape[batch_first ? 1 : 0];
    batch = x.shape[batch_first ? 0 : 1];
  }
  const SymDim d = SymDim::of(dirs);
  std::vector<VS> out;
  out.push_back(tensor(x.dtype, batch_first ? Dims{batch, seq, d, h} : Dims{seq, d, batch, h}));
  for (size_t k = 0; k < nstate; ++k) out.push_back(tensor(x.dtype, batch_first ? Dims{batch, d, h} : Dims{d, batch, h}));
  return out;
}

std::vector<VS> infer_resize(const In& in) {
  const Node& n = in.n;
  const VS& x = in[0];
  if (!x.has_shape) return one(rank_unknown(x.dtype));
  const size_t r = x.shape.size();
  // Upsample and Resize-10 take scales as input 1; Resize-11+ has roi, scales, sizes.
  const size_t scales_k = (n.op_type == "Upsample" || in.opset < 11) ? 1 : 2;
  std::vector<int64_t> axes = n.ints("axes");
  if (axes.empty())
    for (size_t k = 0; k < r; ++k) axes.push_back(static_cast<int64_t>(k));
  Dims out = x.shape;
  if (in.has(3) && scales_k == 2) {
    auto sizes = in.ints(3);
    if (!sizes || sizes->size() != axes.size() || n.s("keep_aspect_ratio_policy", "stretch") != "stretch")
      return one(tensor(x.dtype, Dims(r)));
    for (size_t k = 0; k < axes.size(); ++k) {
      auto a = axis_of(axes[k], r);
      if (!a) return one(rank_unknown(x.dtype));
      out[*a] = SymDim::of((*sizes)[k]);
    }
    return one(tensor(x.dtype, out));
  }
  const std::vector<double>* scales = n.op_type == "Upsample" && in.opset < 9 ? nullptr : in.floats(scales_k);
  std::vector<double> attr_scales;
  if (n.op_type == "Upsample" && in.opset < 9) {
    attr_scales = n.floats("scales");
    scales = &attr_scales;
  }
  if (!scales || scales->size() != axes.size()) return one(tensor(x.dtype, Dims(r)));
  for (size_t k = 0; k < axes.size(); ++k) {
    auto a = axis_of(axes[k], r);
    if (!a) return one(rank_unknown(x.dtype));
    const double s = (*scales)[k];
    int64_t d = 0;
    if (fixed(x.shape[*a], &d)) {
      const double o = std::floor(static_cast<double>(d) * s);
      out[*a] = o >= 0 && o < 9e15 ? SymDim::of(static_cast<int64_t>(o)) : SymDim{};
    } else if (s == std::floor(s) && s >= 0 && s < 1e6) {
      out[*a] = x.shape[*a] * SymDim::of(static_cast<int64_t>(s));
    } else {
      out[*a] = {};
    }
  }
  return one(tensor(x.dtype, out));
}

}  // namespace tessel::onnx::shape
