// Derivative rules of linear algebra: matmul (mm, bmm, mv, dot, linear,
// tensordot and einsum are built on it).
#include "src/autograd/rules.h"

namespace tessel::autograd::rules {

void matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  const bool na = a.requires_grad(), nb = b.requires_grad();
  record("MatmulBackward", {a, b}, {out},
         [A = nb ? SavedTensor(a) : SavedTensor(), B = na ? SavedTensor(b) : SavedTensor(), sa = a.shape(),
          sb = b.shape(), na, nb](const Tensors& grads) {
           // Work on the >= 2-D forms: [K] -> [1, K] for a, [K] -> [K, 1] for b.
           Tensor g = grads[0];
           if (sb.size() == 1) g = g.unsqueeze(g.dim());  // restore N, then M
           if (sa.size() == 1) g = g.unsqueeze(g.dim() - 1);
           Tensors r(2);
           if (na) {
             Tensor b2 = B.unpack();
             if (b2.dim() == 1) b2 = b2.unsqueeze(1);
             Shape s2 = sa.size() == 1 ? Shape{1, sa[0]} : sa;
             r[0] = sum_to(tessel::matmul(g, conj(b2).mT()), s2).reshape(sa);  // g B^H
           }
           if (nb) {
             Tensor a2 = A.unpack();
             if (a2.dim() == 1) a2 = a2.unsqueeze(0);
             Shape s2 = sb.size() == 1 ? Shape{sb[0], 1} : sb;
             r[1] = sum_to(tessel::matmul(conj(a2).mT(), g), s2).reshape(sb);  // A^H g
           }
           return r;
         });
}

void linear(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias, const Tensor& out) {
  const bool nx = x.requires_grad(), nw = weight.requires_grad(), nb = bias && bias->requires_grad();
  record("LinearBackward", {x, weight, bias ? *bias : Tensor()}, {out},
         [X = nw ? SavedTensor(x) : SavedTensor(), W = nx ? SavedTensor(weight) : SavedTensor(), sx = x.shape(),
          sb = bias ? bias->shape() : Shape{}, in_features = weight.shape()[1], nx, nw, nb](const Tensors& grads) {
           const Tensor& g = grads[0];  // [..., out]
           Tensors r(3);
           if (nx) r[0] = tessel::matmul(g, conj(W.unpack())).reshape(sx);  // g conj(W) (g W when real)
           const int64_t out_features = g.dim() ? g.shape()[g.dim() - 1] : 1;
           const Tensor g2 = g.reshape({-1, out_features});
           if (nw) {
             const Tensor x2 = X.unpack().reshape({g2.shape()[0], in_features});
             r[1] = tessel::matmul(g2.t(), conj(x2));  // g^T conj(x): [out, in], contiguous
           }
           if (nb) r[2] = sum_to(g, sb);
           return r;
         });
}

}  // namespace tessel::autograd::rules
