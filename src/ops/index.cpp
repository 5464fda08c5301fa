// Indexing: t[...] and t[...] = v with ints, slices, None, ..., bool masks and
// integer index tensors (PyTorch/NumPy advanced-indexing semantics), and nonzero.
#include <algorithm>
#include <atomic>
#include <cstring>

#include "kernels/cpu/loops.h"
#include "tessel/trace.h"
#include "src/autograd/rules.h"
#include "src/core/shape_util.h"
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel {

Tensor nonzero(const Tensor& t) {
  if (trace::Op r{"nonzero"}) return r.in(t).out(nonzero(t));
  OpScope scope_("nonzero");
  TS_CHECK(t.defined(), ValueError, "nonzero", "got an undefined tensor");
  // A device without a nonzero kernel goes through the host: the result's size
  // depends on the data, so the host waits for the device either way.
  if (t.device().type != DeviceType::CPU && !Registry::get().has(op::nonzero, t.device().type, t.dtype()))
    return nonzero(t.cpu()).to(t.device());
  const int64_t n = t.numel() == 0 ? 0 : sum(t.dtype() == DType::Bool ? t : ne(t, Scalar(0))).item<int64_t>();
  Tensor out = empty({n, t.dim()}, TensorOptions(DType::Int64, t.device()));
  if (n > 0) dispatch(op::nonzero, t.dtype(), {&t, 1}, {&out, 1});
  return out;
}

namespace {

struct Advanced {
  int64_t dim;  // dim of the basic view it indexes
  Tensor idx;   // int64
};

// Applies ints, slices and None; collects tensor indices against the resulting view.
Tensor apply_basic(const char* op, const Tensor& t, const std::vector<TensorIndex>& indices,
                   std::vector<Advanced>& adv) {
  int64_t consumed = 0;
  bool seen_ellipsis = false;
  for (const TensorIndex& ix : indices) {
    switch (ix.kind) {
      case TensorIndex::Kind::Int:
      case TensorIndex::Kind::Slice: ++consumed; break;
      case TensorIndex::Kind::Tensor: {
        const DType d = ix.tensor.dtype();
        consumed += (d == DType::Bool || d == DType::UInt8) ? ix.tensor.dim() : 1;
        break;
      }
      case TensorIndex::Kind::Ellipsis:
        TS_CHECK(!seen_ellipsis, IndexError, op, "an index can only have a single ellipsis ('...')");
        seen_ellipsis = true;
        break;
      case TensorIndex::Kind::None: break;
    }
  }
  TS_CHECK(consumed <= t.dim(), IndexError, op, "too many indices for tensor of dimension ", t.dim(), " (got ",
           consumed, ")");
  Tensor v = t;
  int64_t d = 0;  // current dim in v
  for (const TensorIndex& ix : indices) {
    switch (ix.kind) {
      case TensorIndex::Kind::Int: {
        const int64_t n = v.shape()[d];
        TS_CHECK(ix.i >= -n && ix.i < n, IndexError, op, "index ", ix.i, " is out of bounds for dimension ", d,
                 " with size ", n);
        v = v.select(d, ix.i);
        break;
      }
      case TensorIndex::Kind::Slice: {
        const int64_t step = ix.step.value_or(1);
        TS_CHECK(step > 0, ValueError, op, "step must be greater than zero, got ", step);
        const int64_t n = v.shape()[d];
        v = v.slice(d, ix.start.value_or(0), ix.stop.value_or(n), step);
        ++d;
        break;
      }
      case TensorIndex::Kind::None:
        v = v.unsqueeze(d);
        ++d;
        break;
      case TensorIndex::Kind::Ellipsis: d += t.dim() - consumed; break;
      case TensorIndex::Kind::Tensor: {
        const Tensor& it = ix.tensor;
        // As PyTorch: indices live on the indexed tensor's device or on the CPU (moved over here).
        TS_CHECK(it.device() == t.device() || it.device().type == DeviceType::CPU, ValueError, op, "indices on ",
                 it.device(), " for a tensor on ", t.device(), " (indices must be on its device or on the cpu)");
        if (it.dtype() == DType::Bool || it.dtype() == DType::UInt8) {
          if (it.dim() == 0) {  // t[True] adds a dim of size 1, t[False] one of size 0
            v = v.unsqueeze(d);
            if (!it.to(DType::Bool).item<bool>()) v = v.slice(d, 0, 0);
            ++d;
            break;
          }
          for (int64_t k = 0; k < it.dim(); ++k) {
            TS_CHECK(it.shape()[k] == v.shape()[d + k], IndexError, op, "the shape of the mask ", it.shape(),
                     " at index ", k, " does not match the shape of the indexed tensor ", v.shape(), " at index ",
                     d + k);
          }
          const Tensor nz = nonzero(it).to(t.device());
          for (int64_t k = 0; k < it.dim(); ++k) adv.push_back({d + k, nz.select(1, k)});
          d += it.dim();
        } else {
          TS_CHECK(is_integral(it.dtype()), IndexError, op,
                   "tensors used as indices must be integer or bool tensors, got ", it.dtype());
          adv.push_back({d, it.to(DType::Int64).to(t.device())});
          ++d;
        }
        break;
      }
    }
  }
  return v;
}

// Element offsets (relative to v.data_ptr()) of every element of the result.
Tensor offsets(const char* op, const Tensor& v, std::vector<Advanced>& adv, Shape& result) {
  Shape bshape;
  for (auto& a : adv) {
    try {
      bshape = broadcast_shapes(op, bshape, a.idx.shape());
    } catch (const ValueError&) {
      fail<IndexError>(op, "shape mismatch: indexing tensors could not be broadcast together (", bshape, " and ",
                       a.idx.shape(), ")");
    }
  }
  Tensor adv_off = zeros(bshape, TensorOptions(DType::Int64, v.device()));
  for (auto& a : adv) {
    const int64_t n = v.shape()[a.dim];
    if (a.idx.numel() > 0) {
      const int64_t lo = amin(a.idx).item<int64_t>(), hi = amax(a.idx).item<int64_t>();
      TS_CHECK(lo >= -n && hi < n, IndexError, op, "index ", (lo < -n ? lo : hi), " is out of bounds for dimension ",
               a.dim, " with size ", n);
    }
    const Tensor idx = where(lt(a.idx, Scalar(0)), add(a.idx, Scalar(n)), a.idx);
    add_(adv_off, mul(idx, Scalar(v.strides()[a.dim])));
  }
  // Advanced dims stay in place when adjacent, else move to the front (NumPy rule).
  bool adjacent = true;
  for (size_t i = 1; i < adv.size(); ++i) adjacent = adjacent && adv[i].dim == adv[i - 1].dim + 1;
  const int64_t insert_at = adjacent ? adv[0].dim : 0;
  std::vector<int64_t> rest;  // dims of v not indexed
  for (int64_t d = 0, k = 0; d < v.dim(); ++d) {
    if (k < static_cast<int64_t>(adv.size()) && adv[k].dim == d) {
      ++k;
      continue;
    }
    rest.push_back(d);
  }
  // Result layout: rest dims before insert_at, the broadcast index shape, the other rest dims.
  result.clear();
  std::vector<int64_t> rest_pos;
  size_t ri = 0;
  for (; ri < rest.size() && rest[ri] < insert_at; ++ri) {
    rest_pos.push_back(static_cast<int64_t>(result.size()));
    result.push_back(v.shape()[rest[ri]]);
  }
  const int64_t bpos = static_cast<int64_t>(result.size());
  result.insert(result.end(), bshape.begin(), bshape.end());
  for (; ri < rest.size(); ++ri) {
    rest_pos.push_back(static_cast<int64_t>(result.size()));
    result.push_back(v.shape()[rest[ri]]);
  }
  const int64_t nd = static_cast<int64_t>(result.size());
  Shape view_shape(nd, 1);
  for (int64_t k = 0; k < static_cast<int64_t>(bshape.size()); ++k) view_shape[bpos + k] = bshape[k];
  Tensor off = adv_off.reshape(view_shape);
  for (size_t i = 0; i < rest.size(); ++i) {
    Shape s(nd, 1);
    s[rest_pos[i]] = v.shape()[rest[i]];
    const Tensor r = mul(arange(Scalar(0), Scalar(v.shape()[rest[i]]), Scalar(1), DType::Int64, v.device()),
                         Scalar(v.strides()[rest[i]]));
    off = add(off, r.reshape(s));
  }
  return broadcast_to(off, result).contiguous();
}

}  // namespace

Tensor index(const Tensor& t, const std::vector<TensorIndex>& indices) {
  if (autograd::needs_grad(t)) {
    bool advanced = false;
    for (const TensorIndex& i : indices) advanced |= i.kind == TensorIndex::Kind::Tensor;
    if (advanced) {
      return autograd::recorded(
          true, [&] { return index(t, indices); }, [&](const Tensor& out) { autograd::rules::index(t, indices, out); });
    }
  }
  // t[mask] with a bool mask of t's shape on a contiguous t (the common selection): the
  // mask's flat nonzero positions are already t's element offsets, without the per-dim
  // index columns, range checks and offset sums of the general path (3-4x faster).
  if (indices.size() == 1 && indices[0].kind == TensorIndex::Kind::Tensor && !trace::active()) {
    const Tensor& mask = indices[0].tensor;
    if (mask.dtype() == DType::Bool && mask.dim() >= 1 && mask.shape() == t.shape() && t.is_contiguous() &&
        mask.device() == t.device() && t.device().is_cpu()) {
      const Tensor off = nonzero(mask.reshape({-1})).view({-1});
      Tensor out = empty({off.numel()}, TensorOptions(t.dtype(), t.device()));
      const Tensor in[2] = {t, off};
      if (out.numel() > 0) dispatch(op::take_offsets, t.dtype(), in, {&out, 1});
      return out;
    }
  }
  std::vector<Advanced> adv;
  const Tensor v = apply_basic("index", t, indices, adv);
  if (adv.empty()) return v;
  if (trace::Op tr{"advanced_index"}) {  // the basic part above was traced op by op
    Shape dims;
    tr.in(v);
    for (const auto& a : adv) {
      tr.in(a.idx);
      dims.push_back(a.dim);
    }
    tr.attr("dims", dims);
    Shape result;
    const Tensor off = offsets("index", v, adv, result);
    Tensor out = empty(result, TensorOptions(t.dtype(), t.device()));
    const Tensor in[2] = {v, off};
    if (out.numel() > 0) dispatch(op::take_offsets, t.dtype(), in, {&out, 1});
    return tr.out(out);
  }
  Shape result;
  const Tensor off = offsets("index", v, adv, result);
  Tensor out = empty(result, TensorOptions(t.dtype(), t.device()));
  const Tensor in[2] = {v, off};
  if (out.numel() > 0) dispatch(op::take_offsets, t.dtype(), in, {&out, 1});
  return out;
}

Tensor index_put(const Tensor& t, const std::vector<TensorIndex>& indices, const Tensor& value) {
  return autograd::recorded(
      autograd::needs_grad(t, value),
      [&] {
        Tensor out = t.clone();
        index_put_(out, indices, value);
        return out;
      },
      [&](const Tensor& out) { autograd::rules::index_put(t, indices, value, out); });
}

void index_put_(const Tensor& t, const std::vector<TensorIndex>& indices, const Tensor& value) {
  if (autograd::needs_grad(t, value)) {
    autograd::inplace("index_put_", t, true, [&](const Tensor& self) { return index_put(self, indices, value); });
    return;
  }
  TS_CHECK(value.device() == t.device(), ValueError, "index_put_", "value on ", value.device(), " for a tensor on ",
           t.device());
  // Traced for export, t[mask] = v with a mask of t's shape and a 0-d value is ONNX's
  // Where (the same values as the scatter below, without NonZero).
  if (trace::active() && indices.size() == 1 && indices[0].kind == TensorIndex::Kind::Tensor &&
      indices[0].tensor.dtype() == DType::Bool && indices[0].tensor.shape() == t.shape() && value.dim() == 0 &&
      t.dim() > 0) {
    check_writable("index_put_", t);
    Tensor(t).copy_(where(indices[0].tensor, value.to(t.dtype()), t));
    return;
  }
  // The basic part (ints, slices, None) is a view of t, traced op by op; a write
  // into it is traced as copy_ or index_put_ on that view.
  std::vector<Advanced> adv;
  Tensor v = apply_basic("index_put_", t, indices, adv);
  // Leading size-1 dims of the value beyond the target's rank are dropped (NumPy and PyTorch do).
  auto trim = [](Tensor val, size_t ndim) {
    while (static_cast<size_t>(val.dim()) > ndim && val.shape()[0] == 1) val = val.squeeze(0);
    return val;
  };
  check_writable("index_put_", v);
  if (adv.empty()) {
    v.copy_(trim(value, static_cast<size_t>(v.dim())));
    return;
  }
  trace::Op tr{"index_put_"};
  if (tr) {  // the index tensors as advanced_index records them, then the value as given
    Shape dims;
    tr.in(v).inplace();
    for (const auto& a : adv) {
      tr.in(a.idx);
      dims.push_back(a.dim);
    }
    tr.in(value).attr("dims", dims);
  }
  Shape result;
  const Tensor off = offsets("index_put_", v, adv, result);
  const Tensor value_t = trim(value, result.size());
  const Shape bs = broadcast_shapes("index_put_", result, value_t.shape());
  TS_CHECK(bs == result, ValueError, "index_put_", "shape mismatch: value of shape ", value.shape(),
           " cannot be broadcast to indexing result of shape ", result);
  if (off.numel() > 0) {
    // A value that aliases t is read from a snapshot, so no element is lost.
    const Tensor val = value_t.storage() == t.storage() ? value_t.to(t.dtype()).clone() : value_t.to(t.dtype());
    const Tensor in[2] = {broadcast_to(val, result), off};
    dispatch(op::put_offsets, t.dtype(), in, {&v, 1});
    t.bump_version();
  }
  if (tr) tr.out(v);
}

}  // namespace tessel

namespace tessel {

namespace {

Tensor long_index(const char* op, const Tensor& index, const Device& device) {
  TS_CHECK(is_integral(index.dtype()), TypeError, op, "index must be an integer tensor, got ", index.dtype());
  TS_CHECK(index.device() == device, ValueError, op, "index on ", index.device(), " for a tensor on ", device);
  return index.to(DType::Int64);
}

// Refuses indices outside [lo, n) with an IndexError naming the op and the dim.
void check_range(const char* op, const Tensor& idx, int64_t lo, int64_t n, int64_t dim) {
  if (idx.numel() == 0) return;
  int64_t mn = 0, mx = 0;
  if (idx.device().is_cpu() && idx.dtype() == DType::Int64 && idx.numel() <= 4096) {
    // A few indices (ONNX feature extractors, a batch of rows): one host pass costs
    // less than launching two reductions.
    const Tensor c = idx.contiguous();
    const int64_t* p = c.data<int64_t>();
    mn = mx = p[0];
    for (int64_t k = 1; k < c.numel(); ++k) mn = std::min(mn, p[k]), mx = std::max(mx, p[k]);
  } else {
    mn = amin(idx).item<int64_t>(), mx = amax(idx).item<int64_t>();
  }
  TS_CHECK(mn >= lo && mx < n, IndexError, op, "index ", (mn < lo ? mn : mx), " is out of bounds for dimension ",
           dim, " with size ", n);
}

// Element offsets of every position of `shape` in a tensor with `strides`,
// except along `skip`, whose coordinate comes from `index` (same shape).
Tensor offsets_with(const Shape& shape, const Shape& strides, int64_t skip, const Tensor& index, Device device) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  Tensor off = mul(index, Scalar(strides[skip]));
  for (int64_t d = 0; d < nd; ++d) {
    if (d == skip || shape[d] == 1) continue;
    Shape s(nd, 1);
    s[d] = shape[d];
    off = add(off, mul(arange(Scalar(0), Scalar(shape[d]), Scalar(1), DType::Int64, device), Scalar(strides[d])).reshape(s));
  }
  return broadcast_to(off, shape).contiguous();
}

void check_same_rank(const char* op, const Tensor& t, const Tensor& index, int64_t dim) {
  TS_CHECK(index.dim() == t.dim() || (t.dim() == 0 && index.dim() <= 1), ValueError, op,
           "index must have as many dims as the input (", t.dim(), "), got shape ", index.shape());
  for (int64_t d = 0; d < index.dim(); ++d) {
    TS_CHECK(d == dim || index.shape()[d] <= t.shape()[d], ValueError, op, "index shape ", index.shape(),
             " exceeds input shape ", t.shape(), " at dim ", d);
  }
}

// Writes src (shaped like index) into `out` along dim; add accumulates.
void scatter_into(const char* op, const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool add) {
  const int64_t d = wrap_dim(op, dim, out.dim());
  const Tensor idx = long_index(op, index, out.device());
  check_same_rank(op, out, idx, d);
  check_range(op, idx, 0, out.dim() ? out.shape()[d] : 1, d);
  TS_CHECK(src.dim() == idx.dim(), ValueError, op, "src must have as many dims as index, got ", src.shape(), " and ",
           idx.shape());
  Tensor s = src.to(out.dtype());
  for (int64_t k = 0; k < idx.dim(); ++k) {
    TS_CHECK(s.shape()[k] >= idx.shape()[k], ValueError, op, "src shape ", src.shape(), " is smaller than index shape ",
             idx.shape(), " at dim ", k);
    s = s.narrow(k, 0, idx.shape()[k]);
  }
  if (idx.numel() == 0) return;
  const Tensor off = offsets_with(idx.shape(), out.strides(), d, idx, out.device());
  const Tensor in[2] = {s, off};
  Tensor o = out;
  dispatch(add ? op::put_offsets_add : op::put_offsets, out.dtype(), in, {&o, 1});
  o.bump_version();
}

}  // namespace

Tensor gather(const Tensor& t, int64_t dim, const Tensor& index) {
  if (trace::Op r{"gather"}) return r.in(t).in(index).attr("dim", dim).out(gather(t, dim, index));
  OpScope scope_("gather");
  if (autograd::needs_grad(t)) {
    return autograd::recorded(
        true, [&] { return gather(t, dim, index); },
        [&](const Tensor& out) { autograd::rules::gather(t, wrap_dim("gather", dim, t.dim()), index, out); });
  }
  const int64_t d = wrap_dim("gather", dim, t.dim());
  const Tensor idx = long_index("gather", index, t.device());
  check_same_rank("gather", t, idx, d);
  if (t.dim() > 0 && t.device().is_cpu() && t.is_contiguous() && idx.numel() > 0) {
    // Index as wide as t off dim: rows of [O, N, I], range check and copy in one kernel pass.
    bool same = true;
    for (int64_t k = 0; k < t.dim(); ++k) same = same && (k == d || idx.shape()[k] == t.shape()[k]);
    static const OpId kRows = Registry::get().op_id("gather_rows");
    if (same && Registry::get().has(kRows, DeviceType::CPU, t.dtype())) {
      int64_t O = 1, I = 1;
      for (int64_t k = 0; k < d; ++k) O *= t.shape()[k];
      for (int64_t k = d + 1; k < t.dim(); ++k) I *= t.shape()[k];
      Tensor out = empty(idx.shape(), TensorOptions(t.dtype(), t.device()));
      Tensor outs[2] = {out.view({O, idx.shape()[d], I}), empty({1}, TensorOptions(DType::Int64, t.device()))};
      const Tensor ins[2] = {t.view({O, t.shape()[d], I}), idx.contiguous().view({O, idx.shape()[d], I})};
      dispatch(kRows, t.dtype(), ins, outs, nullptr);
      if (outs[1].data<int64_t>()[0] != 0) check_range("gather", idx, 0, t.shape()[d], d);  // raises, naming the index
      return out;
    }
  }
  check_range("gather", idx, 0, t.dim() ? t.shape()[d] : 1, d);
  Tensor out = empty(idx.shape(), TensorOptions(t.dtype(), t.device()));
  if (idx.numel() == 0) return out;
  const Tensor off = offsets_with(idx.shape(), t.dim() ? t.strides() : Shape{1}, d, idx, t.device());
  const Tensor in[2] = {t, off};
  dispatch(op::take_offsets, t.dtype(), in, {&out, 1});
  return out;
}

const Tensor& scatter_(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src) {
  if (trace::Op r{"scatter_"}) {
    r.in(t).in(index).in(src).attr("dim", dim).inplace();
    scatter_(t, dim, index, src);
    r.out(t);
    return t;
  }
  OpScope scope_("scatter_");
  if (autograd::needs_grad(t, src)) {
    return autograd::inplace("scatter_", t, true, [&](const Tensor& self) { return scatter(self, dim, index, src); });
  }
  check_writable("scatter_", t);
  scatter_into("scatter_", t, dim, index, src, false);
  return t;
}
const Tensor& scatter_(const Tensor& t, int64_t dim, const Tensor& index, const Scalar& value) {
  OpScope scope_("scatter_");
  return scatter_(t, dim, index, full(index.shape(), value, TensorOptions(t.dtype(), t.device())));
}
const Tensor& scatter_add_(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src) {
  if (trace::Op r{"scatter_add_"}) {
    r.in(t).in(index).in(src).attr("dim", dim).inplace();
    scatter_add_(t, dim, index, src);
    r.out(t);
    return t;
  }
  OpScope scope_("scatter_add_");
  if (autograd::needs_grad(t, src)) {
    return autograd::inplace("scatter_add_", t, true,
                             [&](const Tensor& self) { return scatter_add(self, dim, index, src); });
  }
  check_writable("scatter_add_", t);
  scatter_into("scatter_add_", t, dim, index, src, true);
  return t;
}
Tensor scatter(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src) {
  if (trace::Op r{"scatter"}) return r.in(t).in(index).in(src).attr("dim", dim).out(scatter(t, dim, index, src));
  OpScope scope_("scatter");
  return autograd::recorded(
      autograd::needs_grad(t, src),
      [&] {
        Tensor out = t.clone();
        scatter_into("scatter", out, dim, index, src, false);
        return out;
      },
      [&](const Tensor& out) {
        autograd::rules::scatter("ScatterBackward", t, wrap_dim("scatter", dim, t.dim()), index, src, false, out);
      });
}
Tensor scatter(const Tensor& t, int64_t dim, const Tensor& index, const Scalar& value) {
  OpScope scope_("scatter");
  return scatter(t, dim, index, full(index.shape(), value, TensorOptions(t.dtype(), t.device())));
}
Tensor scatter_add(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src) {
  if (trace::Op r{"scatter_add"}) return r.in(t).in(index).in(src).attr("dim", dim).out(scatter_add(t, dim, index, src));
  OpScope scope_("scatter_add");
  return autograd::recorded(
      autograd::needs_grad(t, src),
      [&] {
        Tensor out = t.clone();
        scatter_into("scatter_add", out, dim, index, src, true);
        return out;
      },
      [&](const Tensor& out) {
        autograd::rules::scatter("ScatterAddBackward", t, wrap_dim("scatter_add", dim, t.dim()), index, src, true,
                                 out);
      });
}

Tensor index_select(const Tensor& t, int64_t dim, const Tensor& index) {
  if (trace::Op r{"index_select"}) return r.in(t).in(index).attr("dim", dim).out(index_select(t, dim, index));
  OpScope scope_("index_select");
  if (autograd::needs_grad(t) && t.dim() > 0) {  // the gradient adds rows back: no position tensor of t's size
    return autograd::recorded(
        true, [&] { return index_select(t, dim, index); },
        [&](const Tensor& out) { autograd::rules::index_select(t, wrap_dim("index_select", dim, t.dim()), index, out); });
  }
  TS_CHECK(index.dim() <= 1, ValueError, "index_select", "index must be 1-D, got shape ", index.shape());
  const int64_t d = wrap_dim("index_select", dim, t.dim());
  const Tensor idx = long_index("index_select", index, t.device()).reshape({-1});
  if (t.dim() > 0 && t.device().is_cpu() && t.is_contiguous()) {
    // A contiguous CPU tensor: for each position before dim, one copy per index of the
    // block after it (rows for embedding and batches of samples, single elements for
    // ONNX's feature extractors) instead of an offset tensor per element.
    Shape shape = t.shape();
    const int64_t n = shape[d], k = idx.numel();
    shape[d] = k;
    Tensor out = empty(shape, TensorOptions(t.dtype(), t.device()));
    int64_t outer = 1, block = static_cast<int64_t>(t.itemsize());
    for (int64_t j = 0; j < d; ++j) outer *= shape[j];
    for (size_t j = static_cast<size_t>(d) + 1; j < shape.size(); ++j) block *= shape[j];
    const Tensor ic = idx.contiguous();
    const int64_t* ip = ic.data<int64_t>();
    const char* src = static_cast<const char*>(t.data_ptr());
    char* dst = static_cast<char*>(out.data_ptr());
    // The range check rides along the copy (a separate pass over the index was 13% of
    // embedding's time): a row whose index is out of range is not read, and
    // check_range names it after the loop.
    std::atomic<bool> bad{false};
    const auto copy = [&](auto elem) {
      using E = decltype(elem);
      const auto one = [&](int64_t o, int64_t i) {
        if (static_cast<uint64_t>(ip[i]) >= static_cast<uint64_t>(n)) [[unlikely]] {
          bad.store(true, std::memory_order_relaxed);
          return;
        }
        char* to = dst + (o * k + i) * block;
        const char* from = src + (o * n + ip[i]) * block;
        if constexpr (sizeof(E) > 1) {
          std::memcpy(to, from, sizeof(E));  // one move
        } else {
          // rows at random places in a large table wait on memory one by one: ask for the
          // row 16 indices ahead (its first 512 bytes) while this one is copied
          if (i + 16 < k && static_cast<uint64_t>(ip[i + 16]) < static_cast<uint64_t>(n))
            for (int64_t b = 0; b < std::min<int64_t>(block, 512); b += 64)
              __builtin_prefetch(src + (o * n + ip[i + 16]) * block + b);
          int64_t b = 0;  // whole 64-byte pieces as inline moves (a call per row was 17%)
          for (; b + 64 <= block; b += 64) std::memcpy(to + b, from + b, 64);
          if (b < block) std::memcpy(to + b, from + b, static_cast<size_t>(block - b));
        }
      };
      // Over 1 MiB: the threads split the outer positions, or the indices when there is one.
      const bool par = outer * k * block > (int64_t{1} << 20);
      if (outer > 1)
        cpu::for_each_index(outer, par, [&](int64_t o) {
          for (int64_t i = 0; i < k; ++i) one(o, i);
        });
      else if (outer == 1)
        cpu::for_each_index(k, par, [&](int64_t i) { one(0, i); });
    };
    if (block == 4) copy(int32_t{});
    else if (block == 8) copy(int64_t{});
    else if (block > 0) copy(char{});
    if (bad.load() || block == 0 || outer == 0) check_range("index_select", idx, 0, n, d);  // raises, naming it
    return out;
  }
  check_range("index_select", idx, 0, t.dim() ? t.shape()[d] : 1, d);
  if (t.dim() == 0) return tessel::index(t.reshape({1}), {TensorIndex::with(idx)}).reshape(index.shape());
  std::vector<TensorIndex> ix(static_cast<size_t>(d), TensorIndex::slice());
  ix.push_back(TensorIndex::with(idx));
  return tessel::index(t, ix);
}

const Tensor& index_add_(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& source,
                         const Scalar& alpha) {
  if (trace::Op r{"index_add_"}) {
    r.in(t).in(index).in(source).scalar(alpha, source.dtype()).attr("dim", dim).inplace();
    index_add_(t, dim, index, source, alpha);
    r.out(t);
    return t;
  }
  OpScope scope_("index_add_");
  if (autograd::needs_grad(t, source)) {
    return autograd::inplace("index_add_", t, true,
                             [&](const Tensor& self) { return index_add(self, dim, index, source, alpha); });
  }
  check_writable("index_add_", t);
  TS_CHECK(index.dim() <= 1, ValueError, "index_add_", "index must be 1-D, got shape ", index.shape());
  const int64_t d = wrap_dim("index_add_", dim, t.dim());
  const Tensor idx = long_index("index_add_", index, t.device()).reshape({-1});
  TS_CHECK(source.dim() == t.dim() && (t.dim() == 0 || source.shape()[d] == idx.numel()), ValueError, "index_add_",
           "source of shape ", source.shape(), " does not match index of length ", idx.numel(), " along dim ", d);
  for (int64_t k = 0; k < t.dim(); ++k) {
    TS_CHECK(k == d || source.shape()[k] == t.shape()[k], ValueError, "index_add_", "source shape ", source.shape(),
             " does not match input shape ", t.shape(), " outside dim ", d);
  }
  check_range("index_add_", idx, 0, t.dim() ? t.shape()[d] : 1, d);
  if (source.numel() == 0) return t;
  // Every source element goes to input position with dim coordinate index[j].
  Shape s(static_cast<size_t>(source.dim()), 1);
  if (source.dim()) s[d] = idx.numel();
  const Tensor full_idx = broadcast_to(idx.reshape(s), source.shape());
  Tensor vals = (alpha.is_int() && alpha.to<int64_t>() == 1) ? source : mul(source, alpha);
  scatter_into("index_add_", t, d, full_idx, vals, true);
  return t;
}

Tensor index_add(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& source, const Scalar& alpha) {
  if (trace::Op r{"index_add"})
    return r.in(t).in(index).in(source).scalar(alpha, source.dtype()).attr("dim", dim).out(index_add(t, dim, index, source, alpha));
  OpScope scope_("index_add");
  return autograd::recorded(
      autograd::needs_grad(t, source),
      [&] {
        Tensor out = t.clone();
        index_add_(out, dim, index, source, alpha);
        return out;
      },
      [&](const Tensor& out) {
        autograd::rules::index_add(t, t.dim() ? wrap_dim("index_add", dim, t.dim()) : 0, index, source, alpha, out);
      });
}

Tensor masked_fill(const Tensor& t, const Tensor& mask, const Scalar& value) {
  if (trace::Op r{"masked_fill"}) return r.in(t).in(mask).scalar(value, t.dtype()).out(masked_fill(t, mask, value));
  OpScope scope_("masked_fill");
  TS_CHECK(mask.dtype() == DType::Bool, TypeError, "masked_fill", "mask must be a bool tensor, got ", mask.dtype());
  const Shape bs = broadcast_shapes("masked_fill", t.shape(), mask.shape());
  TS_CHECK(bs == t.shape(), ValueError, "masked_fill", "mask of shape ", mask.shape(),
           " does not broadcast to the input shape ", t.shape());
  return where(mask, scalar_tensor(value, TensorOptions(t.dtype(), t.device())), t);
}

const Tensor& masked_fill_(const Tensor& t, const Tensor& mask, const Scalar& value) {
  if (trace::Op r{"masked_fill_"}) {
    r.in(t).in(mask).scalar(value, t.dtype()).inplace();
    masked_fill_(t, mask, value);
    r.out(t);
    return t;
  }
  OpScope scope_("masked_fill_");
  Tensor(t).copy_(masked_fill(t, mask, value));
  return t;
}

Tensor masked_select(const Tensor& t, const Tensor& mask) {
  OpScope scope_("masked_select");
  TS_CHECK(mask.dtype() == DType::Bool, TypeError, "masked_select", "mask must be a bool tensor, got ", mask.dtype());
  const Shape bs = broadcast_shapes("masked_select", t.shape(), mask.shape());
  if (bs.empty()) return index(t.reshape({1}), {TensorIndex::with(mask.reshape({1}))});
  return index(broadcast_to(t, bs), {TensorIndex::with(broadcast_to(mask, bs))});
}

Tensor take(const Tensor& t, const Tensor& idx) {
  OpScope scope_("take");
  const Tensor i = long_index("take", idx, t.device());
  const Tensor flat = t.reshape({-1});
  check_range("take", i, -flat.numel(), flat.numel(), 0);
  return index(flat, {TensorIndex::with(i)});
}

}  // namespace tessel
