// ONNX indexing and tensor-manipulation ops: Slice, Pad, Split, Gather*/Scatter*,
// OneHot, NonZero, TopK, Trilu, Compress, ReverseSequence, Resize/Upsample.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace {





// Host copy of an integer tensor of any shape (indices).
std::vector<int64_t> all_ints(const Node& n, const Tensor& t, const char* what) {
  if (t.dtype() != DType::Int64 && t.dtype() != DType::Int32) n.error<TypeError>(what, " must be int64 or int32, got ", t.dtype());
  Tensor c = t.to(DType::Int64).contiguous();
  const int64_t* p = c.data<int64_t>();
  return std::vector<int64_t>(p, p + c.numel());
}

int64_t one_int(const Node& n, const Tensor& t, const char* what) {
  if (t.numel() != 1) n.error(what, " must hold one value, got shape ", t.shape());
  if (!is_integral(t.dtype())) n.error<TypeError>(what, " must be an integer, got ", t.dtype());
  return t.reshape({}).item().to<int64_t>();
}

// Typed visit for reductions (Scatter*); other dtypes only support plain assignment.
template <class F>
void visit_numeric(const Node& n, DType dt, F&& f) {
  switch (dt) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    case DType::Int64: return f(int64_t{});
    case DType::Int32: return f(int32_t{});
    case DType::Int16: return f(int16_t{});
    case DType::Int8: return f(int8_t{});
    case DType::UInt8: return f(uint8_t{});
    case DType::UInt16: return f(uint16_t{});
    case DType::UInt32: return f(uint32_t{});
    case DType::UInt64: return f(uint64_t{});
    default: n.error<NotImplementedError>("reduction on ", dt, " data is not supported");
  }
}

template <class T>
void reduce_into(T* dst, const T* src, const std::string& r) {
  if (r == "add") *dst = static_cast<T>(*dst + *src);
  else if (r == "mul") *dst = static_cast<T>(*dst * *src);
  else if (r == "max") *dst = std::max(*dst, *src);
  else *dst = std::min(*dst, *src);
}

std::string reduction_of(const Node& n) {
  std::string r = n.s("reduction", "none");
  if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min")
    n.error("reduction '", r, "' must be none, add, mul, max or min");
  return r;
}

// Copies `count` elements (or reduces them) from src into dst.
void put(const Node& n, DType dt, char* dst, const char* src, int64_t count, const std::string& r) {
  const size_t is = itemsize(dt);
  if (r == "none") {
    std::memcpy(dst, src, is * count);
    return;
  }
  visit_numeric(n, dt, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t k = 0; k < count; ++k) reduce_into(reinterpret_cast<T*>(dst) + k, reinterpret_cast<const T*>(src) + k, r);
  });
}

// ---- Slice ----

std::vector<Tensor> slice_op(const Node& n, const Inputs& in, const OpContext& c) {
  const Tensor& x = input(n, in, 0);
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.opset < 10) {
    starts = n.ints("starts");
    ends = n.ints("ends");
    axes = n.ints("axes");
  } else {
    starts = int_values(n, input(n, in, 1), "starts");
    ends = int_values(n, input(n, in, 2), "ends");
    if (auto a = opt(in, 3)) axes = int_values(n, *a, "axes");
    if (auto s = opt(in, 4)) steps = int_values(n, *s, "steps");
  }
  if (starts.size() != ends.size()) n.error("starts ", starts, " and ends ", ends, " differ in length");
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    n.error("starts, ends, axes and steps must have one value per sliced axis");
  std::vector<bool> seen(x.dim(), false);
  Tensor y = x;
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t a = norm_axis(n, axes[i], x.dim(), "axis");
    if (seen[a]) n.error("axes ", axes, " repeat axis ", a);
    seen[a] = true;
    const int64_t dim = x.shape()[a], st = steps[i];
    if (st == 0) n.error("steps must not be 0");
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;  // cannot overflow: s < 0 <= dim
    if (e < 0) e += dim;
    int64_t count = 0;
    if (dim > 0 && st > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      if (e > s) count = (e - s - 1) / st + 1;
    } else if (dim > 0) {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      if (s > e) count = (s - e - 1) / -st + 1;
    }
    if (count == 0) {
      y = y.narrow(a, 0, 0);
    } else if (st > 0) {
      y = y.slice(a, s, s + (count - 1) * st + 1, st);
    } else {
      const int64_t lo = s + (count - 1) * st;  // the last picked index, the smallest
      y = flip(y.slice(a, lo, s + 1, -st), {a});
    }
  }
  return one(y);
}

// ---- Pad ----

// Source index along one dim for an output position i (relative to the unpadded start).
int64_t pad_source(int64_t i, int64_t d, const std::string& mode) {
  if (mode == "edge") return std::clamp<int64_t>(i, 0, d - 1);
  if (mode == "wrap") return ((i % d) + d) % d;
  if (d == 1) return 0;  // reflect on one element repeats it
  const int64_t period = 2 * (d - 1);
  int64_t j = ((i % period) + period) % period;
  return j < d ? j : period - j;
}

std::vector<Tensor> pad_op(const Node& n, const Inputs& in, const OpContext& c) {
  const Tensor& x = input(n, in, 0);
  const int64_t r = x.dim();
  const std::string mode = n.s("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    n.error("mode '", mode, "' must be constant, reflect, edge or wrap");
  std::vector<int64_t> pads, axes;
  double value = 0;
  if (c.opset < 11) {
    pads = n.ints("pads");
    value = n.f("value", 0.0);
  } else {
    pads = int_values(n, input(n, in, 1), "pads");
    if (auto v = opt(in, 2)) {
      if (v->numel() > 1) n.error("constant_value must be a scalar, got shape ", v->shape());
      if (v->numel() == 1) value = v->reshape({}).item().to<double>();
    }
    if (auto a = opt(in, 3)) axes = int_values(n, *a, "axes");
  }
  if (axes.empty())
    for (int64_t d = 0; d < r; ++d) axes.push_back(d);
  if (pads.size() != 2 * axes.size()) n.error("pads ", pads, " must have ", 2 * axes.size(), " values");
  Shape begin(r, 0), end(r, 0);
  std::vector<bool> seen(r, false);
  const size_t k = axes.size();
  for (size_t i = 0; i < k; ++i) {
    const int64_t a = norm_axis(n, axes[i], r, "axis");
    if (seen[a]) n.error("axes ", axes, " repeat axis ", a);
    seen[a] = true;
    begin[a] = pads[i];
    end[a] = pads[i + k];
  }
  Shape out = x.shape();
  for (int64_t d = 0; d < r; ++d) {
    // Checked before adding so hostile pads cannot overflow.
    if (begin[d] > kMaxBytes || begin[d] < -kMaxBytes || end[d] > kMaxBytes || end[d] < -kMaxBytes)
      n.error("pads ", pads, " are too large");
    out[d] += begin[d] + end[d];
    if (out[d] < 0) n.error("pads ", pads, " make dim ", d, " negative");
  }
  check_size(n, out, x.dtype());
  if (mode == "constant") {
    Shape spec;
    for (int64_t d = r - 1; d >= 0; --d) {
      spec.push_back(begin[d]);
      spec.push_back(end[d]);
    }
    return one(pad(x, spec, "constant", value));
  }
  Tensor y = x;
  for (int64_t d = 0; d < r; ++d) {
    // Negative pads crop first; the rest indexes into what is left.
    const int64_t lo = std::max<int64_t>(-begin[d], 0), hi = std::max<int64_t>(-end[d], 0);
    y = y.narrow(d, lo, y.shape()[d] - lo - hi);
    const int64_t pb = std::max<int64_t>(begin[d], 0), pe = std::max<int64_t>(end[d], 0);
    if (pb == 0 && pe == 0) continue;
    const int64_t len = y.shape()[d];
    if (len == 0) n.error("cannot ", mode, "-pad the empty dim ", d);
    if (mode == "reflect" && (pb >= len || pe >= len))
      n.error("reflect pads ", pads, " must be smaller than dim ", d, " (", len, ")");
    std::vector<int64_t> idx;
    for (int64_t i = -pb; i < len + pe; ++i) idx.push_back(pad_source(i, len, mode));
    y = index_select(y, d, from_ints(idx));
  }
  return one(y);
}

// ---- Split ----

std::vector<Tensor> split_op(const Node& n, const Inputs& in, const OpContext& c) {
  const Tensor& x = input(n, in, 0);
  if (x.dim() == 0) n.error("input must have at least one dim");
  const int64_t axis = norm_axis(n, n.i("axis", 0), x.dim(), "axis");
  const int64_t dim = x.shape()[axis];
  const int64_t nout = static_cast<int64_t>(n.outputs.size());
  std::vector<int64_t> sizes;
  if (c.opset >= 13) {
    if (auto s = opt(in, 1)) sizes = int_values(n, *s, "split");
  } else {
    sizes = n.ints("split");
  }
  if (!sizes.empty() && n.has("num_outputs")) n.error("split and num_outputs cannot both be given");
  if (sizes.empty()) {
    if (n.has("num_outputs")) {
      const int64_t k = n.i("num_outputs", 0);
      if (k < 1 || k != nout) n.error("num_outputs ", k, " must equal the number of outputs (", nout, ")");
      const int64_t chunk = (dim + k - 1) / k;  // the last chunk is smaller when dim does not divide
      for (int64_t i = 0; i < k; ++i) sizes.push_back(std::clamp<int64_t>(dim - i * chunk, 0, chunk));
    } else {
      if (nout < 1 || dim % nout != 0) n.error("dim ", axis, " of size ", dim, " does not split evenly into ", nout, " outputs");
      sizes.assign(nout, dim / nout);
    }
  }
  if (static_cast<int64_t>(sizes.size()) != nout) n.error("split ", sizes, " must have one size per output (", nout, ")");
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0 || s > dim) n.error("split ", sizes, " has a size outside [0, ", dim, "]");
    total += s;
  }
  if (total != dim) n.error("split ", sizes, " sums to ", total, ", not dim ", axis, " of size ", dim);
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(x.narrow(axis, at, s));
    at += s;
  }
  return out;
}

// ---- Gather family ----

std::vector<Tensor> gather_elements(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Tensor& idx = input(n, in, 1);
  if (x.dim() == 0 || idx.dim() != x.dim()) n.error("indices ", idx.shape(), " must have the rank of data ", x.shape());
  const int64_t axis = norm_axis(n, n.i("axis", 0), x.dim(), "axis");
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != axis && idx.shape()[d] > x.shape()[d])
      n.error("indices ", idx.shape(), " exceed data ", x.shape(), " along dim ", d);
  std::vector<int64_t> v = all_ints(n, idx, "indices");
  const int64_t size = x.shape()[axis];
  for (auto& i : v) {
    if (i < -size || i >= size) n.error<IndexError>("index ", i, " is out of range for dim ", axis, " of size ", size);
    if (i < 0) i += size;
  }
  return one(gather(x, axis, from_ints(v).reshape(idx.shape())));
}

// Shared walk of GatherND/ScatterND: for each index tuple, the element offset
// of the slice it addresses in data and the slice length.
struct NdPlan {
  std::vector<int64_t> offsets;
  int64_t slice = 1;
  Shape out;  // GatherND's result shape
};

NdPlan nd_plan(const Node& n, const Tensor& x, const Tensor& idx, int64_t b) {
  const int64_t r = x.dim(), q = idx.dim();
  if (q < 1) n.error("indices must have at least one dim");
  if (b < 0 || b >= std::min(r, q)) n.error("batch_dims ", b, " must be in [0, min(rank(data), rank(indices)))");
  for (int64_t d = 0; d < b; ++d)
    if (x.shape()[d] != idx.shape()[d]) n.error("batch dims of data ", x.shape(), " and indices ", idx.shape(), " differ");
  const int64_t last = idx.shape()[q - 1];
  if (last < 1 || last > r - b) n.error("the last dim of indices ", idx.shape(), " must be in [1, ", r - b, "]");
  NdPlan p;
  p.out.assign(idx.shape().begin(), idx.shape().end() - 1);
  for (int64_t d = b + last; d < r; ++d) {
    p.out.push_back(x.shape()[d]);
    p.slice *= x.shape()[d];
  }
  int64_t batch = 1, per_batch = 1;  // elements of data per batch entry
  for (int64_t d = 0; d < b; ++d) batch *= x.shape()[d];
  for (int64_t d = b; d < r; ++d) per_batch *= x.shape()[d];
  std::vector<int64_t> stride(last);
  int64_t s = p.slice;
  for (int64_t k = last - 1; k >= 0; --k) {
    stride[k] = s;
    s *= x.shape()[b + k];
  }
  std::vector<int64_t> v = all_ints(n, idx, "indices");
  const int64_t tuples = static_cast<int64_t>(v.size()) / last;
  const int64_t per = batch ? tuples / batch : 0;
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = (per ? t / per : 0) * per_batch;
    for (int64_t k = 0; k < last; ++k) {
      int64_t i = v[t * last + k];
      const int64_t size = x.shape()[b + k];
      if (i < -size || i >= size) n.error<IndexError>("index ", i, " is out of range for dim ", b + k, " of size ", size);
      if (i < 0) i += size;
      off += i * stride[k];
    }
    p.offsets.push_back(off);
  }
  return p;
}

std::vector<Tensor> gather_nd(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor x = input(n, in, 0).contiguous();
  const NdPlan p = nd_plan(n, x, input(n, in, 1), n.i("batch_dims", 0));
  check_size(n, p.out, x.dtype());
  Tensor y = empty(p.out, TensorOptions(x.dtype()));
  const size_t bytes = itemsize(x.dtype()) * p.slice;
  const char* src = static_cast<const char*>(x.data_ptr());
  char* dst = static_cast<char*>(y.data_ptr());
  for (size_t t = 0; t < p.offsets.size(); ++t)
    std::memcpy(dst + t * bytes, src + p.offsets[t] * itemsize(x.dtype()), bytes);
  return one(y);
}

std::vector<Tensor> scatter_nd(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Tensor& idx = input(n, in, 1);
  Tensor upd = input(n, in, 2);
  if (upd.dtype() != x.dtype()) n.error<TypeError>("updates (", upd.dtype(), ") must have the dtype of data (", x.dtype(), ")");
  const NdPlan p = nd_plan(n, x, idx, 0);
  if (upd.shape() != p.out) n.error("updates ", upd.shape(), " must have shape ", p.out);
  const std::string r = reduction_of(n);
  Tensor y = x.contiguous().clone();
  upd = upd.contiguous();
  const size_t is = itemsize(x.dtype());
  char* dst = static_cast<char*>(y.data_ptr());
  const char* src = static_cast<const char*>(upd.data_ptr());
  for (size_t t = 0; t < p.offsets.size(); ++t) put(n, x.dtype(), dst + p.offsets[t] * is, src + t * p.slice * is, p.slice, r);
  return one(y);
}

std::vector<Tensor> scatter_elements(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Tensor& idx = input(n, in, 1);
  Tensor upd = input(n, in, 2);
  if (upd.dtype() != x.dtype()) n.error<TypeError>("updates (", upd.dtype(), ") must have the dtype of data (", x.dtype(), ")");
  if (x.dim() == 0 || idx.dim() != x.dim()) n.error("indices ", idx.shape(), " must have the rank of data ", x.shape());
  if (upd.shape() != idx.shape()) n.error("updates ", upd.shape(), " must have the shape of indices ", idx.shape());
  const int64_t axis = norm_axis(n, n.i("axis", 0), x.dim(), "axis");
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != axis && idx.shape()[d] > x.shape()[d])
      n.error("indices ", idx.shape(), " exceed data ", x.shape(), " along dim ", d);
  const std::string r = reduction_of(n);
  std::vector<int64_t> v = all_ints(n, idx, "indices");
  Tensor y = x.contiguous().clone();
  upd = upd.contiguous();
  const int64_t rank = x.dim(), size = x.shape()[axis];
  Shape xstride(rank);
  int64_t s = 1;
  for (int64_t d = rank - 1; d >= 0; --d) {
    xstride[d] = s;
    s *= x.shape()[d];
  }
  const size_t is = itemsize(x.dtype());
  char* dst = static_cast<char*>(y.data_ptr());
  const char* src = static_cast<const char*>(upd.data_ptr());
  Shape pos(rank, 0);  // multi-index into indices, advanced like an odometer
  for (size_t t = 0; t < v.size(); ++t) {
    int64_t i = v[t];
    if (i < -size || i >= size) n.error<IndexError>("index ", i, " is out of range for dim ", axis, " of size ", size);
    if (i < 0) i += size;
    int64_t off = 0;
    for (int64_t d = 0; d < rank; ++d) off += (d == axis ? i : pos[d]) * xstride[d];
    put(n, x.dtype(), dst + off * is, src + t * is, 1, r);
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++pos[d] < idx.shape()[d]) break;
      pos[d] = 0;
    }
  }
  return one(y);
}

// ---- OneHot, NonZero, TopK, Trilu, Compress, ReverseSequence ----

std::vector<Tensor> one_hot(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& idx = input(n, in, 0);
  const Tensor& depth_t = input(n, in, 1);
  const Tensor& values = input(n, in, 2);
  if (depth_t.numel() != 1) n.error("depth must hold one value, got shape ", depth_t.shape());
  if (values.numel() != 2) n.error("values must hold [off_value, on_value], got shape ", values.shape());
  if (is_complex(idx.dtype()) || idx.dtype() == DType::Bool) n.error<TypeError>("indices must be numeric, got ", idx.dtype());
  const double dd = depth_t.reshape({}).item().to<double>();
  if (!(dd >= 1) || dd > 1e9) n.error("depth ", dd, " must be in [1, 1e9]");
  const int64_t depth = static_cast<int64_t>(dd);
  const int64_t r = idx.dim();
  int64_t axis = n.i("axis", -1);
  if (axis < -r - 1 || axis > r) n.error("axis ", axis, " is out of range for rank ", r + 1);
  if (axis < 0) axis += r + 1;
  Shape out = idx.shape();
  out.insert(out.begin() + axis, depth);
  check_size(n, out, values.dtype());
  Tensor i64 = idx.to(DType::Int64);
  i64 = where(lt(i64, Scalar(0)), add(i64, Scalar(depth)), i64);  // -depth..-1 count from the end
  Shape ar(r + 1, 1);
  ar[axis] = depth;
  Tensor mask = eq(i64.unsqueeze(axis), arange(Scalar(0), Scalar(depth), Scalar(1), DType::Int64).reshape(ar));
  Tensor v = values.reshape({2});
  return one(where(mask, v.select(0, 1), v.select(0, 0)).contiguous());
}

std::vector<Tensor> top_k(const Node& n, const Inputs& in, const OpContext& c) {
  const Tensor& x = input(n, in, 0);
  if (x.dim() == 0) n.error("X must have at least one dim");
  const int64_t axis = norm_axis(n, n.i("axis", -1), x.dim(), "axis");
  int64_t k = 0;
  if (c.opset >= 10) k = one_int(n, input(n, in, 1), "K");
  else if (n.has("k")) k = n.i("k", 0);
  else n.error("attribute k is required");
  const int64_t size = x.shape()[axis];
  if (k < 0 || k > size) n.error("K ", k, " is out of range for dim ", axis, " of size ", size);
  const bool largest = n.i("largest", 1) != 0;
  // ONNX breaks ties by the lower index: a stable sort gives that order.
  auto [vals, idx] = sort(x, axis, largest);
  Tensor v = vals.narrow(axis, 0, k), i = idx.narrow(axis, 0, k);
  return {v.contiguous(), i.contiguous()};
}

std::vector<Tensor> compress(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Tensor& cond = input(n, in, 1);
  if (cond.dim() != 1) n.error("condition must be 1-D, got shape ", cond.shape());
  Tensor src = x;
  int64_t axis = 0;
  if (n.has("axis")) axis = norm_axis(n, n.i("axis", 0), x.dim(), "axis");
  else src = x.reshape({-1});
  const int64_t dim = src.shape()[axis];
  Tensor idx = nonzero(cond.to(DType::Bool)).reshape({-1});
  if (idx.numel() > 0 && idx.reshape({-1}).select(0, idx.numel() - 1).item().to<int64_t>() >= dim)
    n.error<IndexError>("condition selects past dim ", axis, " of size ", dim);
  return one(index_select(src, axis, idx));
}

std::vector<Tensor> reverse_sequence(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  if (x.dim() < 2) n.error("input must have at least 2 dims, got shape ", x.shape());
  const int64_t ba = n.i("batch_axis", 1), ta = n.i("time_axis", 0);
  if (!((ba == 0 && ta == 1) || (ba == 1 && ta == 0))) n.error("batch_axis and time_axis must be 0 and 1 (either order)");
  std::vector<int64_t> lens = all_ints(n, input(n, in, 1), "sequence_lens");
  const int64_t B = x.shape()[ba], T = x.shape()[ta];
  if (static_cast<int64_t>(lens.size()) != B) n.error("sequence_lens must have ", B, " values, got ", lens.size());
  // An index table [T, B] (or [B, T]) along the time axis, broadcast over the other dims.
  Shape tshape(x.dim(), 1);
  tshape[ta] = T;
  tshape[ba] = B;
  Tensor table = empty(tshape, TensorOptions(DType::Int64));
  int64_t* p = table.data<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    if (lens[b] < 0 || lens[b] > T) n.error("sequence_lens ", lens[b], " is out of range [0, ", T, "]");
    for (int64_t t = 0; t < T; ++t) p[ta == 0 ? t * B + b : b * T + t] = t < lens[b] ? lens[b] - 1 - t : t;
  }
  return one(gather(x, ta, table.expand(x.shape()).contiguous()));
}

// Unique: values (or slices along `axis`) in sorted or first-seen order, with the
// first index of each, every element's position among them, and their counts.
std::vector<Tensor> unique_op(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  if (is_complex(x.dtype())) n.error<TypeError>("complex input is not supported");
  const bool has_axis = n.has("axis");
  const int64_t axis = has_axis ? norm_axis(n, n.i("axis", 0), x.dim(), "axis") : 0;
  Tensor src = has_axis ? x : x.reshape({-1});
  const int64_t rows = src.dim() == 0 ? 1 : src.shape()[axis];
  if (rows == 0) {
    Tensor none = empty({0}, TensorOptions(DType::Int64));
    return {src, none, none, none};
  }
  // Comparison keys: each slice along axis as a row, in int64 (integers, bool) or double.
  Shape perm{axis};
  for (int64_t d = 0; d < src.dim(); ++d)
    if (d != axis) perm.push_back(d);
  const bool integral = is_integral(x.dtype(), true);
  Tensor keys = src.permute(perm).reshape({rows, -1}).to(integral ? DType::Int64 : DType::Float64).contiguous();
  const int64_t width = keys.shape()[1];
  std::vector<int64_t> order(rows);
  for (int64_t i = 0; i < rows; ++i) order[i] = i;
  auto row_less = [&](auto* p, int64_t a, int64_t b) {
    return std::lexicographical_compare(p + a * width, p + (a + 1) * width, p + b * width, p + (b + 1) * width);
  };
  auto row_eq = [&](auto* p, int64_t a, int64_t b) { return std::equal(p + a * width, p + (a + 1) * width, p + b * width); };
  std::vector<int64_t> run_of(rows);  // run id of each sorted position
  auto group = [&](auto* p) {
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return row_less(p, a, b); });
    for (int64_t i = 1; i < rows; ++i) run_of[i] = run_of[i - 1] + (row_eq(p, order[i - 1], order[i]) ? 0 : 1);
  };
  if (integral) group(keys.data<int64_t>());
  else group(keys.data<double>());
  const int64_t runs = run_of[rows - 1] + 1;
  std::vector<int64_t> first(runs, -1), count(runs, 0), inverse(rows);
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t r = run_of[i];
    if (first[r] < 0) first[r] = order[i];  // the stable sort keeps the earliest first
    ++count[r];
    inverse[order[i]] = r;
  }
  // Output position of each run: sorted order, or first-seen order when sorted=0.
  std::vector<int64_t> pos(runs);
  for (int64_t r = 0; r < runs; ++r) pos[r] = r;
  if (n.i("sorted", 1) == 0) {
    std::vector<int64_t> by_first(runs);
    for (int64_t r = 0; r < runs; ++r) by_first[r] = r;
    std::sort(by_first.begin(), by_first.end(), [&](int64_t a, int64_t b) { return first[a] < first[b]; });
    for (int64_t k = 0; k < runs; ++k) pos[by_first[k]] = k;
  }
  std::vector<int64_t> idx(runs), cnt(runs);
  for (int64_t r = 0; r < runs; ++r) {
    idx[pos[r]] = first[r];
    cnt[pos[r]] = count[r];
  }
  for (auto& v : inverse) v = pos[v];
  return {index_select(src, axis, from_ints(idx)), from_ints(idx), from_ints(inverse), from_ints(cnt)};
}

// ---- NonMaxSuppression ----

// IoU test of two boxes, corners [y1, x1, y2, x2] in any order, or [xc, yc, w, h].
bool suppresses(const double* a, const double* b, bool center, double threshold) {
  auto span = [&](const double* box, int lo, int hi, double* mn, double* mx) {
    if (center) {
      *mn = box[lo] - box[hi] / 2;
      *mx = box[lo] + box[hi] / 2;
    } else {
      *mn = std::min(box[lo], box[hi]);
      *mx = std::max(box[lo], box[hi]);
    }
  };
  double ax0, ax1, ay0, ay1, bx0, bx1, by0, by1;
  span(a, center ? 0 : 1, center ? 2 : 3, &ax0, &ax1);
  span(b, center ? 0 : 1, center ? 2 : 3, &bx0, &bx1);
  span(a, center ? 1 : 0, center ? 3 : 2, &ay0, &ay1);
  span(b, center ? 1 : 0, center ? 3 : 2, &by0, &by1);
  const double ix = std::min(ax1, bx1) - std::max(ax0, bx0), iy = std::min(ay1, by1) - std::max(ay0, by0);
  if (ix <= 0 || iy <= 0) return false;
  const double inter = ix * iy, area_a = (ax1 - ax0) * (ay1 - ay0), area_b = (bx1 - bx0) * (by1 - by0);
  const double uni = area_a + area_b - inter;
  if (area_a <= 0 || area_b <= 0 || uni <= 0) return false;
  return inter / uni > threshold;
}

std::vector<Tensor> non_max_suppression(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& boxes = input(n, in, 0);
  const Tensor& scores = input(n, in, 1);
  if (boxes.dim() != 3 || boxes.shape()[2] != 4) n.error("boxes must be [batch, boxes, 4], got ", boxes.shape());
  if (scores.dim() != 3 || scores.shape()[0] != boxes.shape()[0] || scores.shape()[2] != boxes.shape()[1])
    n.error("scores ", scores.shape(), " must be [batch, classes, boxes] for boxes ", boxes.shape());
  if (!is_floating(boxes.dtype()) || !is_floating(scores.dtype())) n.error<TypeError>("boxes and scores must be float tensors");
  int64_t max_out = 0;
  double iou = 0, score_min = -std::numeric_limits<double>::infinity();
  if (auto t = opt(in, 2); t && t->numel() > 0) max_out = one_int(n, *t, "max_output_boxes_per_class");
  if (auto t = opt(in, 3); t && t->numel() > 0) iou = t->reshape({-1}).select(0, 0).item().to<double>();
  const bool has_score = opt(in, 4).has_value() && opt(in, 4)->numel() > 0;
  if (has_score) score_min = opt(in, 4)->reshape({-1}).select(0, 0).item().to<double>();
  if (iou < 0 || iou > 1) n.error("iou_threshold ", iou, " must be in [0, 1]");
  const int64_t cp = n.i("center_point_box", 0);
  if (cp != 0 && cp != 1) n.error("center_point_box ", cp, " must be 0 or 1");
  const int64_t B = boxes.shape()[0], K = boxes.shape()[1], C = scores.shape()[1];
  const std::vector<double> bx = [&] {
    Tensor c = boxes.to(DType::Float64).contiguous();
    return std::vector<double>(c.data<double>(), c.data<double>() + c.numel());
  }();
  Tensor sc_t = scores.to(DType::Float64).contiguous();
  const double* sc = sc_t.data<double>();
  std::vector<int64_t> out;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t c = 0; c < C; ++c) {
      const double* s = sc + (b * C + c) * K;
      std::vector<int64_t> cand;
      for (int64_t i = 0; i < K; ++i)
        if (!has_score || s[i] > score_min) cand.push_back(i);
      // Highest score first; equal scores keep the lower box index first.
      std::stable_sort(cand.begin(), cand.end(), [&](int64_t x, int64_t y) { return s[x] > s[y]; });
      std::vector<int64_t> kept;
      for (int64_t i : cand) {
        if (static_cast<int64_t>(kept.size()) >= max_out) break;
        bool ok = true;
        for (int64_t j : kept)
          if (suppresses(&bx[(b * K + i) * 4], &bx[(b * K + j) * 4], cp == 1, iou)) {
            ok = false;
            break;
          }
        if (!ok) continue;
        kept.push_back(i);
        out.insert(out.end(), {b, c, i});
      }
    }
  }
  return one(from_ints(out).reshape({static_cast<int64_t>(out.size()) / 3, 3}));
}

}  // namespace

void register_index_ops(std::map<std::string, OpFn>& t) {
  t["Slice"] = slice_op;
  t["Pad"] = pad_op;
  t["Split"] = split_op;
  t["GatherElements"] = gather_elements;
  t["GatherND"] = gather_nd;
  t["ScatterND"] = scatter_nd;
  t["ScatterElements"] = scatter_elements;
  t["Scatter"] = scatter_elements;  // the pre-11 name, same semantics without reduction
  t["OneHot"] = one_hot;
  t["TopK"] = top_k;
  t["Compress"] = compress;
  t["ReverseSequence"] = reverse_sequence;
  t["Unique"] = unique_op;
  t["NonMaxSuppression"] = non_max_suppression;
  t["NonZero"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    Tensor nz = nonzero(x.dim() == 0 ? x.reshape({1}) : x);  // [count, rank]
    if (x.dim() == 0) nz = nz.narrow(1, 0, 0);
    return one(nz.t().contiguous());
  };
  t["Trilu"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    if (x.dim() < 2) n.error("input must have at least 2 dims, got shape ", x.shape());
    int64_t k = 0;
    if (auto kt = opt(in, 1)) k = one_int(n, *kt, "k");
    // Beyond the matrix the result is all kept or all zeroed; clamping keeps tril/triu in range.
    const int64_t lim = x.shape()[x.dim() - 1] + x.shape()[x.dim() - 2] + 1;
    k = std::clamp<int64_t>(k, -lim, lim);
    return one(n.i("upper", 1) != 0 ? triu(x, k) : tril(x, k));
  };
}

}  // namespace tessel::onnx
