// Derivative rules of convolution kernels: first-order gradients come from
// the backward kernels; under create_graph they are taken through the
// matmul-over-windows reference so that they are differentiable again.
#include "src/autograd/rules.h"

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

}  // namespace tessel::autograd::rules
