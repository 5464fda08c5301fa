// ONNX math ops: elementwise arithmetic and activations, MatMul, Gemm, Softmax.
#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace {

std::vector<Tensor> one(Tensor t) { return {std::move(t)}; }

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
  t["Add"] = [](const Node& n, const Inputs& in, const OpContext&) { return one(add(input(n, in, 0), input(n, in, 1))); };
  t["Sub"] = [](const Node& n, const Inputs& in, const OpContext&) { return one(sub(input(n, in, 0), input(n, in, 1))); };
  t["Mul"] = [](const Node& n, const Inputs& in, const OpContext&) { return one(mul(input(n, in, 0), input(n, in, 1))); };
  t["Div"] = [](const Node& n, const Inputs& in, const OpContext&) {
    return one(onnx_div(input(n, in, 0), input(n, in, 1)));
  };
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
