// The host side of kernels/cuda/nn.cu: softmax/log_softmax, the fused SGD and
// Adam steps and the offset gathers/scatters, registered for cuda. With
// register.cpp's kernels these cover an MLP's training step (forward,
// autograd's backward rules, optimizer) on the device.
#include <cmath>

#include "kernels/cuda/host.h"
#include "kernels/cuda/launch_nn.h"
#include "kernels/cuda/launch_norm.h"
#include "kernels/cuda/launch_pool.h"
#include "src/cuda/runtime.h"
#include "tessel/kernel.h"
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel::cuda {
namespace {

template <bool Log>
void softmax_kernel(const KernelCall& c) {
  const Tensor& a = c.in[0];
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const int64_t dim = static_cast<const ReduceDimParams*>(c.params)->dim;
  const int64_t len = a.shape()[dim];
  const int64_t item = static_cast<int64_t>(a.itemsize());
  const Tensor a0 = a.narrow(dim, 0, 1), o0 = out.narrow(dim, 0, 1);
  const Layout<2> rows = layout_of<2>({&o0, &a0});
  on_device(Log ? "log_softmax" : "softmax", out, [&](cudaStream_t s) {
    return launch_softmax(Log, code(a.dtype()), rows, len, out.strides()[dim] * item, a.strides()[dim] * item, s);
  });
}

template <bool Max>
void extreme_dim_kernel(const KernelCall& c) {
  const Tensor& a = c.in[0];
  if (c.out[0].numel() == 0) return;
  const int64_t dim = static_cast<const ReduceDimParams*>(c.params)->dim;
  const Tensor av = a.select(dim, 0).unsqueeze(dim);
  const Layout<3> rows = layout_of<3>({&c.out[0], &c.out[1], &av});
  on_device(Max ? "max_dim" : "min_dim", c.out[0], [&](cudaStream_t s) {
    return launch_extreme_dim(Max, code(a.dtype()), rows, a.shape()[dim],
                              a.strides()[dim] * static_cast<int64_t>(a.itemsize()), s);
  });
}

// Rows along the dim made contiguous, sorted through padded scratch rows, then
// copied into the outputs' layout.
void sort_kernel(const KernelCall& c) {
  const Tensor& a = c.in[0];
  const auto& sp = *static_cast<const SortParams*>(c.params);
  const int64_t last = a.dim() - 1;  // the dim swapped last (outputs alike)
  const Tensor x = a.transpose(sp.dim, last).contiguous();
  const int64_t len = x.dim() ? x.shape().back() : 1, rows = len ? x.numel() / len : 0;
  if (rows == 0 || len == 0) return;
  int64_t padded = 1;
  while (padded < len) padded <<= 1;
  const Device dev = a.device();
  const Tensor keys = empty({rows, padded}, TensorOptions(a.dtype(), dev));
  const Tensor idx = empty({rows, padded}, TensorOptions(DType::Int64, dev));
  const Tensor values = empty(x.shape(), TensorOptions(a.dtype(), dev));
  const Tensor indices = empty(x.shape(), TensorOptions(DType::Int64, dev));
  on_device("sort", a, [&](cudaStream_t s) {
    return launch_sort(code(a.dtype()), sp.descending, x.data_ptr(), keys.data_ptr(),
                       static_cast<int64_t*>(idx.data_ptr()), values.data_ptr(),
                       static_cast<int64_t*>(indices.data_ptr()), rows, len, padded, s);
  });
  c.out[0].transpose(sp.dim, last).copy_(values);
  c.out[1].transpose(sp.dim, last).copy_(indices);
}

// topk: the sort kernel's stable order (ties keep the lower index first, NaN largest, as
// the CPU's topk), then the first k along the dim.
void topk_kernel(const KernelCall& c) {
  const auto& p = *static_cast<const TopkParams*>(c.params);
  const Tensor& a = c.in[0];
  Tensor sorted[2] = {empty(a.shape(), TensorOptions(a.dtype(), a.device())),
                      empty(a.shape(), TensorOptions(DType::Int64, a.device()))};
  const SortParams sp{p.dim, p.largest};
  dispatch(op::sort, a.dtype(), {&a, 1}, sorted, &sp);
  c.out[0].copy_(sorted[0].narrow(p.dim, 0, p.k));
  c.out[1].copy_(sorted[1].narrow(p.dim, 0, p.k));
}

template <bool Prod>
void scan_kernel(const KernelCall& c) {
  const Tensor& a = c.in[0];
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const int64_t dim = static_cast<const ReduceDimParams*>(c.params)->dim;
  const int64_t len = a.shape()[dim];
  const Tensor a0 = a.narrow(dim, 0, 1), o0 = out.narrow(dim, 0, 1);
  const Layout<2> rows = layout_of<2>({&o0, &a0});
  on_device(Prod ? "cumprod" : "cumsum", out, [&](cudaStream_t s) {
    return launch_scan(Prod, code(a.dtype()), rows, len, out.strides()[dim] * static_cast<int64_t>(out.itemsize()),
                       a.strides()[dim] * static_cast<int64_t>(a.itemsize()), s);
  });
}

void sgd_kernel(const KernelCall& c) {
  const OptimParams& o = *static_cast<const OptimParams*>(c.params);
  Tensor& p = c.out[0];
  if (p.numel() == 0) return;
  const SgdArgs a{o.lr, o.weight_decay, o.momentum, 1 - o.dampening, o.maximize ? -1.0 : 1.0,
                  o.first_step ? 1.0 : 0.0, o.nesterov ? 1.0 : 0.0, o.momentum != 0};
  on_device("sgd_step", p, [&](cudaStream_t s) {
    return launch_sgd(code(p.dtype()), a, c.in[0].data_ptr(), p.data_ptr(), a.momentum ? c.out[1].data_ptr() : nullptr,
                      p.numel(), s);
  });
}

void adam_kernel(const KernelCall& c) {
  const OptimParams& o = *static_cast<const OptimParams*>(c.params);
  Tensor& p = c.out[0];
  if (p.numel() == 0) return;
  const double t = static_cast<double>(o.step);
  const AdamArgs a{o.beta1,
                   o.beta2,
                   o.eps,
                   o.maximize ? -1.0 : 1.0,
                   o.lr / (1 - std::pow(o.beta1, t)),
                   1 / std::sqrt(1 - std::pow(o.beta2, t)),
                   o.decoupled_weight_decay ? 0.0 : o.weight_decay,
                   o.decoupled_weight_decay ? 1 - o.lr * o.weight_decay : 1.0,
                   o.amsgrad};
  on_device("adam_step", p, [&](cudaStream_t s) {
    return launch_adam(code(p.dtype()), a, c.in[0].data_ptr(), p.data_ptr(), c.out[1].data_ptr(),
                       c.out[2].data_ptr(), o.amsgrad ? c.out[3].data_ptr() : nullptr, p.numel(), s);
  });
}

// rmsprop_step: in grad; out param, square_avg[, momentum buffer][, grad_avg].
void rmsprop_kernel(const KernelCall& c) {
  const OptimParams& o = *static_cast<const OptimParams*>(c.params);
  Tensor& p = c.out[0];
  if (p.numel() == 0) return;
  const bool m = o.momentum > 0;
  const RmspropArgs a{o.lr, o.weight_decay, o.alpha, o.eps, o.momentum, o.maximize ? -1.0 : 1.0, m, o.centered};
  size_t k = 2;
  void* buf = m ? c.out[k++].data_ptr() : nullptr;
  void* gavg = o.centered ? c.out[k++].data_ptr() : nullptr;
  on_device("rmsprop_step", p, [&](cudaStream_t s) {
    return launch_rmsprop(code(p.dtype()), a, c.in[0].data_ptr(), p.data_ptr(), c.out[1].data_ptr(), buf, gavg,
                          p.numel(), s);
  });
}

void arange_kernel(const KernelCall& c) {
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const auto& ps = *static_cast<const ArangeParams*>(c.params);
  const bool integral = is_integral(out.dtype());  // only the operands' own kind is converted
  const int64_t a = integral ? ps.start.to<int64_t>() : 0, st = integral ? ps.step.to<int64_t>() : 0;
  const double ad = integral ? 0 : ps.start.to<double>(), std_ = integral ? 0 : ps.step.to<double>();
  on_device("arange", out, [&](cudaStream_t s) {
    return launch_arange(code(out.dtype()), a, st, ad, std_, out.data_ptr(), out.numel(), s);
  });
}

template <Random R>
void random_kernel(const KernelCall& c) {
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const auto& p = *static_cast<const RandomParams*>(c.params);
  const RandomArgs r{p.seed, p.offset, p.a, p.b, p.low, p.high};
  on_device(R == Random::randint ? "randint" : R == Random::normal ? "normal" : "uniform", out,
            [&](cudaStream_t s) { return launch_random(R, code(out.dtype()), r, out.data_ptr(), out.numel(), s); });
}

void take_kernel(const KernelCall& c) {
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const Layout<2> L = layout_of<2>({&out, &c.in[1]});
  on_device("take_offsets", out, [&](cudaStream_t s) {
    return launch_take(static_cast<int>(out.itemsize()), c.in[0].data_ptr(), L, s);
  });
}

template <bool Add>
void put_kernel(const KernelCall& c) {
  Tensor& dst = c.out[0];
  if (c.in[0].numel() == 0) return;
  const Layout<2> L = layout_of<2>({&c.in[0], &c.in[1]});
  on_device(Add ? "put_offsets_add" : "put_offsets", dst, [&](cudaStream_t s) {
    return Add ? launch_put_add(code(dst.dtype()), dst.data_ptr(), L, s)
               : launch_put(static_cast<int>(dst.itemsize()), dst.data_ptr(), L, s);
  });
}

PoolGeom pool_geom(const Tensor& x, const Tensor& y, const PoolParams& p) {
  PoolGeom g{x.shape()[0] * x.shape()[1], x.shape()[2], x.shape()[3], y.shape()[2], y.shape()[3], {}, {}, {}, {}};
  for (int i = 0; i < 2; ++i) g.k[i] = p.kernel[i], g.s[i] = p.stride[i], g.p[i] = p.pad[i], g.d[i] = p.dilation[i];
  return g;
}

// Without the indices output (inference) they go to scratch.
void max_pool2d_kernel(const KernelCall& c) {
  const Tensor& x = c.in[0];
  Tensor& y = c.out[0];
  if (y.numel() == 0) return;
  const Tensor idx = c.out.size() > 1 ? c.out[1] : empty(y.shape(), TensorOptions(DType::Int64, y.device()));
  const PoolGeom g = pool_geom(x, y, *static_cast<const PoolParams*>(c.params));
  on_device("max_pool2d", y, [&](cudaStream_t s) {
    return launch_max_pool2d(code(x.dtype()), g, x.data_ptr(), y.data_ptr(), static_cast<int64_t*>(idx.data_ptr()), s);
  });
}

void max_pool2d_backward_kernel(const KernelCall& c) {
  const Tensor &gy = c.in[0], &idx = c.in[1];
  Tensor& gx = c.out[0];
  if (gx.numel() == 0) return;
  PoolGeom g{gx.shape()[0] * gx.shape()[1], gx.shape()[2], gx.shape()[3], gy.shape()[2], gy.shape()[3], {}, {}, {}, {}};
  on_device("max_pool2d_backward", gx, [&](cudaStream_t s) {
    return launch_max_pool2d_backward(code(gx.dtype()), g, gy.data_ptr(), static_cast<const int64_t*>(idx.data_ptr()),
                                      gx.data_ptr(), s);
  });
}

// "layer_norm_fused": in x [R, D], weight, bias [D] (contiguous); out y [R, D], mean, rstd [R].
void layer_norm_kernel(const KernelCall& c) {
  const Tensor& x = c.in[0];
  const int64_t R = x.shape()[0], D = x.shape()[1];
  if (R == 0 || D == 0) return;
  const double eps = static_cast<const UnaryParams*>(c.params)->a;
  on_device("layer_norm", c.out[0], [&](cudaStream_t s) {
    return launch_layer_norm(code(x.dtype()), R, D, eps, x.data_ptr(), c.in[1].data_ptr(), c.in[2].data_ptr(),
                             c.out[0].data_ptr(), c.out[1].data_ptr(), c.out[2].data_ptr(), s);
  });
}

// "layer_norm_fused_backward": in g, x [R, D], mean, rstd [R], weight [D]; out dx and, with three
// outputs, dweight and dbias [D].
void layer_norm_backward_kernel(const KernelCall& c) {
  const Tensor& x = c.in[1];
  const int64_t R = x.shape()[0], D = x.shape()[1];
  const bool sums = c.out.size() >= 3;
  if (R == 0 || D == 0) {
    for (Tensor& t : c.out) t.zero_();
    return;
  }
  const Tensor scratch = sums ? empty({2 * layer_norm_backward_chunks(R) * D}, TensorOptions(x.dtype(), x.device()))
                              : Tensor();
  on_device("layer_norm_backward", c.out[0], [&](cudaStream_t s) {
    return launch_layer_norm_backward(code(x.dtype()), R, D, c.in[0].data_ptr(), x.data_ptr(), c.in[2].data_ptr(),
                                      c.in[3].data_ptr(), c.in[4].data_ptr(), c.out[0].data_ptr(),
                                      sums ? c.out[1].data_ptr() : nullptr, sums ? c.out[2].data_ptr() : nullptr,
                                      sums ? scratch.data_ptr() : nullptr, s);
  });
}

const bool registered = [] {
  auto& r = Registry::get();
  const DeviceType cu = DeviceType::CUDA;
  for (DType t : {DType::Float32, DType::Float64}) {
    r.add(r.op_id("layer_norm_fused"), cu, t, &layer_norm_kernel);
    r.add(r.op_id("layer_norm_fused_backward"), cu, t, &layer_norm_backward_kernel);
    r.add(op::max_pool2d, cu, t, &max_pool2d_kernel);
    r.add(op::max_pool2d_backward, cu, t, &max_pool2d_backward_kernel);
  }
  for (DType t : {DType::Float16, DType::BFloat16, DType::Float32, DType::Float64}) {
    r.add(op::softmax, cu, t, &softmax_kernel<false>);
    r.add(op::log_softmax, cu, t, &softmax_kernel<true>);
  }
  for (DType t : {DType::Int32, DType::Int64, DType::Float16, DType::BFloat16, DType::Float32, DType::Float64}) {
    r.add(op::sort, cu, t, &sort_kernel);
    r.add(op::topk, cu, t, &topk_kernel);
    r.add(op::max_dim, cu, t, &extreme_dim_kernel<true>);
    r.add(op::min_dim, cu, t, &extreme_dim_kernel<false>);
  }
  for (DType t : {DType::Int32, DType::Int64, DType::Float32, DType::Float64}) r.add(op::arange, cu, t, &arange_kernel);
  for (DType t : {DType::Bool, DType::Int32, DType::Int64, DType::Float16, DType::BFloat16, DType::Float32,
                  DType::Float64}) {
    r.add(op::cumsum, cu, t, &scan_kernel<false>);
    r.add(op::cumprod, cu, t, &scan_kernel<true>);
  }
  for (DType t : {DType::Float16, DType::BFloat16, DType::Float32, DType::Float64}) {
    r.add(op::uniform, cu, t, &random_kernel<Random::uniform>);
    r.add(op::normal, cu, t, &random_kernel<Random::normal>);
  }
  for (DType t : {DType::Int32, DType::Int64, DType::Float32, DType::Float64})
    r.add(op::randint, cu, t, &random_kernel<Random::randint>);
  for (DType t : {DType::Float32, DType::Float64}) {
    r.add(op::sgd_step, cu, t, &sgd_kernel);
    r.add(op::adam_step, cu, t, &adam_kernel);
    r.add(op::rmsprop_step, cu, t, &rmsprop_kernel);
  }
  for (DType t : {DType::Bool, DType::UInt8, DType::Int8, DType::Int16, DType::Int32, DType::Int64, DType::Float16,
                  DType::BFloat16, DType::Float32, DType::Float64, DType::Complex64, DType::Complex128}) {
    r.add(op::take_offsets, cu, t, &take_kernel);
    r.add(op::put_offsets, cu, t, &put_kernel<false>);
  }
  for (DType t : {DType::Int32, DType::Int64, DType::Float16, DType::BFloat16, DType::Float32, DType::Float64})
    r.add(op::put_offsets_add, cu, t, &put_kernel<true>);
  return true;
}();

}  // namespace
}  // namespace tessel::cuda
