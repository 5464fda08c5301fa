// ONNX math ops: elementwise arithmetic and activations, MatMul, Gemm, Softmax,
// Einsum, Det, and the integer/quantized matmuls.
#include <cmath>

#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace {


// ONNX never promotes: mixed dtypes are a model error, not something to fix silently.
void same_dtype(const Node& n, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    n.error<TypeError>("inputs must have the same dtype (ONNX does not promote), got ", a.dtype(), " and ", b.dtype());
}

template <class F>
OpFn arith(F f) {
  return [f](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor &a = input(n, in, 0), &b = input(n, in, 1);
    same_dtype(n, a, b);
    if (a.dtype() == DType::Bool) n.error<TypeError>("bool inputs are not allowed");
    return one(f(a, b));
  };
}

// Determinants by LU with partial pivoting, in float64 on the host: [..., M, M] -> [...].
Tensor det(const Node& n, const Tensor& x) {
  if (!is_floating(x.dtype())) n.error<TypeError>("input has dtype ", x.dtype(), ", which Det does not accept");
  if (x.dim() < 2 || x.shape()[x.dim() - 1] != x.shape()[x.dim() - 2])
    n.error("input must be [..., M, M], got shape ", x.shape());
  const int64_t m = x.shape()[x.dim() - 1];
  Shape batch(x.shape().begin(), x.shape().end() - 2);
  Tensor a = x.to(DType::Float64).contiguous().clone();
  Tensor out = empty(batch, DType::Float64);
  double* p = a.data<double>();
  double* o = out.data<double>();
  for (int64_t b = 0; b < out.numel(); ++b) {
    double* q = p + b * m * m;
    double d = 1.0;
    for (int64_t c = 0; c < m && d != 0.0; ++c) {
      int64_t piv = c;
      for (int64_t r = c + 1; r < m; ++r)
        if (std::abs(q[r * m + c]) > std::abs(q[piv * m + c])) piv = r;
      if (q[piv * m + c] == 0.0) {
        d = 0.0;
        break;
      }
      if (piv != c) {
        for (int64_t k = 0; k < m; ++k) std::swap(q[c * m + k], q[piv * m + k]);
        d = -d;
      }
      d *= q[c * m + c];
      for (int64_t r = c + 1; r < m; ++r) {
        const double f = q[r * m + c] / q[c * m + c];
        for (int64_t k = c; k < m; ++k) q[r * m + k] -= f * q[c * m + k];
      }
    }
    o[b] = d;
  }
  return out.to(x.dtype());
}

// A per-row scale or zero point ([M] for A of shape [..., M, K]) broadcast as a column.
Tensor row_param(const Tensor& p, const Tensor& a) {
  if (p.dim() == 1 && p.numel() > 1 && a.dim() >= 2) return p.reshape({p.numel(), 1});
  return p;
}

// Input k (8-bit) minus its zero point (input zp, optional), in float64.
Tensor zero_shifted(const Node& n, const Inputs& in, size_t k, size_t zp) {
  const Tensor& a = input(n, in, k);
  if (a.dtype() != DType::UInt8 && a.dtype() != DType::Int8)
    n.error<TypeError>("input ", k, " must be uint8 or int8, got ", a.dtype());
  Tensor v = a.to(DType::Float64);
  if (zp < in.size() && in[zp]) {
    if (in[zp]->dtype() != a.dtype())
      n.error<TypeError>("zero point ", zp, " must have the dtype of input ", k, " (", a.dtype(), "), got ", in[zp]->dtype());
    Tensor z = in[zp]->to(DType::Float64);
    v = sub(v, k == 0 ? row_param(z, a) : z);
  }
  return v;
}

Tensor qlinear_matmul(const Node& n, const Inputs& in) {
  const Tensor &a = input(n, in, 0), &b = input(n, in, 3);
  const Tensor &y_scale = input(n, in, 6), &y_zp = input(n, in, 7);
  if (a.dtype() != DType::UInt8 && a.dtype() != DType::Int8) n.error<TypeError>("a must be uint8 or int8, got ", a.dtype());
  if (b.dtype() != DType::UInt8 && b.dtype() != DType::Int8) n.error<TypeError>("b must be uint8 or int8, got ", b.dtype());
  const DType f = DType::Float64;
  Tensor af = mul(sub(a.to(f), row_param(input(n, in, 2), a).to(f)), row_param(input(n, in, 1), a).to(f));
  Tensor bf = mul(sub(b.to(f), input(n, in, 5).to(f)), input(n, in, 4).to(f));
  // Quantize the float product: round half to even, shift, saturate to Y's range.
  Tensor y = add(round(div(matmul(af, bf), y_scale.to(f))), y_zp.to(f));
  const bool u8 = y_zp.dtype() == DType::UInt8;
  return clamp(y, Scalar(u8 ? 0.0 : -128.0), Scalar(u8 ? 255.0 : 127.0)).to(y_zp.dtype());
}

Tensor onnx_div(const Tensor& a, const Tensor& b) {
  Tensor q = div(a, b);
  // ONNX integer Div truncates toward zero; tessel's div is true division.
  if (is_integral(a.dtype(), true) && is_integral(b.dtype(), true)) return trunc(q).to(a.dtype());
  return q;
}

// Softmax along `axis` (opset >= 13), or over the flattened dims from `axis` on (older opsets).
Tensor onnx_softmax(const Node& n, const Tensor& x, const OpContext& ctx, bool log) {
  const int64_t r = x.dim();
  int64_t axis = n.i("axis", ctx.opset >= 13 ? -1 : 1);
  if (axis < -r || axis >= std::max<int64_t>(r, 1)) n.error("axis ", axis, " is out of range for rank ", r);
  if (axis < 0) axis += r;
  if (ctx.opset >= 13 || r == 0) return log ? log_softmax(x, r == 0 ? 0 : axis) : softmax(x, r == 0 ? 0 : axis);
  Tensor flat = x.flatten(axis);  // [d0, .., d(axis-1), rest]
  Tensor y = log ? log_softmax(flat, -1) : softmax(flat, -1);
  return y.reshape(x.shape());
}

}  // namespace

void register_math_ops(std::map<std::string, OpFn>& t) {
  t["Add"] = arith([](const Tensor& a, const Tensor& b) { return add(a, b); });
  t["Sub"] = arith([](const Tensor& a, const Tensor& b) { return sub(a, b); });
  t["Mul"] = arith([](const Tensor& a, const Tensor& b) { return mul(a, b); });
  t["Div"] = arith([](const Tensor& a, const Tensor& b) { return onnx_div(a, b); });
  t["Relu"] = [](const Node& n, const Inputs& in, const OpContext&) { return one(relu(input(n, in, 0))); };
  t["Sigmoid"] = [](const Node& n, const Inputs& in, const OpContext&) { return one(sigmoid(input(n, in, 0))); };
  t["Tanh"] = [](const Node& n, const Inputs& in, const OpContext&) { return one(tanh(input(n, in, 0))); };
  t["Softmax"] = [](const Node& n, const Inputs& in, const OpContext& c) {
    return one(onnx_softmax(n, input(n, in, 0), c, false));
  };
  t["LogSoftmax"] = [](const Node& n, const Inputs& in, const OpContext& c) {
    return one(onnx_softmax(n, input(n, in, 0), c, true));
  };
  t["MatMul"] = [](const Node& n, const Inputs& in, const OpContext&) {
    return one(matmul(input(n, in, 0), input(n, in, 1)));
  };
  t["Einsum"] = [](const Node& n, const Inputs& in, const OpContext&) {
    if (!n.has("equation")) n.error("attribute 'equation' is required");
    std::string eq;
    for (char ch : n.s("equation", "")) if (ch != ' ') eq += ch;  // ONNX allows spaces
    std::vector<Tensor> ops;
    for (size_t k = 0; k < in.size(); ++k) {
      ops.push_back(input(n, in, k));
      if (k > 0) same_dtype(n, ops[0], ops[k]);
    }
    return one(einsum(eq, ops));
  };
  t["Det"] = [](const Node& n, const Inputs& in, const OpContext&) { return one(det(n, input(n, in, 0))); };
  t["MatMulInteger"] = [](const Node& n, const Inputs& in, const OpContext&) {
    // Exact in float64: 8-bit products summed over fewer than 2^37 terms.
    return one(matmul(zero_shifted(n, in, 0, 2), zero_shifted(n, in, 1, 3)).to(DType::Int32));
  };
  t["QLinearMatMul"] = [](const Node& n, const Inputs& in, const OpContext&) { return one(qlinear_matmul(n, in)); };
  // Y = alpha * A' @ B' + beta * C, C broadcast to the result.
  t["Gemm"] = [](const Node& n, const Inputs& in, const OpContext&) {
    Tensor a = input(n, in, 0), b = input(n, in, 1);
    if (a.dim() != 2 || b.dim() != 2) n.error("A and B must be 2-D, got shapes ", a.shape(), " and ", b.shape());
    if (n.i("transA", 0)) a = a.t();
    if (n.i("transB", 0)) b = b.t();
    const double alpha = n.f("alpha", 1.0), beta = n.f("beta", 1.0);
    Tensor y = matmul(a, b);
    if (alpha != 1.0) y = mul(y, Scalar(alpha));
    if (in.size() > 2 && in[2] && beta != 0.0) {
      Tensor c = *in[2];
      y = add(y, beta == 1.0 ? c : mul(c, Scalar(beta)));
    }
    return one(y);
  };
}

}  // namespace tessel::onnx
