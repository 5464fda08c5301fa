// Linear algebra: matmul with NumPy/PyTorch semantics (1-D, 2-D, batched with broadcasting).
#include "tessel/trace.h"
#include "src/autograd/rules.h"
#include "src/core/shape_util.h"
#include "tessel/amp.h"
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel {

namespace {
// A [B, R, C] operand whose rows or columns are unit-stride, as kernels
// expect; strides of size-1 dims (arbitrary in views) are made canonical.
Tensor as_batched(const Tensor& t, const Shape& batch) {
  Shape full = batch;
  full.push_back(t.shape()[t.dim() - 2]);
  full.push_back(t.shape()[t.dim() - 1]);
  const int64_t R = full[full.size() - 2], C = full.back();
  Tensor x = broadcast_to(t, full).reshape({shape_numel(batch), R, C});
  Shape st = x.strides();
  const bool row_major = (C == 1 || st[2] == 1) && (R == 1 || st[1] >= C);
  const bool col_major = (R == 1 || st[1] == 1) && (C == 1 || st[2] >= R);
  if ((!row_major && !col_major) || (x.shape()[0] > 1 && st[0] == 0)) {
    x = x.contiguous();
    st = {R * C, C, 1};
  } else if (row_major) {
    st = {x.shape()[0] > 1 ? st[0] : R * C, R == 1 ? C : st[1], 1};
  } else {
    st = {x.shape()[0] > 1 ? st[0] : R * C, 1, C == 1 ? R : st[2]};
  }
  return x.as_strided(x.shape(), st, x.offset());
}
}  // namespace

namespace {
Tensor matmul_forward(const Tensor& a, const Tensor& b) {
  TS_CHECK(a.dim() >= 1 && b.dim() >= 1, ValueError, "matmul", "both arguments need at least 1 dim, got shapes ",
           a.shape(), " and ", b.shape());
  TS_CHECK(a.dtype() == b.dtype(), TypeError, "matmul", "expected both operands to have the same dtype, got ",
           a.dtype(), " and ", b.dtype());
  TS_CHECK(a.device() == b.device(), ValueError, "matmul", "expected both operands on one device, got ", a.device(),
           " and ", b.device());
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  const int64_t M = a2.shape()[a2.dim() - 2], K = a2.shape()[a2.dim() - 1];
  const int64_t K2 = b2.shape()[b2.dim() - 2], N = b2.shape()[b2.dim() - 1];
  TS_CHECK(K == K2, ValueError, "matmul", "shapes ", a.shape(), " and ", b.shape(), " cannot be multiplied (", K,
           " != ", K2, ")");
  const Shape ba(a2.shape().begin(), a2.shape().end() - 2), bb(b2.shape().begin(), b2.shape().end() - 2);
  const Shape batch = broadcast_shapes("matmul", ba, bb);
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out;
  if (K == 0 || shape_numel(out_shape) == 0) {
    out = zeros(out_shape, TensorOptions(a.dtype(), a.device()));
  } else if (b2.dim() == 2 && a2.dim() > 2) {
    // [..., M, K] @ [K, N]: one [B*M, K] @ [K, N] product. Broadcasting the
    // weight over the batch would copy it once per batch item; the batch dims
    // fold into M (a view when a's rows are laid out that way, else one copy of a).
    const int64_t rows = shape_numel(batch) * M;
    const Tensor in[2] = {as_batched(a2.reshape({rows, K}), {}), as_batched(b2, {})};
    out = empty(out_shape, TensorOptions(a.dtype(), a.device()));
    Tensor out3 = out.view({1, rows, N});
    dispatch(op::matmul, a.dtype(), in, {&out3, 1});
  } else {
    const Tensor in[2] = {as_batched(a2, batch), as_batched(b2, batch)};
    out = empty(out_shape, TensorOptions(a.dtype(), a.device()));
    Tensor out3 = out.view({shape_numel(batch), M, N});
    dispatch(op::matmul, a.dtype(), in, {&out3, 1});
  }
  if (a.dim() == 1) out = out.squeeze(-2);
  if (b.dim() == 1) out = out.squeeze(-1);
  return out;
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (trace::Op t{"matmul"}) return t.in(a).in(b).out(matmul(a, b));
  TS_CHECK(a.defined() && b.defined(), ValueError, "matmul", "got an undefined tensor");
  if (amp::active()) {
    const amp::Cast c(amp::Op::matmul, {&a, &b});
    return matmul(c[0], c[1]);
  }
  return autograd::recorded(
      autograd::needs_grad(a, b), [&] { return matmul_forward(a, b); },
      [&](const Tensor& out) { autograd::rules::matmul(a, b, out); });
}

}  // namespace tessel

namespace tessel {

Tensor mm(const Tensor& a, const Tensor& b) {
  OpScope scope_("mm");
  if (amp::active()) {
    const amp::Cast c(amp::Op::mm, {&a, &b});
    return mm(c[0], c[1]);
  }
  TS_CHECK(a.dim() == 2 && b.dim() == 2, ValueError, "mm", "expects 2-D tensors, got shapes ", a.shape(), " and ",
           b.shape());
  return matmul(a, b);
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  OpScope scope_("bmm");
  if (amp::active()) {
    const amp::Cast c(amp::Op::bmm, {&a, &b});
    return bmm(c[0], c[1]);
  }
  TS_CHECK(a.dim() == 3 && b.dim() == 3, ValueError, "bmm", "expects 3-D tensors, got shapes ", a.shape(), " and ",
           b.shape());
  TS_CHECK(a.shape()[0] == b.shape()[0], ValueError, "bmm", "batch sizes differ: ", a.shape(), " and ", b.shape());
  return matmul(a, b);
}

Tensor mv(const Tensor& m, const Tensor& v) {
  OpScope scope_("mv");
  TS_CHECK(m.dim() == 2 && v.dim() == 1, ValueError, "mv", "expects a 2-D and a 1-D tensor, got shapes ", m.shape(),
           " and ", v.shape());
  return matmul(m, v);
}

Tensor dot(const Tensor& a, const Tensor& b) {
  OpScope scope_("dot");
  if (amp::active()) {
    const amp::Cast c(amp::Op::dot, {&a, &b});
    return dot(c[0], c[1]);
  }
  TS_CHECK(a.dim() == 1 && b.dim() == 1, ValueError, "dot", "expects 1-D tensors, got shapes ", a.shape(), " and ",
           b.shape());
  TS_CHECK(a.numel() == b.numel(), ValueError, "dot", "inconsistent sizes ", a.numel(), " and ", b.numel());
  return matmul(a, b);
}

Tensor vdot(const Tensor& a, const Tensor& b) {
  OpScope scope_("vdot");
  if (amp::active()) {
    const amp::Cast c(amp::Op::vdot, {&a, &b});
    return vdot(c[0], c[1]);
  }
  TS_CHECK(a.dim() == 1 && b.dim() == 1, ValueError, "vdot", "expects 1-D tensors, got shapes ", a.shape(), " and ",
           b.shape());
  return dot(conj(a), b);
}

Tensor outer(const Tensor& a, const Tensor& b) {
  OpScope scope_("outer");
  TS_CHECK(a.dim() == 1 && b.dim() == 1, ValueError, "outer", "expects 1-D tensors, got shapes ", a.shape(), " and ",
           b.shape());
  return mul(a.unsqueeze(1), b.unsqueeze(0));
}

Tensor addmm(const Tensor& input, const Tensor& m1, const Tensor& m2, const Scalar& beta, const Scalar& alpha) {
  OpScope scope_("addmm");
  if (amp::active()) {
    const amp::Cast c(amp::Op::addmm, {&input, &m1, &m2});
    return addmm(c[0], c[1], c[2], beta, alpha);
  }
  TS_CHECK(m1.dim() == 2 && m2.dim() == 2, ValueError, "addmm", "expects 2-D matrices, got shapes ", m1.shape(),
           " and ", m2.shape());
  Tensor r = matmul(m1, m2);
  const Shape bs = broadcast_shapes("addmm", input.shape(), r.shape());
  TS_CHECK(bs == r.shape(), ValueError, "addmm", "input of shape ", input.shape(),
           " does not broadcast to the product's shape ", r.shape());
  if (!(alpha.is_int() && alpha.to<int64_t>() == 1)) r = mul(r, alpha);
  const bool beta_zero = beta.to<double>() == 0 && !beta.is_complex();
  if (beta_zero) return r;
  return add(r, (beta.is_int() && beta.to<int64_t>() == 1) ? input : mul(input, beta));
}

Tensor baddbmm(const Tensor& input, const Tensor& b1, const Tensor& b2, const Scalar& beta, const Scalar& alpha) {
  OpScope scope_("baddbmm");
  if (amp::active()) {
    const amp::Cast c(amp::Op::baddbmm, {&input, &b1, &b2});
    return baddbmm(c[0], c[1], c[2], beta, alpha);
  }
  TS_CHECK(b1.dim() == 3 && b2.dim() == 3, ValueError, "baddbmm", "expects 3-D batches, got shapes ", b1.shape(),
           " and ", b2.shape());
  Tensor r = bmm(b1, b2);
  const Shape bs = broadcast_shapes("baddbmm", input.shape(), r.shape());
  TS_CHECK(bs == r.shape(), ValueError, "baddbmm", "input of shape ", input.shape(),
           " does not broadcast to the product's shape ", r.shape());
  if (!(alpha.is_int() && alpha.to<int64_t>() == 1)) r = mul(r, alpha);
  if (beta.to<double>() == 0 && !beta.is_complex()) return r;  // input is not read (NaN stays out)
  return add(r, (beta.is_int() && beta.to<int64_t>() == 1) ? input : mul(input, beta));
}

namespace {
// x weight^T + bias as one kernel where the device and dtype have one ("linear_bias": the bias
// in the matmul's epilogue, no second pass over the output); undefined otherwise, and for
// shapes the matmul and the add are left to check and report.
Tensor linear_bias(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias) {
  static const OpId kOp = Registry::get().op_id("linear_bias");
  if (!bias || x.dim() < 1 || weight.dim() != 2 || bias->dim() != 1) return Tensor();
  const int64_t N = weight.shape()[0], K = weight.shape()[1];
  const DType dt = x.dtype();
  const Device dev = x.device();
  if (x.shape().back() != K || bias->shape()[0] != N || x.numel() == 0 || N == 0 || K == 0 ||
      weight.dtype() != dt || bias->dtype() != dt || weight.device() != dev || bias->device() != dev ||
      !Registry::get().has(kOp, dev.type, dt))
    return Tensor();
  const Tensor x2 = x.reshape({-1, K});
  Shape out_shape = x.shape();
  out_shape.back() = N;
  Tensor out = empty({x2.shape()[0], N}, TensorOptions(dt, dev));
  const Tensor in[3] = {x2, weight, bias->contiguous()};
  dispatch(kOp, dt, in, {&out, 1});
  return out.reshape(out_shape);
}
}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias) {
  if (trace::Op t{"linear"}) return t.in(x).in(weight).in(bias).out(linear(x, weight, bias));
  OpScope scope_("linear");
  if (amp::active()) {
    const amp::Cast c(amp::Op::linear, {&x, &weight, amp::ptr(bias)});
    return linear(c[0], c[1], c.opt(2));
  }
  TS_CHECK(weight.dim() == 1 || weight.dim() == 2, ValueError, "linear", "weight must be 1-D or 2-D, got shape ",
           weight.shape());
  // Its own rule for the usual 2-D weight: one node, and the weight's gradient
  // comes out contiguous (g^T x) instead of as a transposed view to copy.
  const bool own_rule = weight.dim() == 2 && x.dim() >= 1 &&
                        autograd::needs_grad(x, weight, bias ? *bias : Tensor());
  return autograd::recorded(
      own_rule,
      [&] {
        if (Tensor y = linear_bias(x, weight, bias); y.defined()) return y;
        Tensor y = matmul(x, weight.t());
        if (bias) y = add(y, *bias);
        return y;
      },
      [&](const Tensor& out) { autograd::rules::linear(x, weight, bias, out); });
}

Tensor tensordot(const Tensor& a, const Tensor& b, const Shape& dims_a, const Shape& dims_b) {
  OpScope scope_("tensordot");
  if (amp::active()) {
    const amp::Cast c(amp::Op::tensordot, {&a, &b});
    return tensordot(c[0], c[1], dims_a, dims_b);
  }
  TS_CHECK(dims_a.size() == dims_b.size(), ValueError, "tensordot", "dims lists differ in length: ", dims_a, " and ",
           dims_b);
  std::vector<bool> ca(static_cast<size_t>(a.dim()), false), cb(static_cast<size_t>(b.dim()), false);
  Shape pa, pb, free_a, free_b;
  int64_t k = 1;
  for (size_t i = 0; i < dims_a.size(); ++i) {
    const int64_t da = wrap_dim("tensordot", dims_a[i], a.dim()), db = wrap_dim("tensordot", dims_b[i], b.dim());
    TS_CHECK(!ca[da] && !cb[db], ValueError, "tensordot", "repeated dim in ", dims_a, " or ", dims_b);
    TS_CHECK(a.shape()[da] == b.shape()[db], ValueError, "tensordot", "contracted dims differ: size ", a.shape()[da],
             " (dim ", da, " of ", a.shape(), ") vs ", b.shape()[db], " (dim ", db, " of ", b.shape(), ")");
    ca[da] = cb[db] = true;
    k *= a.shape()[da];
  }
  Shape order_a, order_b;
  for (int64_t d = 0; d < a.dim(); ++d)
    if (!ca[d]) order_a.push_back(d), free_a.push_back(a.shape()[d]);
  for (int64_t d : dims_a) order_a.push_back(wrap_dim("tensordot", d, a.dim()));
  for (int64_t d : dims_b) order_b.push_back(wrap_dim("tensordot", d, b.dim()));
  for (int64_t d = 0; d < b.dim(); ++d)
    if (!cb[d]) order_b.push_back(d), free_b.push_back(b.shape()[d]);
  const Tensor a2 = a.permute(order_a).reshape({shape_numel(free_a), k});
  const Tensor b2 = b.permute(order_b).reshape({k, shape_numel(free_b)});
  Shape out = free_a;
  out.insert(out.end(), free_b.begin(), free_b.end());
  return matmul(a2, b2).reshape(out);
}

Tensor tensordot(const Tensor& a, const Tensor& b, int64_t dims) {
  OpScope scope_("tensordot");
  TS_CHECK(dims >= 0 && dims <= a.dim() && dims <= b.dim(), ValueError, "tensordot", "cannot contract ", dims,
           " dims of shapes ", a.shape(), " and ", b.shape());
  Shape da, db;
  for (int64_t i = 0; i < dims; ++i) da.push_back(a.dim() - dims + i), db.push_back(i);
  return tensordot(a, b, da, db);
}

}  // namespace tessel
