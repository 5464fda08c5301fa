// Derivative rules of indexing, scatter/gather and sorting.
#include "src/autograd/rules.h"
#include "src/core/shape_util.h"

namespace tessel::autograd::rules {

namespace {
Tensor zeros_for(const Shape& shape, const Tensor& g) { return zeros(shape, TensorOptions(g.dtype(), g.device())); }
}  // namespace

void index(const Tensor& t, const std::vector<TensorIndex>& indices, const Tensor& out) {
  // out[i] = t[pos[i]] with pos found by indexing the positions of t the same way.
  record("IndexBackward", {t}, {out}, [in = t.shape(), indices](const Tensors& g) {
    const Tensor pos = tessel::index(arange(Scalar(0), Scalar(shape_numel(in)), Scalar(1), DType::Int64,
                                            g[0].device()).view(in), indices);
    return Tensors{tessel::index_add(zeros_for({shape_numel(in)}, g[0]), 0, pos.reshape({-1}), g[0].reshape({-1})).view(in)};
  });
}

void index_put(const Tensor& t, const std::vector<TensorIndex>& indices, const Tensor& value, const Tensor& out) {
  record("IndexPutBackward", {t, value}, {out},
         [indices, vshape = value.shape(), nt = t.requires_grad(), nv = value.requires_grad()](const Tensors& g) {
           Tensors r(2);
           if (nt) r[0] = tessel::index_put(g[0], indices, zeros({}, TensorOptions(g[0].dtype(), g[0].device())));
           if (nv) {
             Tensor picked = tessel::index(g[0], indices);
             // The value may have had leading size-1 dims that indexing dropped.
             while (picked.dim() < static_cast<int64_t>(vshape.size())) picked = picked.unsqueeze(0);
             r[1] = sum_to(picked, vshape);
           }
           return r;
         });
}

void gather(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& out) {
  record("GatherBackward", {t}, {out}, [in = t.shape(), dim, index](const Tensors& g) {
    return Tensors{scatter_add(zeros_for(in, g[0]), dim, index, g[0])};
  });
}

void index_select(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& out) {
  record("IndexSelectBackward", {t}, {out}, [in = t.shape(), dim, index](const Tensors& g) {
    return Tensors{tessel::index_add(zeros_for(in, g[0]), dim, index.reshape({-1}), g[0])};
  });
}

void scatter(const char* name, const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src, bool add,
             const Tensor& out) {
  const bool nt = t.requires_grad(), ns = src.defined() && src.requires_grad();
  record(name, {t, src}, {out}, [dim, index, add, nt, ns, ss = src.shape()](const Tensors& g) {
    Tensors r(2);
    if (nt) r[0] = add ? g[0] : tessel::scatter(g[0], dim, index, Scalar(0.0));
    if (ns) {
      r[1] = tessel::gather(g[0], dim, index);
      // Only the leading index-shaped window of src is read: the rest gets zeros.
      Shape pads;
      for (int64_t k = static_cast<int64_t>(ss.size()) - 1; k >= 0; --k) pads.push_back(0), pads.push_back(ss[k] - r[1].shape()[k]);
      if (r[1].shape() != ss) r[1] = tessel::pad(r[1], pads);
    }
    return r;
  });
}

void index_add(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& source, const Scalar& alpha,
               const Tensor& out) {
  const bool nt = t.requires_grad(), ns = source.requires_grad();
  record("IndexAddBackward", {t, source}, {out}, [dim, index, alpha, nt, ns, ss = source.shape()](const Tensors& g) {
    Tensors r(2);
    if (nt) r[0] = g[0];
    if (ns) {
      Tensor s = index_select(g[0], dim, index);
      if (!(alpha.is_int() && alpha.to<int64_t>() == 1)) s = mul(s, alpha);
      r[1] = s.reshape(ss);
    }
    return r;
  });
}

void sort(const char* name, const Tensor& a, int64_t dim, const Tensor& values, const Tensor& indices) {
  const int64_t d = a.dim() == 0 ? 0 : wrap_dim(name, dim, a.dim());
  record(name, {a}, {values, indices}, [in = a.shape(), d, indices](const Tensors& g) {
    if (in.empty()) return Tensors{g[0]};
    return Tensors{scatter_add(zeros_for(in, g[0]), d, indices, g[0])};
  });
}

}  // namespace tessel::autograd::rules
