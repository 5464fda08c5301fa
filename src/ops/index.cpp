// Indexing: t[...] and t[...] = v with ints, slices, None, ..., bool masks and
// integer index tensors (PyTorch/NumPy advanced-indexing semantics), and nonzero.
#include <algorithm>

#include "src/core/shape_util.h"
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel {

Tensor nonzero(const Tensor& t) {
  TS_CHECK(t.defined(), ValueError, "nonzero", "got an undefined tensor");
  const int64_t n = t.numel() == 0 ? 0 : sum(ne(t, Scalar(0))).item<int64_t>();
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
        TS_CHECK(it.device() == t.device(), ValueError, op, "indices on ", it.device(), " for a tensor on ", t.device());
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
          const Tensor nz = nonzero(it);
          for (int64_t k = 0; k < it.dim(); ++k) adv.push_back({d + k, nz.select(1, k)});
          d += it.dim();
        } else {
          TS_CHECK(is_integral(it.dtype()), IndexError, op,
                   "tensors used as indices must be integer or bool tensors, got ", it.dtype());
          adv.push_back({d, it.to(DType::Int64)});
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
  std::vector<Advanced> adv;
  const Tensor v = apply_basic("index", t, indices, adv);
  if (adv.empty()) return v;
  Shape result;
  const Tensor off = offsets("index", v, adv, result);
  Tensor out = empty(result, TensorOptions(t.dtype(), t.device()));
  const Tensor in[2] = {v, off};
  if (out.numel() > 0) dispatch(op::take_offsets, t.dtype(), in, {&out, 1});
  return out;
}

void index_put_(const Tensor& t, const std::vector<TensorIndex>& indices, const Tensor& value) {
  TS_CHECK(value.device() == t.device(), ValueError, "index_put_", "value on ", value.device(), " for a tensor on ",
           t.device());
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
  Shape result;
  const Tensor off = offsets("index_put_", v, adv, result);
  const Tensor value_t = trim(value, result.size());
  const Shape bs = broadcast_shapes("index_put_", result, value_t.shape());
  TS_CHECK(bs == result, ValueError, "index_put_", "shape mismatch: value of shape ", value.shape(),
           " cannot be broadcast to indexing result of shape ", result);
  if (off.numel() == 0) return;
  // A value that aliases t is read from a snapshot, so no element is lost.
  const Tensor val = value_t.storage() == t.storage() ? value_t.to(t.dtype()).clone() : value_t.to(t.dtype());
  const Tensor in[2] = {broadcast_to(val, result), off};
  dispatch(op::put_offsets, t.dtype(), in, {&v, 1});
  t.bump_version();
}

}  // namespace tessel
