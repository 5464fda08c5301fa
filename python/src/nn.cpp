// Bindings for tessel::nn::functional as tessel._C._nn, with torch.nn.functional's signatures.
#include <pybind11/stl.h>

#include "python/src/convert.h"
#include "src/nn/norm_fused.h"
#include "src/nn/rnn_fused.h"
#include "tessel/nn/functional.h"

namespace tessel::python {

namespace F = tessel::nn::functional;

namespace {
// An int or a tuple of ints.
Shape ints(py::handle o) {
  if (py::isinstance<py::int_>(o)) return {py::cast<int64_t>(o)};
  return to_shape(o);
}
std::optional<Tensor> opt(py::handle o) {
  if (o.is_none()) return std::nullopt;
  return o.cast<Tensor>();
}
F::ConvOptions conv_opts(py::handle stride, py::handle padding, py::handle dilation, int64_t groups) {
  F::ConvOptions o;
  o.stride = ints(stride);
  if (py::isinstance<py::str>(padding)) o.padding_mode = py::cast<std::string>(padding);
  else o.padding = ints(padding);
  o.dilation = ints(dilation);
  o.groups = groups;
  return o;
}
}  // namespace

void init_nn(py::module_& m) {
  auto nn = m.def_submodule("_nn", "neural-network ops (torch.nn.functional names)");
  nn.def("conv1d", [](const Tensor& x, const Tensor& w, py::handle b, py::handle stride, py::handle padding,
                      py::handle dilation, int64_t groups) {
    return F::conv1d(x, w, opt(b), conv_opts(stride, padding, dilation, groups));
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
     py::arg("dilation") = 1, py::arg("groups") = 1);
  nn.def("conv2d", [](const Tensor& x, const Tensor& w, py::handle b, py::handle stride, py::handle padding,
                      py::handle dilation, int64_t groups) {
    return F::conv2d(x, w, opt(b), conv_opts(stride, padding, dilation, groups));
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
     py::arg("dilation") = 1, py::arg("groups") = 1,
     "2-D convolution of input [N, C, H, W] with weight [O, C/groups, kH, kW]; padding may be 'same' or 'valid'.");
  nn.def("conv_transpose2d", [](const Tensor& x, const Tensor& w, py::handle b, py::handle stride, py::handle padding,
                                py::handle output_padding, int64_t groups, py::handle dilation) {
    return F::conv_transpose2d(x, w, opt(b), ints(stride), ints(padding), ints(output_padding), groups,
                               ints(dilation));
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
     py::arg("output_padding") = 0, py::arg("groups") = 1, py::arg("dilation") = 1);
  nn.def("max_pool2d", [](const Tensor& x, py::handle k, py::handle stride, py::handle padding, py::handle dilation,
                          bool ceil_mode, bool return_indices) -> py::object {
    const Shape s = stride.is_none() ? Shape{} : ints(stride);
    if (return_indices) {
      auto [v, i] = F::max_pool2d_with_indices(x, ints(k), s, ints(padding), ints(dilation), ceil_mode);
      return py::make_tuple(v, i);
    }
    return py::cast(F::max_pool2d(x, ints(k), s, ints(padding), ints(dilation), ceil_mode));
  }, py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
     py::arg("dilation") = 1, py::arg("ceil_mode") = false, py::arg("return_indices") = false);
  nn.def("avg_pool2d", [](const Tensor& x, py::handle k, py::handle stride, py::handle padding, bool ceil_mode,
                          bool count_include_pad, std::optional<int64_t> divisor_override) {
    return F::avg_pool2d(x, ints(k), stride.is_none() ? Shape{} : ints(stride), ints(padding), ceil_mode,
                         count_include_pad, divisor_override);
  }, py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
     py::arg("ceil_mode") = false, py::arg("count_include_pad") = true, py::arg("divisor_override") = py::none());
  nn.def("adaptive_avg_pool2d", [](const Tensor& x, py::handle size) { return F::adaptive_avg_pool2d(x, ints(size)); },
         py::arg("input"), py::arg("output_size"));
  nn.def("batch_norm", [](const Tensor& x, py::handle rm, py::handle rv, py::handle w, py::handle b, bool training,
                          double momentum, double eps) {
    return F::batch_norm(x, opt(rm), opt(rv), opt(w), opt(b), training, momentum, eps);
  }, py::arg("input"), py::arg("running_mean"), py::arg("running_var"), py::arg("weight") = py::none(),
     py::arg("bias") = py::none(), py::arg("training") = false, py::arg("momentum") = 0.1, py::arg("eps") = 1e-5);
  nn.def("layer_norm", [](const Tensor& x, py::handle shape, py::handle w, py::handle b, double eps) {
    return F::layer_norm(x, ints(shape), opt(w), opt(b), eps);
  }, py::arg("input"), py::arg("normalized_shape"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
     py::arg("eps") = 1e-5);
  // rms_norm's fused kernels (tessel.nn.functional.rms_norm checks the arguments; None
  // where the kernels do not apply and the caller composes the ops).
  nn.def("_rms_norm_fused", [](const Tensor& x, int64_t k, py::handle w, double eps) {
    return F::rms_norm_fused(x, k, opt(w), eps);
  }, py::arg("input"), py::arg("k"), py::arg("weight") = py::none(), py::arg("eps"));
  // The fused LSTM/GRU recurrence of one layer and direction (tessel.nn.LSTM/GRU); None
  // where the kernels do not apply and the module loops over the steps.
  nn.def("_rnn_fused", [](bool gru, const Tensor& xp, const Tensor& h0, py::handle c0, const Tensor& w_hh,
                          py::handle b_hh, bool reverse) -> py::object {
    auto r = F::rnn_fused(gru, xp, h0, opt(c0), w_hh, opt(b_hh), reverse);
    if (!r) return py::none();
    return py::cast(*r);
  }, py::arg("gru"), py::arg("xp"), py::arg("h0"), py::arg("c0"), py::arg("w_hh"), py::arg("b_hh"),
     py::arg("reverse"));
  nn.def("group_norm", [](const Tensor& x, int64_t groups, py::handle w, py::handle b, double eps) {
    return F::group_norm(x, groups, opt(w), opt(b), eps);
  }, py::arg("input"), py::arg("num_groups"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
     py::arg("eps") = 1e-5);
  nn.def("embedding", [](const Tensor& x, const Tensor& w, std::optional<int64_t> padding_idx) {
    return F::embedding(x, w, padding_idx);
  }, py::arg("input"), py::arg("weight"), py::arg("padding_idx") = py::none());
  nn.def("scaled_dot_product_attention", [](const Tensor& q, const Tensor& k, const Tensor& v, py::handle mask,
                                            double dropout_p, bool is_causal, std::optional<double> scale) {
    return F::scaled_dot_product_attention(q, k, v, opt(mask), dropout_p, is_causal, scale);
  }, py::arg("query"), py::arg("key"), py::arg("value"), py::arg("attn_mask") = py::none(),
     py::arg("dropout_p") = 0.0, py::arg("is_causal") = false, py::arg("scale") = py::none());
  nn.def("cross_entropy", [](const Tensor& x, const Tensor& t, py::handle w, int64_t ignore_index,
                             const std::string& reduction, double label_smoothing) {
    return F::cross_entropy(x, t, opt(w), ignore_index, reduction, label_smoothing);
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::kw_only(),
     py::arg("ignore_index") = -100, py::arg("reduction") = "mean", py::arg("label_smoothing") = 0.0);
  nn.def("nll_loss", [](const Tensor& x, const Tensor& t, py::handle w, int64_t ignore_index,
                        const std::string& reduction) {
    return F::nll_loss(x, t, opt(w), ignore_index, reduction);
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::kw_only(),
     py::arg("ignore_index") = -100, py::arg("reduction") = "mean");
  nn.def("mse_loss", &F::mse_loss, py::arg("input"), py::arg("target"), py::kw_only(), py::arg("reduction") = "mean");
  nn.def("l1_loss", &F::l1_loss, py::arg("input"), py::arg("target"), py::kw_only(), py::arg("reduction") = "mean");
  nn.def("smooth_l1_loss", &F::smooth_l1_loss, py::arg("input"), py::arg("target"), py::kw_only(),
         py::arg("reduction") = "mean", py::arg("beta") = 1.0);
  nn.def("binary_cross_entropy", [](const Tensor& x, const Tensor& t, py::handle w, const std::string& reduction) {
    return F::binary_cross_entropy(x, t, opt(w), reduction);
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::kw_only(),
     py::arg("reduction") = "mean");
  nn.def("binary_cross_entropy_with_logits", [](const Tensor& x, const Tensor& t, py::handle w,
                                                const std::string& reduction, py::handle pos_weight) {
    return F::binary_cross_entropy_with_logits(x, t, opt(w), opt(pos_weight), reduction);
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::kw_only(),
     py::arg("reduction") = "mean", py::arg("pos_weight") = py::none());
}

}  // namespace tessel::python
