// Derivative rules of reductions, scans and softmax.
#include <algorithm>

#include "src/autograd/rules.h"
#include "src/core/shape_util.h"
#include "tessel/registry.h"

namespace tessel::autograd::rules {

namespace {
// The shape of a reduction's result with keepdim=True.
Shape kept_shape(const Shape& in, const Shape& dims) {
  Shape keep = in;
  if (dims.empty()) std::fill(keep.begin(), keep.end(), 1);
  for (int64_t d : dims) keep[wrap_dim("reduce", d, static_cast<int64_t>(in.size()))] = 1;
  return keep;
}
// A reduced gradient broadcast back over the input's shape.
Tensor expand_back(const Tensor& g, const Shape& in, const Shape& dims) {
  return g.reshape(kept_shape(in, dims)).expand(in);
}
}  // namespace

void sum(const Tensor& a, const Shape& dims, bool, const Tensor& out, double scale) {
  if (!differentiable(out.dtype())) return;
  record(scale == 1.0 ? "SumBackward" : "MeanBackward", {a}, {out}, [in = a.shape(), dims, scale](const Tensors& g) {
    const Tensor e = expand_back(g[0], in, dims);
    return Tensors{scale == 1.0 ? e : mul(e, Scalar(scale))};
  });
}

// amax/amin/max/min: the gradient is shared evenly among the extreme elements.
void extreme(const char* name, const Tensor& a, const Shape& dims, bool, const Tensor& out) {
  record(name, {a}, {out}, [A = SavedTensor(a), Y = SavedTensor::output(out, 0), dims](const Tensors& g) {
    const Tensor x = A.unpack();
    const Shape keep = kept_shape(x.shape(), dims);
    const Tensor hit = eq(x, Y.unpack().reshape(keep));
    const Tensor count = tessel::sum(hit, dims, true).to(g[0].dtype());
    const Tensor share = div(g[0].reshape(keep), count);
    return Tensors{tessel::where(hit, share.expand(x.shape()), scalar_tensor(Scalar(0.0), TensorOptions(g[0].dtype(), g[0].device())))};
  });
}

void extreme_dim(const char* name, const Tensor& a, int64_t dim, bool keepdim, const Tensor& values,
                 const Tensor& indices) {
  if (a.dim() == 0) {
    record(name, {a}, {values, indices}, [](const Tensors& g) { return Tensors{g[0]}; });
    return;
  }
  const int64_t d = wrap_dim(name, dim, a.dim());
  record(name, {a}, {values, indices}, [in = a.shape(), idx = indices, d, keepdim](const Tensors& g) {
    const Tensor gi = keepdim ? g[0] : g[0].unsqueeze(d);
    const Tensor ii = keepdim ? idx : idx.unsqueeze(d);
    return Tensors{scatter_add(zeros(in, TensorOptions(g[0].dtype(), g[0].device())), d, ii, gi)};
  });
}

void norm2(const Tensor& a, const Shape& dims, bool, const Tensor& out) {
  record("NormBackward", {a}, {out}, [A = SavedTensor(a), Y = SavedTensor::output(out, 0), dims](const Tensors& g) {
    const Tensor x = A.unpack();
    const Shape keep = kept_shape(x.shape(), dims);
    const Tensor y = Y.unpack().reshape(keep);
    const Tensor scale = tessel::where(eq(y, Scalar(0.0)), scalar_tensor(Scalar(0.0), TensorOptions(y.dtype(), y.device())),
                                       div(g[0].reshape(keep), y));
    return Tensors{mul(x, scale)};
  });
}

// g * scale * (x - mean): one rule instead of the gradients of mean, sub, square and
// sum. The forward's mean is reused; under create_graph it is taken again from x, so
// that a second derivative sees its dependence on x.
void var(const Tensor& a, const Shape& dims, const Tensor& m, double scale, const Tensor& out) {
  record("VarBackward", {a}, {out}, [A = SavedTensor(a), M = m, dims, scale](const Tensors& g) {
    const Tensor x = A.unpack();
    const Shape keep = kept_shape(x.shape(), dims);
    const Tensor mu = GradMode::enabled() ? tessel::mean(x, dims, true) : M;
    return Tensors{mul(sub(x, mu), mul(g[0].reshape(keep), Scalar(scale)))};
  });
}

void logsumexp(const Tensor& a, const Shape& dims, const Tensor& out) {
  record("LogsumexpBackward", {a}, {out},
         [A = SavedTensor(a), Y = SavedTensor::output(out, 0), dims](const Tensors& g) {
           const Tensor x = A.unpack();
           const Shape keep = kept_shape(x.shape(), dims);
           return Tensors{mul(g[0].reshape(keep), exp(sub(x, Y.unpack().reshape(keep))))};
         });
}

void prod(const Tensor& a, const Shape& dims, bool, const Tensor& out) {
  if (!differentiable(out.dtype())) return;
  record("ProdBackward", {a}, {out}, [A = SavedTensor(a), Y = SavedTensor::output(out, 0), dims](const Tensors& g) {
    const Tensor x = A.unpack();
    const Shape keep = kept_shape(x.shape(), dims);
    const Tensor ge = g[0].reshape(keep);
    const bool has_zero = x.numel() > 0 && any(eq(x, Scalar(0.0))).item<bool>();
    if (!has_zero) return Tensors{mul(ge, conj(div(Y.unpack().reshape(keep), x)))};  // conj: complex x
    // With zeros, the product of the other elements: move the reduced dims
    // last and multiply exclusive prefix and suffix products.
    Shape red, rest;
    const Shape want = dims.empty() ? [&] { Shape all(static_cast<size_t>(x.dim())); for (int64_t i = 0; i < x.dim(); ++i) all[i] = i; return all; }() : dims;
    std::vector<bool> is_red(static_cast<size_t>(x.dim()), false);
    for (int64_t d : want) is_red[wrap_dim("prod", d, x.dim())] = true;
    for (int64_t i = 0; i < x.dim(); ++i) (is_red[i] ? red : rest).push_back(i);
    Shape perm = rest;
    perm.insert(perm.end(), red.begin(), red.end());
    const Tensor xp = x.permute(perm);
    Shape flat(xp.shape().begin(), xp.shape().begin() + static_cast<int64_t>(rest.size()));
    flat.push_back(-1);
    const Tensor xf = xp.reshape(flat);
    const int64_t last = xf.dim() - 1;
    const Tensor ones1 = ones_like(xf.narrow(last, 0, 1));
    const int64_t k = xf.shape()[last];
    const Tensor pre = tessel::cumprod(tessel::cat({ones1, xf.narrow(last, 0, k - 1)}, last), last);
    const Tensor suf = tessel::flip(tessel::cumprod(tessel::flip(tessel::cat({xf.narrow(last, 1, k - 1), ones1}, last), {last}), last), {last});
    const Tensor others = mul(pre, suf).reshape(xp.shape());
    const Shape inv = inverse_permutation(perm);
    return Tensors{mul(ge, conj(others.permute(inv)))};
  });
}

namespace {
Tensor reverse_cumsum(const Tensor& t, int64_t d) { return tessel::flip(tessel::cumsum(tessel::flip(t, {d}), d), {d}); }
}  // namespace

void cumsum(const Tensor& a, int64_t dim, const Tensor& out) {
  if (!differentiable(out.dtype())) return;
  const int64_t d = a.dim() == 0 ? 0 : wrap_dim("cumsum", dim, a.dim());
  record("CumsumBackward", {a}, {out}, [d, scalar = a.dim() == 0](const Tensors& g) {
    return Tensors{scalar ? g[0] : reverse_cumsum(g[0], d)};
  });
}

void cumprod(const Tensor& a, int64_t dim, const Tensor& out) {
  if (!differentiable(out.dtype())) return;
  const int64_t d = a.dim() == 0 ? 0 : wrap_dim("cumprod", dim, a.dim());
  record("CumprodBackward", {a}, {out},
         [A = SavedTensor(a), Y = SavedTensor::output(out, 0), d, scalar = a.dim() == 0](const Tensors& g) {
           if (scalar) return Tensors{g[0]};
           const Tensor x = A.unpack();
           TS_CHECK(x.numel() == 0 || !any(eq(x, Scalar(0.0))).item<bool>(), NotImplementedError, "cumprod",
                    "backward through cumprod of an input that contains zeros is not supported yet");
           return Tensors{div(reverse_cumsum(mul(g[0], conj(Y.unpack())), d), conj(x))};  // conj: complex x
         });
}

void softmax(const Tensor& a, int64_t dim, const Tensor& out) {
  const int64_t d = a.dim() == 0 ? 0 : wrap_dim("softmax", dim, a.dim());
  record("SoftmaxBackward", {a}, {out}, [Y = SavedTensor::output(out, 0), d](const Tensors& g) {
    const Tensor y = Y.unpack();
    if (y.dim() == 0) return Tensors{mul(g[0], Scalar(0.0))};
    static const OpId kFused = Registry::get().op_id("softmax_backward_fused");
    if (!GradMode::enabled() && d == y.dim() - 1 && y.numel() > 0 && g[0].dtype() == y.dtype() &&
        Registry::get().has(kFused, y.device().type, y.dtype())) {  // one pass per row
      const int64_t D = y.shape()[d], R = y.numel() / D;
      Tensor gx = empty(y.shape(), TensorOptions(y.dtype(), y.device()));
      const Tensor in[2] = {g[0].contiguous().view({R, D}), y.contiguous().view({R, D})};
      Tensor out = gx.view({R, D});
      dispatch(kFused, y.dtype(), in, {&out, 1}, nullptr);
      return Tensors{gx};
    }
    return Tensors{mul(y, sub(g[0], tessel::sum(mul(g[0], y), {d}, true)))};
  });
}

void log_softmax(const Tensor& a, int64_t dim, const Tensor& out) {
  const int64_t d = a.dim() == 0 ? 0 : wrap_dim("log_softmax", dim, a.dim());
  record("LogSoftmaxBackward", {a}, {out}, [Y = SavedTensor::output(out, 0), d](const Tensors& g) {
    const Tensor y = Y.unpack();
    if (y.dim() == 0) return Tensors{mul(g[0], Scalar(0.0))};
    static const OpId kFused = Registry::get().op_id("log_softmax_backward_fused");
    if (!GradMode::enabled() && d == y.dim() - 1 && y.numel() > 0 && g[0].dtype() == y.dtype() &&
        Registry::get().has(kFused, y.device().type, y.dtype())) {  // one pass per row, the vector exp
      const int64_t D = y.shape()[d], R = y.numel() / D;
      Tensor gx = empty(y.shape(), TensorOptions(y.dtype(), y.device()));
      const Tensor in[2] = {g[0].contiguous().view({R, D}), y.contiguous().view({R, D})};
      Tensor out = gx.view({R, D});
      dispatch(kFused, y.dtype(), in, {&out, 1}, nullptr);
      return Tensors{gx};
    }
    return Tensors{sub(g[0], mul(exp(y), tessel::sum(g[0], {d}, true)))};
  });
}

}  // namespace tessel::autograd::rules
