// Derivative rules of the fused nn kernels (conv2d, batch_norm, layer_norm, rms_norm): first-order
// gradients come from backward kernels; under create_graph they are written
// with ops, so that they are differentiable again.
#include "src/autograd/rules.h"
#include "src/autograd/rules_norm.h"
#include "tessel/registry.h"

namespace tessel::autograd::rules {

void conv2d(const Tensor& x, const Tensor& w, const std::optional<Tensor>& bias, const ConvParams& p,
            const Tensor& out,
            std::function<Tensor(const Tensor&, const Tensor&, const std::optional<Tensor>&)> reference) {
  const bool nx = x.requires_grad(), nw = w.requires_grad(), nb = bias && bias->requires_grad();
  record("Conv2dBackward", {x, w, bias ? *bias : Tensor()}, {out},
         [X = SavedTensor(x), W = SavedTensor(w), B = bias ? SavedTensor(*bias) : SavedTensor(), p, nx, nw, nb,
          reference = std::move(reference)](const Tensors& grads) {
           const Tensor& g = grads[0];
           Tensors r(3);
           if (GradMode::enabled()) {
             const Tensor xs = X.unpack(), ws = W.unpack();
             const std::optional<Tensor> bs = B.defined() ? std::optional<Tensor>(B.unpack()) : std::nullopt;
             // Leaves that need no gradient still take part: differentiate w.r.t. fresh handles.
             const Tensor xi = nx ? xs : xs.detach(), wi = nw ? ws : ws.detach();
             Tensors wrt;
             if (nx) wrt.push_back(xi);
             if (nw) wrt.push_back(wi);
             if (nb) wrt.push_back(*bs);
             if (wrt.empty()) return r;
             const Tensors gs = grad({reference(xi, wi, bs)}, wrt, {g}, true, true, true);
             size_t k = 0;
             if (nx) r[0] = gs[k++];
             if (nw) r[1] = gs[k++];
             if (nb) r[2] = gs[k++];
             return r;
           }
           const Tensor gc = g.contiguous();
           if (nx) {
             const Tensor xs = X.unpack(), ws = W.unpack().contiguous();
             r[0] = empty(xs.shape(), TensorOptions(g.dtype(), g.device()));
             const Tensor in[2] = {gc, ws};
             dispatch(op::conv2d_backward_input, g.dtype(), in, {&r[0], 1}, &p);
           }
           if (nw || nb) {
             const Tensor xs = X.unpack().contiguous(), ws = W.unpack();
             Tensor outs[2] = {empty(ws.shape(), TensorOptions(g.dtype(), g.device())),
                               empty({ws.shape()[0]}, TensorOptions(g.dtype(), g.device()))};
             const Tensor in[2] = {gc, xs};
             dispatch(op::conv2d_backward_weight, g.dtype(), in, {outs, static_cast<size_t>(B.defined() ? 2 : 1)}, &p);
             if (nw) r[1] = outs[0];
             if (nb) r[2] = outs[1];
           }
           return r;
         });
}

void batch_norm(const Tensor& x, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias,
                const Tensor& mean, const Tensor& invstd, double eps, const Tensor& out) {
  const bool nx = x.requires_grad(), nw = weight && weight->requires_grad(), nb = bias && bias->requires_grad();
  record("BatchNormBackward", {x, weight ? *weight : Tensor(), bias ? *bias : Tensor()}, {out},
         [X = SavedTensor(x), W = weight ? SavedTensor(*weight) : SavedTensor(), mean, invstd, eps, nx, nw,
          nb](const Tensors& grads) {
           const Tensor& g = grads[0];
           const Tensor xs = X.unpack();
           const int64_t N = xs.shape()[0], C = xs.shape()[1];
           Tensors r(3);
           if (GradMode::enabled()) {  // create_graph: the same formulas with ops, statistics recomputed from x
             Shape dims = {0}, cshape(static_cast<size_t>(xs.dim()), 1);
             for (int64_t d = 2; d < xs.dim(); ++d) dims.push_back(d);
             cshape[1] = C;
             const Tensor mu = tessel::mean(xs, dims, true);
             const Tensor is = rsqrt(add(tessel::var(xs, dims, 0, true), Scalar(eps)));
             const Tensor xhat = mul(sub(xs, mu), is);
             const Tensor w = W.defined() ? W.unpack().reshape(cshape) : ones_like(is);
             if (nx) {
               const Tensor inner = sub(sub(g, tessel::mean(g, dims, true)), mul(xhat, tessel::mean(mul(g, xhat), dims, true)));
               r[0] = mul(mul(w, is), inner);
             }
             if (nw) r[1] = tessel::sum(mul(g, xhat), dims);
             if (nb) r[2] = tessel::sum(g, dims);
             return r;
           }
           const int64_t S = xs.numel() / std::max<int64_t>(N * C, 1);
           const TensorOptions opts(g.dtype(), g.device());
           const Tensor w = W.defined() ? W.unpack().contiguous() : ones({C}, opts);
           const Tensor in[5] = {g.contiguous().view({N, C, S}), xs.contiguous().view({N, C, S}), mean, invstd, w};
           Tensor outs[3] = {empty(xs.shape(), opts), empty({C}, opts), empty({C}, opts)};
           Tensor views[3] = {outs[0].view({N, C, S}), outs[1], outs[2]};
           dispatch(op::batch_norm_backward, g.dtype(), in, views, nullptr);
           if (nx) r[0] = outs[0];
           if (nw) r[1] = outs[1];
           if (nb) r[2] = outs[2];
           return r;
         });
}

void layer_norm(const Tensor& x, const Tensor& x2, const std::optional<Tensor>& weight,
                const std::optional<Tensor>& bias, const Tensor& mean, const Tensor& rstd, double eps,
                const Tensor& out) {
  const bool nx = x.requires_grad(), nw = weight && weight->requires_grad(), nb = bias && bias->requires_grad();
  record("LayerNormBackward", {x, weight ? *weight : Tensor(), bias ? *bias : Tensor()}, {out},
         [X = SavedTensor(x), W = weight ? SavedTensor(*weight) : SavedTensor(), R = x2.shape()[0],
          D = x2.shape()[1], mean, rstd, eps, nx, nw, nb](const Tensors& grads) {
           const Tensor& g = grads[0];
           const Tensor xs = X.unpack();
           Tensors r(3);
           if (GradMode::enabled()) {  // create_graph: the same formulas with ops, statistics recomputed from x
             const Tensor x2 = xs.reshape({R, D}), g2 = g.reshape({R, D});
             const Tensor mu = tessel::mean(x2, {1}, true);
             const Tensor is = rsqrt(add(tessel::var(x2, {1}, 0, true), Scalar(eps)));
             const Tensor xhat = mul(sub(x2, mu), is);
             const Tensor gw = W.defined() ? mul(g2, W.unpack().reshape({D})) : g2;
             if (nx) {
               const Tensor inner = sub(sub(gw, tessel::mean(gw, {1}, true)), mul(xhat, tessel::mean(mul(gw, xhat), {1}, true)));
               r[0] = mul(is, inner).reshape(xs.shape());
             }
             if (nw) r[1] = tessel::sum(mul(g2, xhat), {0}).reshape(W.unpack().shape());
             if (nb) r[2] = tessel::sum(g2, {0}).reshape(W.defined() ? W.unpack().shape() : Shape{D});
             return r;
           }
           static const OpId kBackward = Registry::get().op_id("layer_norm_fused_backward");
           const TensorOptions opts(g.dtype(), g.device());
           const Tensor w = W.defined() ? W.unpack().contiguous().view({D}) : ones({D}, opts);
           const Tensor in[5] = {g.contiguous().view({R, D}), xs.contiguous().view({R, D}), mean, rstd, w};
           Tensor outs[3] = {empty(xs.shape(), opts), empty({D}, opts), empty({D}, opts)};
           Tensor views[3] = {outs[0].view({R, D}), outs[1], outs[2]};
           // Without dweight/dbias the kernel skips their pass over g and x.
           dispatch(kBackward, g.dtype(), in, std::span<Tensor>(views, nw || nb ? 3 : 1), nullptr);
           const Shape ws = W.defined() ? W.unpack().shape() : Shape{D};
           if (nx) r[0] = outs[0];
           if (nw) r[1] = outs[1].view(ws);
           if (nb) r[2] = outs[2].view(ws);
           return r;
         });
}

void nll_loss(const Tensor& x, const Tensor& target, const std::optional<Tensor>& weight, int64_t ignore_index,
              bool mean, const Tensor& wsum, const Tensor& out) {
  record("NllLossBackward", {x}, {out},
         [target, weight, ignore_index, mean, wsum, N = x.shape()[0], C = x.shape()[1],
          opts = TensorOptions(x.dtype(), x.device())](const Tensors& grads) {
           const Tensor& g = grads[0];
           static const OpId kFused = Registry::get().op_id("nll_loss_fused_backward");
           if (!GradMode::enabled() && g.dtype() == opts.dtype &&
               Registry::get().has(kFused, opts.device.type, opts.dtype)) {
             Tensor dx = empty({N, C}, opts);
             const NllLossParams p{ignore_index, mean};
             const Tensor in[4] = {g.contiguous(), target, weight ? *weight : empty({0}, opts), wsum};
             dispatch(kFused, opts.dtype, in, {&dx, 1}, &p);
             return Tensors{dx};
           }
           // -w[t_i] * g (/ the summed weight) at (i, t_i), zero elsewhere and on ignored rows.
           const Tensor valid = ne(target, Scalar(ignore_index));
           const Tensor safe = where(valid, target.to(DType::Int64), Scalar(int64_t{0}));
           Tensor w = valid.to(opts.dtype);
           if (weight) w = mul(w, index_select(*weight, 0, safe));
           Tensor coef = neg(mul(w, g));
           if (mean) coef = div(coef, wsum);
           coef = where(valid, coef, Scalar(0.0));
           return Tensors{scatter(zeros({N, C}, opts), 1, safe.unsqueeze(1), coef.unsqueeze(1))};
         });
}

void avg_pool2d_sums(const Tensor& x, const PoolParams& p, const Tensor& out,
                     std::function<Tensor(const Tensor&)> reference) {
  record("AvgPool2dBackward", {x}, {out},
         [shape = x.shape(), opts = TensorOptions(x.dtype(), x.device()), p,
          reference = std::move(reference)](const Tensors& grads) {
           const Tensor& g = grads[0];
           static const OpId kBack = Registry::get().op_id("avg_pool2d_sums_backward");
           if (!GradMode::enabled() && g.dtype() == opts.dtype &&
               Registry::get().has(kBack, opts.device.type, opts.dtype)) {
             Tensor dx = empty(shape, opts);
             const Tensor gc = g.contiguous();
             dispatch(kBack, opts.dtype, {&gc, 1}, {&dx, 1}, &p);
             return Tensors{dx};
           }
           // create_graph: the sums are linear in x, so their gradient is the same at any
           // x; differentiate the ops' version at zeros, keeping the graph for g.
           const Tensor xi = zeros(shape, opts);
           xi.set_requires_grad(true);
           return grad({reference(xi)}, {xi}, {g}, true, true, true);
         });
}

void rms_norm(const Tensor& x, const Tensor& x2, const std::optional<Tensor>& weight, const Tensor& rstd, double eps,
              const Tensor& out) {
  const bool nx = x.requires_grad(), nw = weight && weight->requires_grad();
  record("RmsNormBackward", {x, weight ? *weight : Tensor()}, {out},
         [X = SavedTensor(x), W = weight ? SavedTensor(*weight) : SavedTensor(), R = x2.shape()[0],
          D = x2.shape()[1], rstd, eps, nx, nw](const Tensors& grads) {
           const Tensor& g = grads[0];
           const Tensor xs = X.unpack();
           Tensors r(2);
           if (GradMode::enabled()) {  // create_graph: the same formulas with ops, rstd recomputed from x
             const Tensor x2 = xs.reshape({R, D}), g2 = g.reshape({R, D});
             const Tensor is = rsqrt(add(tessel::mean(mul(x2, x2), {1}, true), Scalar(eps)));
             const Tensor xhat = mul(x2, is);
             const Tensor gw = W.defined() ? mul(g2, W.unpack().reshape({D})) : g2;
             if (nx) r[0] = mul(is, sub(gw, mul(xhat, tessel::mean(mul(gw, xhat), {1}, true)))).reshape(xs.shape());
             if (nw) r[1] = tessel::sum(mul(g2, xhat), {0}).reshape(W.unpack().shape());
             return r;
           }
           static const OpId kBackward = Registry::get().op_id("rms_norm_fused_backward");
           const TensorOptions opts(g.dtype(), g.device());
           const Tensor w = W.defined() ? W.unpack().contiguous().view({D}) : ones({D}, opts);
           const Tensor in[4] = {g.contiguous().view({R, D}), xs.contiguous().view({R, D}), rstd, w};
           Tensor outs[2] = {empty(xs.shape(), opts), empty({D}, opts)};
           Tensor views[2] = {outs[0].view({R, D}), outs[1]};
           dispatch(kBackward, g.dtype(), in, std::span<Tensor>(views, nw ? 2 : 1), nullptr);
           if (nx) r[0] = outs[0];
           if (nw) r[1] = outs[1].view(W.unpack().shape());
           return r;
         });
}

void max_pool2d(const Tensor& x, const Tensor& indices, const Tensor& out) {
  record("MaxPool2dBackward", {x}, {out}, [in = x.shape(), indices](const Tensors& grads) {
    const Tensor& g = grads[0];
    const int64_t N = in[0], C = in[1];
    if (GradMode::enabled()) {  // create_graph: the same scatter, differentiable
      const Tensor z = zeros({N, C, in[2] * in[3]}, TensorOptions(g.dtype(), g.device()));
      return Tensors{scatter_add(z, 2, indices.reshape({N, C, -1}), g.reshape({N, C, -1})).view(in)};
    }
    Tensor gx = empty(in, TensorOptions(g.dtype(), g.device()));
    const Tensor ins[2] = {g.contiguous(), indices};
    dispatch(op::max_pool2d_backward, g.dtype(), ins, {&gx, 1});
    return Tensors{gx};
  });
}

}  // namespace tessel::autograd::rules
