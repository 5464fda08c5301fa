// Derivative rules of indexing, scatter/gather and sorting.
#include "src/autograd/rules.h"
#include "src/core/shape_util.h"
#include "tessel/registry.h"

namespace tessel::autograd::rules {

namespace {
Tensor zeros_for(const Shape& shape, const Tensor& g) { return zeros(shape, TensorOptions(g.dtype(), g.device())); }

// First-order gather / index_select gradients on the CPU through the
// "index_add_rows" kernel: a scatter-add by rows, no atomics, bitwise the same
// for any thread count. `idx` is [K] (index_select) or g's shape (gather).
// Returns an undefined tensor where the op path must run instead: create_graph,
// another device, a dtype without the kernel, a gather index narrower than the input.
Tensor add_rows(const Shape& in, int64_t d, const Tensor& g, const Tensor& idx) {
  if (GradMode::enabled() || !g.device().is_cpu() || in.empty()) return Tensor();
  static const OpId kRows = Registry::get().op_id("index_add_rows");
  if (!Registry::get().has(kRows, DeviceType::CPU, g.dtype())) return Tensor();
  const int64_t nd = static_cast<int64_t>(in.size());
  if (idx.dim() != 1) {
    for (int64_t k = 0; k < nd; ++k)
      if (k != d && idx.shape()[k] != in[k]) return Tensor();
  }
  int64_t O = 1, I = 1;
  for (int64_t k = 0; k < d; ++k) O *= in[k];
  for (int64_t k = d + 1; k < nd; ++k) I *= in[k];
  const int64_t K = g.shape()[d], N = in[d];
  Tensor out = empty(in, TensorOptions(g.dtype(), g.device()));
  if (out.numel() == 0) return out;
  if (g.numel() == 0) return zeros_for(in, g);
  const Tensor ix = idx.to(DType::Int64).contiguous();
  const Tensor ins[2] = {g.contiguous().view({O, K, I}), idx.dim() == 1 ? ix : ix.view({O, K, I})};
  Tensor o3 = out.view({O, N, I});
  dispatch(kRows, g.dtype(), ins, {&o3, 1}, nullptr);
  return out;
}
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
    if (Tensor r = add_rows(in, dim, g[0], index); r.defined()) return Tensors{r};
    return Tensors{scatter_add(zeros_for(in, g[0]), dim, index, g[0])};
  });
}

void index_select(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& out) {
  record("IndexSelectBackward", {t}, {out}, [in = t.shape(), dim, index](const Tensors& g) {
    if (Tensor r = add_rows(in, dim, g[0], index.reshape({-1})); r.defined()) return Tensors{r};
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
      if (!(alpha.is_int() && alpha.to<int64_t>() == 1)) {
        s = mul(s, alpha.is_complex() ? Scalar(std::conj(alpha.to<std::complex<double>>())) : alpha);
      }
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
