// Sorting and searching: sort argsort topk kthvalue unique searchsorted.
#include <algorithm>
#include <numeric>

#include "src/autograd/rules.h"
#include "src/core/nan_order.h"
#include "src/core/shape_util.h"
#include "src/ops/broadcast_block.h"
#include "tessel/kernel.h"
#include "tessel/ops.h"
#include "tessel/registry.h"
#include "tessel/trace.h"

namespace tessel {

namespace {
void check_sortable(const char* op, const Tensor& t) {
  TS_CHECK(!is_complex(t.dtype()), TypeError, op, "complex tensors cannot be ordered");
}
}  // namespace

std::tuple<Tensor, Tensor> sort(const Tensor& t, int64_t dim, bool descending) {
  if (trace::Op r{"sort"}) return r.in(t).attr("dim", dim).attr("descending", int64_t{descending}).out(sort(t, dim, descending));
  OpScope scope_("sort");
  if (autograd::needs_grad(t)) {
    return autograd::recorded(
        true, [&] { return sort(t, dim, descending); },
        [&](const std::tuple<Tensor, Tensor>& r) {
          autograd::rules::sort("SortBackward", t, dim, std::get<0>(r), std::get<1>(r));
        });
  }
  check_sortable("sort", t);
  const Tensor x = t.dim() == 0 ? t.reshape({1}) : t;
  const int64_t d = wrap_dim("sort", dim, t.dim());
  Tensor outs[2] = {empty(x.shape(), TensorOptions(t.dtype(), t.device())),
                    empty(x.shape(), TensorOptions(DType::Int64, t.device()))};
  if (const auto b = detail::broadcast_block(x); b && d >= b->first_dim) {  // rows repeated: sort one
    Tensor heads[2] = {detail::first_block(outs[0], b->block.shape()), detail::first_block(outs[1], b->block.shape())};
    const SortParams p{d - b->first_dim, descending};
    dispatch(op::sort, t.dtype(), {&b->block, 1}, heads, &p);
    detail::repeat_first_block(outs[0], b->outer);
    detail::repeat_first_block(outs[1], b->outer);
  } else if (x.numel() > 0) {
    const SortParams p{d, descending};
    dispatch(op::sort, t.dtype(), {&x, 1}, outs, &p);
  }
  if (t.dim() == 0) return {outs[0].reshape({}), outs[1].reshape({})};
  return {outs[0], outs[1]};
}

Tensor argsort(const Tensor& t, int64_t dim, bool descending) {
  OpScope scope_("argsort");
  return std::get<1>(sort(t, dim, descending));
}

std::tuple<Tensor, Tensor> topk(const Tensor& t, int64_t k, int64_t dim, bool largest) {
  if (trace::Op r{"topk"}) return r.in(t).attr("k", k).attr("dim", dim).attr("largest", int64_t{largest}).out(topk(t, k, dim, largest));
  OpScope scope_("topk");
  if (autograd::needs_grad(t)) {
    return autograd::recorded(
        true, [&] { return topk(t, k, dim, largest); },
        [&](const std::tuple<Tensor, Tensor>& r) {
          autograd::rules::sort("TopkBackward", t, dim, std::get<0>(r), std::get<1>(r));
        });
  }
  check_sortable("topk", t);
  const Tensor x = t.dim() == 0 ? t.reshape({1}) : t;
  const int64_t d = wrap_dim("topk", dim, t.dim());
  TS_CHECK(k >= 0 && k <= x.shape()[d], IndexError, "topk", "k (", k, ") out of range for dim ", d, " of size ",
           x.shape()[d]);
  Shape s = x.shape();
  s[d] = k;
  Tensor outs[2] = {empty(s, TensorOptions(t.dtype(), t.device())), empty(s, TensorOptions(DType::Int64, t.device()))};
  if (outs[0].numel() > 0) {
    const TopkParams p{d, k, largest};
    dispatch(op::topk, t.dtype(), {&x, 1}, outs, &p);
  }
  if (t.dim() == 0) return {outs[0].reshape({}), outs[1].reshape({})};
  return {outs[0], outs[1]};
}

std::tuple<Tensor, Tensor> kthvalue(const Tensor& t, int64_t k, int64_t dim, bool keepdim) {
  OpScope scope_("kthvalue");
  const int64_t d = wrap_dim("kthvalue", dim, t.dim());
  const int64_t n = t.dim() ? t.shape()[d] : 1;
  TS_CHECK(k >= 1 && k <= n, IndexError, "kthvalue", "k (", k, ") out of range for dim ", d, " of size ", n);
  auto [v, i] = topk(t, k, d, /*largest=*/false);
  if (t.dim() == 0) return {v, i};
  Tensor vk = v.narrow(d, k - 1, 1), ik = i.narrow(d, k - 1, 1);
  if (!keepdim) vk = vk.squeeze(d), ik = ik.squeeze(d);
  return {vk.contiguous(), ik.contiguous()};
}

std::tuple<Tensor, Tensor, Tensor> unique(const Tensor& t) {
  if (trace::Op r{"unique"}) return r.in(t).out(unique(t));
  OpScope scope_("unique");
  check_sortable("unique", t);
  auto [vals, order] = sort(t.reshape({-1}));
  // Group equal neighbours (NaNs together, as NumPy does) on the host: the output size depends on the data.
  const int64_t n = vals.numel();
  Tensor starts = ones({n}, TensorOptions(DType::Bool, t.device()));
  if (n > 1) {
    const Tensor a = vals.narrow(0, 1, n - 1), b = vals.narrow(0, 0, n - 1);
    starts.narrow(0, 1, n - 1).copy_(logical_and(ne(a, b), logical_not(logical_and(isnan(a), isnan(b)))));
  }
  const Tensor st = starts.cpu(), o = order.cpu();
  const bool* ps = st.data<bool>();
  const int64_t* po = o.data<int64_t>();
  std::vector<int64_t> first, counts;
  std::vector<int64_t> inverse(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (ps[i]) {
      first.push_back(i);
      counts.push_back(0);
    }
    ++counts.back();
    inverse[static_cast<size_t>(po[i])] = static_cast<int64_t>(first.size()) - 1;
  }
  const auto k = static_cast<int64_t>(first.size());
  const Tensor pos = from_vector<int64_t>(first, {k}).to(t.device());
  return {index(vals, {TensorIndex::with(pos)}), from_vector<int64_t>(inverse, {n}).reshape(t.shape()).to(t.device()),
          from_vector<int64_t>(counts, {k}).to(t.device())};
}

namespace {
using tessel::detail::equal_nan;
using tessel::detail::less_nan;

// The rows of `rows` [n, m] (contiguous, of T) in lexicographic order, stable.
template <class T>
std::vector<int64_t> row_order(const Tensor& rows, std::vector<bool>& starts) {
  const int64_t n = rows.size(0), m = rows.size(1);
  const T* p = rows.data<T>();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  auto cmp = [&](int64_t i, int64_t j) {
    for (int64_t c = 0; c < m; ++c)
      if (!equal_nan(p[i * m + c], p[j * m + c])) return less_nan(p[i * m + c], p[j * m + c]);
    return false;
  };
  std::stable_sort(order.begin(), order.end(), cmp);
  starts.assign(static_cast<size_t>(n), true);
  for (int64_t k = 1; k < n; ++k) starts[static_cast<size_t>(k)] = cmp(order[k - 1], order[k]);
  return order;
}
}  // namespace

std::tuple<Tensor, Tensor, Tensor> unique(const Tensor& t, int64_t dim) {
  if (trace::Op r{"unique_dim"}) return r.in(t).attr("dim", dim).out(unique(t, dim));
  OpScope scope_("unique");
  check_sortable("unique", t);
  TS_CHECK(t.dim() >= 1, ValueError, "unique", "dim= needs a tensor with at least 1 dimension, got a 0-d one");
  const int64_t d = wrap_dim("unique", dim, t.dim());
  const int64_t n = t.size(d), m = n ? t.numel() / n : 0;
  // The slices as rows, the other dims in their order (torch.unique(dim=)'s lexicographic order).
  Shape perm{d};
  for (int64_t i = 0; i < t.dim(); ++i)
    if (i != d) perm.push_back(i);
  const Tensor moved = t.permute(perm).cpu();
  std::vector<bool> starts;
  std::vector<int64_t> order;
  if (is_floating(t.dtype())) order = row_order<double>(moved.to(DType::Float64).contiguous().reshape({n, m}), starts);
  else if (t.dtype() == DType::UInt64) order = row_order<uint64_t>(moved.contiguous().reshape({n, m}), starts);
  else order = row_order<int64_t>(moved.to(DType::Int64).contiguous().reshape({n, m}), starts);
  std::vector<int64_t> first, counts, inverse(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    if (starts[static_cast<size_t>(k)]) {
      first.push_back(order[static_cast<size_t>(k)]);
      counts.push_back(0);
    }
    ++counts.back();
    inverse[static_cast<size_t>(order[static_cast<size_t>(k)])] = static_cast<int64_t>(first.size()) - 1;
  }
  const auto k = static_cast<int64_t>(first.size());
  return {index_select(t, d, from_vector<int64_t>(first, {k}).to(t.device())),
          from_vector<int64_t>(inverse, {n}).to(t.device()), from_vector<int64_t>(counts, {k}).to(t.device())};
}

Tensor searchsorted(const Tensor& sorted, const Tensor& values, bool right) {
  if (trace::Op r{"searchsorted"})
    return r.in(sorted).in(values).attr("right", int64_t{right}).out(searchsorted(sorted, values, right));
  OpScope scope_("searchsorted");
  check_sortable("searchsorted", sorted);
  TS_CHECK(sorted.dim() >= 1, ValueError, "searchsorted", "sorted_sequence must have at least 1 dim");
  TS_CHECK(sorted.device() == values.device(), ValueError, "searchsorted", "inputs on ", sorted.device(), " and ",
           values.device());
  const DType dt = promote_types(sorted.dtype(), values.dtype());
  const Tensor s = sorted.to(dt), v = values.dim() == 0 ? values.to(dt).reshape({1}) : values.to(dt);
  if (sorted.dim() > 1) {
    TS_CHECK(sorted.dim() == v.dim() && Shape(sorted.shape().begin(), sorted.shape().end() - 1) ==
                                            Shape(v.shape().begin(), v.shape().end() - 1),
             ValueError, "searchsorted", "leading dims of sorted_sequence ", sorted.shape(), " and values ",
             values.shape(), " must match");
  }
  Tensor out = empty(v.shape(), TensorOptions(DType::Int64, v.device()));
  if (out.numel() > 0 && s.shape().back() >= 0) {
    const SearchParams p{right};
    const Tensor in[2] = {s, v};
    dispatch(op::searchsorted, dt, in, {&out, 1}, &p);
  }
  return values.dim() == 0 ? out.reshape({}) : out;
}

}  // namespace tessel
