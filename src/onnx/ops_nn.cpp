// ONNX neural-network ops: Conv, pooling, BatchNormalization (inference).
#include <algorithm>
#include <limits>

#include "src/onnx/internal.h"
#include "tessel/nn/functional.h"

namespace tessel::onnx {
namespace F = tessel::nn::functional;
namespace {

std::vector<Tensor> one(Tensor t) { return {std::move(t)}; }

struct Pads {
  Shape begin, end;
  bool symmetric() const { return begin == end; }
};

// Per-spatial-dim padding from `pads` or `auto_pad` (ONNX's SAME_UPPER puts the odd cell at the end).
Pads spatial_pads(const Node& n, const Shape& in, const Shape& kernel, const Shape& stride, const Shape& dilation) {
  const size_t k = kernel.size();
  if (in.size() != k) n.error("kernel_shape ", kernel, " must have ", in.size(), " values, one per spatial dim");
  // Zero strides would divide by zero below (and in the kernels); ONNX requires them positive.
  for (size_t d = 0; d < k; ++d) {
    if (kernel[d] < 1) n.error("kernel_shape ", kernel, " must be positive");
    if (stride[d] < 1) n.error("strides ", stride, " must be positive");
    if (dilation[d] < 1) n.error("dilations ", dilation, " must be positive");
  }
  Pads p{Shape(k, 0), Shape(k, 0)};
  const std::string autopad = n.s("auto_pad", "NOTSET");
  if (autopad == "NOTSET") {
    Shape pads = n.ints("pads", Shape(2 * k, 0));
    if (pads.size() != 2 * k) n.error("pads must have ", 2 * k, " values, got ", pads);
    for (size_t d = 0; d < k; ++d) {
      if (pads[d] < 0 || pads[d + k] < 0) n.error("negative pads ", pads, " are not supported");
      p.begin[d] = pads[d];
      p.end[d] = pads[d + k];
    }
  } else if (autopad == "SAME_UPPER" || autopad == "SAME_LOWER") {
    for (size_t d = 0; d < k; ++d) {
      int64_t out = (in[d] + stride[d] - 1) / stride[d];
      int64_t total = std::max<int64_t>(0, (out - 1) * stride[d] + (kernel[d] - 1) * dilation[d] + 1 - in[d]);
      p.begin[d] = autopad == "SAME_UPPER" ? total / 2 : total - total / 2;
      p.end[d] = total - p.begin[d];
    }
  } else if (autopad != "VALID") {
    // An attribute string is raw bytes in ONNX: echo it only when printable (messages reach Python as str).
    const bool printable = std::all_of(autopad.begin(), autopad.end(), [](char ch) { return ch >= 0x20 && ch < 0x7F; });
    n.error("auto_pad ", printable ? "'" + autopad + "'" : std::string("(not text)"),
            " must be NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  }
  return p;
}

// Pads the spatial dims explicitly (tessel::pad takes the last dim first).
Tensor pad_explicit(const Tensor& x, const Pads& p, double value) {
  Shape spec;
  for (size_t d = p.begin.size(); d-- > 0;) {
    spec.push_back(p.begin[d]);
    spec.push_back(p.end[d]);
  }
  return pad(x, spec, "constant", value);
}

Shape spatial(const Tensor& x) { return Shape(x.shape().begin() + 2, x.shape().end()); }

Shape attr_or(const Node& n, const char* name, size_t k, int64_t dflt) {
  Shape v = n.ints(name, Shape(k, dflt));
  if (v.size() != k) n.error(name, " must have ", k, " values, got ", v);
  return v;
}

std::vector<Tensor> conv(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Tensor& w = input(n, in, 1);
  if (x.dim() != 3 && x.dim() != 4) n.error("only 1-D and 2-D convolution (3-D or 4-D X) are supported, got X ", x.shape());
  if (w.dim() != x.dim()) n.error("W ", w.shape(), " must have the rank of X ", x.shape());
  const size_t k = static_cast<size_t>(x.dim() - 2);
  const Shape wk(w.shape().begin() + 2, w.shape().end());
  Shape kernel = n.ints("kernel_shape", wk);
  if (kernel != wk) n.error("kernel_shape ", kernel, " differs from the spatial dims of W ", w.shape());
  Shape stride = attr_or(n, "strides", k, 1), dilation = attr_or(n, "dilations", k, 1);
  Pads p = spatial_pads(n, spatial(x), kernel, stride, dilation);
  Tensor xi = x;
  F::ConvOptions o;
  o.stride = stride;
  o.dilation = dilation;
  o.groups = n.i("group", 1);
  if (p.symmetric()) {
    o.padding = p.begin;
  } else {
    xi = pad_explicit(x, p, 0.0);
    o.padding = Shape(k, 0);
  }
  std::optional<Tensor> bias;
  if (in.size() > 2 && in[2]) bias = *in[2];
  return one(k == 1 ? F::conv1d(xi, w, bias, o) : F::conv2d(xi, w, bias, o));
}

void check_pool_input(const Node& n, const Tensor& x) {
  if (x.dim() != 4) n.error("only 2-D pooling (4-D X [N, C, H, W]) is supported, got X ", x.shape());
}

std::vector<Tensor> max_pool(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  check_pool_input(n, x);
  if (n.outputs.size() > 1 && !n.outputs[1].empty()) n.error<NotImplementedError>("the Indices output is not supported");
  if (n.i("storage_order", 0) != 0) n.error<NotImplementedError>("storage_order=1 is not supported");
  if (!n.has("kernel_shape")) n.error("attribute kernel_shape is required");
  Shape kernel = n.ints("kernel_shape");
  if (kernel.size() != 2) n.error("kernel_shape must have 2 values, got ", kernel);
  Shape stride = attr_or(n, "strides", 2, 1), dilation = attr_or(n, "dilations", 2, 1);
  Pads p = spatial_pads(n, spatial(x), kernel, stride, dilation);
  const bool ceil = n.i("ceil_mode", 0) != 0;
  if (p.symmetric()) return one(F::max_pool2d(x, kernel, stride, p.begin, dilation, ceil));
  Tensor xp = pad_explicit(x, p, -std::numeric_limits<double>::infinity());
  return one(F::max_pool2d(xp, kernel, stride, {0, 0}, dilation, ceil));
}

std::vector<Tensor> avg_pool(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  check_pool_input(n, x);
  if (!n.has("kernel_shape")) n.error("attribute kernel_shape is required");
  Shape kernel = n.ints("kernel_shape");
  if (kernel.size() != 2) n.error("kernel_shape must have 2 values, got ", kernel);
  Shape stride = attr_or(n, "strides", 2, 1), dilation = attr_or(n, "dilations", 2, 1);
  if (dilation != Shape{1, 1}) n.error<NotImplementedError>("dilations ", dilation, " are not supported");
  Pads p = spatial_pads(n, spatial(x), kernel, stride, dilation);
  const bool ceil = n.i("ceil_mode", 0) != 0;
  const bool include_pad = n.i("count_include_pad", 0) != 0;  // ONNX's default excludes the padding
  if (p.symmetric()) return one(F::avg_pool2d(x, kernel, stride, p.begin, ceil, include_pad));
  if (!include_pad)
    n.error<NotImplementedError>("asymmetric pads with count_include_pad=0 are not supported yet");
  return one(F::avg_pool2d(pad_explicit(x, p, 0.0), kernel, stride, {0, 0}, ceil, true));
}

}  // namespace

void register_nn_ops(std::map<std::string, OpFn>& t) {
  t["Conv"] = conv;
  t["MaxPool"] = max_pool;
  t["AveragePool"] = avg_pool;
  t["GlobalAveragePool"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    if (x.dim() < 3) n.error("X must have spatial dims, got ", x.shape());
    Shape dims;
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    return one(mean(x, dims, true));
  };
  t["GlobalMaxPool"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    if (x.dim() < 3) n.error("X must have spatial dims, got ", x.shape());
    Shape dims;
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    return one(amax(x, dims, true));
  };
  t["BatchNormalization"] = [](const Node& n, const Inputs& in, const OpContext&) {
    if (n.i("training_mode", 0) != 0) n.error<NotImplementedError>("training_mode=1 is not supported (inference only)");
    const Tensor& x = input(n, in, 0);
    if (x.dim() < 2) n.error("X must be at least 2-D [N, C, ...], got ", x.shape());
    return one(F::batch_norm(x, input(n, in, 3), input(n, in, 4), input(n, in, 1), input(n, in, 2), false, 0.0,
                             n.f("epsilon", 1e-5)));
  };
}

}  // namespace tessel::onnx
