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
             r[0] = sum_to(tessel::matmul(g, b2.mT()), s2).reshape(sa);
           }
           if (nb) {
             Tensor a2 = A.unpack();
             if (a2.dim() == 1) a2 = a2.unsqueeze(0);
             Shape s2 = sb.size() == 1 ? Shape{sb[0], 1} : sb;
             r[1] = sum_to(tessel::matmul(a2.mT(), g), s2).reshape(sb);
           }
           return r;
         });
}

}  // namespace tessel::autograd::rules
