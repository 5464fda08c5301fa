#include "tessel/trace.h"
#include "tessel/tensor.h"

#include <algorithm>
#include <numeric>
#include <ostream>

#include "src/autograd/rules.h"
#include "src/core/shape_util.h"
#include "src/ops/elementwise_util.h"
#include "tessel/ops.h"

namespace tessel {

int64_t shape_numel(const Shape& sizes) {
  int64_t n = 1;
  bool overflow = false;
  for (int64_t s : sizes) overflow |= __builtin_mul_overflow(n, s, &n);
  if (overflow) {
    for (int64_t s : sizes)
      if (s == 0) return 0;
    fail<ValueError>("shape", "the number of elements of shape ", sizes, " overflows int64");
  }
  return n;
}

Shape contiguous_strides(const Shape& sizes) {
  Shape st(sizes.size());
  int64_t acc = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<int64_t>(sizes[i], 1);
  }
  return st;
}

Tensor make_tensor(Storage storage, Shape sizes, Shape strides, int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->numel = shape_numel(sizes);
  impl->sizes = std::move(sizes);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim("size", d, dim())]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim("stride", d, dim())]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    const int64_t s = impl_->sizes[i];
    if (s == 1) continue;
    if (s == 0) return true;
    if (impl_->strides[i] != expected) return false;
    expected *= s;
  }
  return true;
}

namespace {
// A view of t's elements; the view methods below record their own rules.
Tensor make_view(const Tensor& t, const Shape& sizes, const Shape& strides, int64_t offset) {
  Tensor v = make_tensor(t.storage(), sizes, strides, offset, t.dtype());
  v.impl()->is_view = true;
  return v;
}

namespace rules = autograd::rules;

// Hands a view to its derivative rule when its input needs grad.
template <class R>
Tensor with_grad(const Tensor& in, Tensor out, R&& rule) {
  if (autograd::needs_grad(in)) rule(out);
  return out;
}
}  // namespace

Tensor Tensor::as_strided(const Shape& sizes, const Shape& strides, int64_t offset) const {
  if (trace::Op t{"as_strided"})
    return t.in(*this).attr("sizes", sizes).attr("strides", strides).attr("offset", offset - this->offset())
        .out(as_strided(sizes, strides, offset));
  // The view must stay inside the storage (a public entry point: nothing else would check).
  TS_CHECK(sizes.size() == strides.size(), ValueError, "as_strided", "got ", sizes.size(), " sizes and ",
           strides.size(), " strides");
  int64_t first = offset, last = offset;  // negative strides (flip's) reach below the offset
  bool empty_view = false, overflow = false;
  for (size_t i = 0; i < sizes.size(); ++i) {
    TS_CHECK(sizes[i] >= 0, ValueError, "as_strided", "sizes must be >= 0, got ", sizes);
    empty_view = empty_view || sizes[i] == 0;
    int64_t reach = 0;
    if (sizes[i] > 0) {
      int64_t& end = strides[i] < 0 ? first : last;
      overflow = overflow || __builtin_mul_overflow(sizes[i] - 1, strides[i], &reach) ||
                 __builtin_add_overflow(end, reach, &end);
    }
  }
  TS_CHECK(!overflow || empty_view, ValueError, "as_strided", "sizes ", sizes, " and strides ", strides,
           " overflow 64-bit element offsets");
  const int64_t avail = storage() ? static_cast<int64_t>(storage()->nbytes() / tessel::itemsize(dtype())) : 0;
  TS_CHECK(empty_view || (first >= 0 && last < avail), ValueError, "as_strided", "sizes ", sizes, " and strides ",
           strides, " at storage offset ", offset, " reach elements ", first, "..", last, ", outside the storage's ",
           avail, " elements");
  Tensor out = make_view(*this, sizes, strides, offset);
  if (!autograd::needs_grad(*this)) return out;
  TS_CHECK(is_contiguous(), NotImplementedError, "as_strided",
           "the gradient of as_strided needs a contiguous input; call contiguous() first");
  // Positions relative to this tensor's first element, so the rule can replay it on any contiguous tensor.
  const int64_t rel = offset - this->offset();
  rules::view("AsStridedBackward", *this, out,
              [sizes, strides, rel](const Tensor& x) { return x.as_strided(sizes, strides, x.offset() + rel); },
              /*may_overlap=*/true);
  return out;
}

Tensor Tensor::alias() const {
  return with_grad(*this, make_view(*this, shape(), strides(), offset()),
                   [&](const Tensor& out) { rules::reshape("AliasBackward", *this, out); });
}

namespace {
Shape infer_shape(const char* op, const Shape& shape, int64_t numel) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      TS_CHECK(infer < 0, ValueError, op, "only one dimension can be inferred in shape ", shape);
      infer = static_cast<int64_t>(i);
    } else {
      TS_CHECK(out[i] >= 0, ValueError, op, "invalid shape dimension ", out[i], " in ", shape);
      known *= out[i];
    }
  }
  if (infer >= 0) {
    TS_CHECK(known != 0 && numel % known == 0, ValueError, op, "shape ", shape, " is invalid for input of size ",
             numel);
    out[infer] = numel / known;
  } else {
    TS_CHECK(known == numel, ValueError, op, "shape ", shape, " is invalid for input of size ", numel);
  }
  return out;
}

// Strides that view `sizes` with the same memory as (old_sizes, old_strides),
// or an empty result when no such strides exist (then reshape must copy).
bool view_strides(const Shape& old_sizes, const Shape& old_strides, const Shape& sizes, Shape& out) {
  out.assign(sizes.size(), 0);
  if (shape_numel(sizes) == 0 || old_sizes.empty()) {  // empty, or a 0-d tensor (sizes are then all 1)
    out = contiguous_strides(sizes);
    return true;
  }
  // Walk chunks of old dims that are contiguous among themselves and match
  // them with runs of new dims of the same element count.
  int64_t view_d = static_cast<int64_t>(sizes.size()) - 1;
  int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_sizes.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_sizes[d];
    if (d == 0 || (old_sizes[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || sizes[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= sizes[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}
}  // namespace

Tensor Tensor::view(DType d) const {
  if (d == dtype()) return *this;
  TS_CHECK(tessel::itemsize(d) == tessel::itemsize(dtype()), ValueError, "view", "cannot view ", dtype(), " (", tessel::itemsize(dtype()),
           " bytes) as ", d, " (", tessel::itemsize(d), " bytes): the dtypes must have one size");
  TS_CHECK(!requires_grad(), ValueError, "view", "a tensor that requires grad cannot be viewed as another dtype");
  Tensor v = make_tensor(storage(), shape(), strides(), offset(), d);
  v.impl()->is_view = true;
  return v;
}

Tensor Tensor::view(const Shape& shape) const {
  if (trace::Op t{"reshape"}) return t.in(*this).out(view(shape));
  const Shape sizes = infer_shape("view", shape, numel());
  Shape st;
  TS_CHECK(view_strides(this->shape(), strides(), sizes, st), ValueError, "view", "cannot view a tensor of shape ",
           this->shape(), " and strides ", strides(), " as ", sizes, "; use reshape (which copies when needed)");
  return with_grad(*this, make_view(*this, sizes, st, offset()),
                   [&](const Tensor& out) { rules::reshape("ViewBackward", *this, out); });
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (trace::Op t{"reshape"}) return t.in(*this).out(reshape(shape));
  const Shape sizes = infer_shape("reshape", shape, numel());
  Shape st;
  if (view_strides(this->shape(), strides(), sizes, st)) {
    return with_grad(*this, make_view(*this, sizes, st, offset()),
                     [&](const Tensor& out) { rules::reshape("ReshapeBackward", *this, out); });
  }
  return contiguous().view(sizes);
}

Tensor Tensor::permute(const Shape& dims) const {
  if (trace::Op t{"permute"}) return t.in(*this).attr("dims", dims).out(permute(dims));
  const int64_t n = dim();
  TS_CHECK(static_cast<int64_t>(dims.size()) == n, ValueError, "permute", "got ", dims.size(), " dims ", dims,
           " for a tensor with ", n, " dims");
  Shape sizes(n), st(n);
  std::vector<bool> seen(n, false);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t d = wrap_dim("permute", dims[i], n);
    TS_CHECK(!seen[d], ValueError, "permute", "repeated dim in ", dims);
    seen[d] = true;
    sizes[i] = shape()[d];
    st[i] = strides()[d];
  }
  return with_grad(*this, make_view(*this, sizes, st, offset()),
                   [&](const Tensor& out) { rules::permute(*this, dims, out); });
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  if (trace::Op t{"transpose"}) return t.in(*this).attr("dims", Shape{d0, d1}).out(transpose(d0, d1));
  if (dim() == 0) {
    wrap_dim("transpose", d0, 0);
    wrap_dim("transpose", d1, 0);
    return alias();
  }
  d0 = wrap_dim("transpose", d0, dim());
  d1 = wrap_dim("transpose", d1, dim());
  Shape sizes = shape(), st = strides();
  std::swap(sizes[d0], sizes[d1]);
  std::swap(st[d0], st[d1]);
  return with_grad(*this, make_view(*this, sizes, st, offset()), [&](const Tensor& out) {
    Shape perm(static_cast<size_t>(dim()));
    for (int64_t i = 0; i < dim(); ++i) perm[i] = i;
    std::swap(perm[d0], perm[d1]);
    rules::permute(*this, perm, out);
  });
}

Tensor Tensor::t() const {
  TS_CHECK(dim() <= 2, ValueError, "t", "expects a tensor with <= 2 dims, got ", dim(), " (shape ", shape(),
           "); use mT or transpose");
  return dim() < 2 ? alias() : transpose(0, 1);
}

Tensor Tensor::mT() const {
  TS_CHECK(dim() >= 2, ValueError, "mT", "expects a tensor with >= 2 dims, got shape ", shape());
  return transpose(-2, -1);
}

Tensor Tensor::squeeze() const {
  if (trace::Op t{"reshape"}) return t.in(*this).out(squeeze());
  Shape sizes, st;
  for (int64_t i = 0; i < dim(); ++i) {
    if (shape()[i] != 1) {
      sizes.push_back(shape()[i]);
      st.push_back(strides()[i]);
    }
  }
  return with_grad(*this, make_view(*this, sizes, st, offset()),
                   [&](const Tensor& out) { rules::reshape("SqueezeBackward", *this, out); });
}

Tensor Tensor::squeeze(int64_t d) const {
  if (trace::Op t{"reshape"}) return t.in(*this).out(squeeze(d));
  if (dim() == 0) {
    wrap_dim("squeeze", d, 0);
    return alias();
  }
  d = wrap_dim("squeeze", d, dim());
  if (shape()[d] != 1) return alias();
  Shape sizes = shape(), st = strides();
  sizes.erase(sizes.begin() + d);
  st.erase(st.begin() + d);
  return with_grad(*this, make_view(*this, sizes, st, offset()),
                   [&](const Tensor& out) { rules::reshape("SqueezeBackward", *this, out); });
}

Tensor Tensor::unsqueeze(int64_t d) const {
  if (trace::Op t{"reshape"}) return t.in(*this).out(unsqueeze(d));
  d = wrap_dim("unsqueeze", d, dim() + 1);
  Shape sizes = shape(), st = strides();
  const int64_t s = d < dim() ? shape()[d] * strides()[d] : 1;
  sizes.insert(sizes.begin() + d, 1);
  st.insert(st.begin() + d, s);
  return with_grad(*this, make_view(*this, sizes, st, offset()),
                   [&](const Tensor& out) { rules::reshape("UnsqueezeBackward", *this, out); });
}

Tensor Tensor::expand(const Shape& target) const {
  if (trace::Op t{"expand"}) return t.in(*this).out(expand(target));
  const int64_t n = static_cast<int64_t>(target.size());
  TS_CHECK(n >= dim(), ValueError, "expand", "the target shape ", target, " has fewer dims than the tensor's ",
           shape());
  Shape sizes(n), st(n);
  for (int64_t i = n - 1; i >= 0; --i) {
    const int64_t j = i - (n - dim());
    const int64_t want = target[i];
    if (j >= 0) {
      const int64_t have = shape()[j];
      if (want == -1 || want == have) {
        sizes[i] = have;
        st[i] = strides()[j];
      } else {
        TS_CHECK(have == 1 && want >= 0, ValueError, "expand", "cannot expand shape ", shape(), " to ", target,
                 ": size ", have, " at dim ", j, " must be 1 or ", want);
        sizes[i] = want;
        st[i] = 0;
      }
    } else {
      TS_CHECK(want >= 0, ValueError, "expand", "-1 is not allowed for a new leading dim in ", target);
      sizes[i] = want;
      st[i] = 0;
    }
  }
  return with_grad(*this, make_view(*this, sizes, st, offset()),
                   [&](const Tensor& out) { rules::expand(*this, out); });
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (trace::Op t{"reshape"}) return t.in(*this).out(flatten(start, end));
  if (dim() == 0) return reshape({1});
  start = wrap_dim("flatten", start, dim());
  end = wrap_dim("flatten", end, dim());
  TS_CHECK(start <= end, ValueError, "flatten", "start_dim ", start, " is after end_dim ", end);
  Shape sizes(shape().begin(), shape().begin() + start);
  int64_t m = 1;
  for (int64_t i = start; i <= end; ++i) m *= shape()[i];
  sizes.push_back(m);
  sizes.insert(sizes.end(), shape().begin() + end + 1, shape().end());
  return reshape(sizes);
}

Tensor Tensor::unflatten(int64_t d, const Shape& parts) const {
  d = wrap_dim("unflatten", d, dim());
  TS_CHECK(!parts.empty(), ValueError, "unflatten", "sizes must be non-empty");
  const Shape inferred = infer_shape("unflatten", parts, shape()[d]);
  Shape sizes(shape().begin(), shape().begin() + d);
  sizes.insert(sizes.end(), inferred.begin(), inferred.end());
  sizes.insert(sizes.end(), shape().begin() + d + 1, shape().end());
  return view(sizes);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t stop, int64_t step) const {
  if (trace::Op t{"slice"}) return t.in(*this).attr("dim", d).attr("start", start).attr("stop", stop).attr("step", step).out(slice(d, start, stop, step));
  TS_CHECK(dim() > 0, IndexError, "slice", "cannot slice a 0-d tensor");
  d = wrap_dim("slice", d, dim());
  TS_CHECK(step > 0, ValueError, "slice", "step must be positive, got ", step);
  const int64_t n = shape()[d];
  // Python's clamping rules for out-of-range bounds.
  if (start < 0) start = std::max<int64_t>(start + n, 0);
  if (stop < 0) stop = std::max<int64_t>(stop + n, 0);
  start = std::min(start, n);
  stop = std::min(stop, n);
  const int64_t len = stop > start ? (stop - start + step - 1) / step : 0;
  Shape sizes = shape(), st = strides();
  sizes[d] = len;
  st[d] *= step;
  return with_grad(*this, make_view(*this, sizes, st, offset() + start * strides()[d]), [&](const Tensor& out) {
    rules::view("SliceBackward", *this, out, [=](const Tensor& x) { return x.slice(d, start, stop, step); });
  });
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  if (trace::Op t{"select"}) return t.in(*this).attr("dim", d).attr("index", index).out(select(d, index));
  TS_CHECK(dim() > 0, IndexError, "select", "cannot index a 0-d tensor");
  d = wrap_dim("select", d, dim());
  const int64_t n = shape()[d];
  TS_CHECK(index >= -n && index < n, IndexError, "select", "index ", index, " is out of bounds for dim ", d,
           " with size ", n);
  if (index < 0) index += n;
  Shape sizes = shape(), st = strides();
  sizes.erase(sizes.begin() + d);
  st.erase(st.begin() + d);
  return with_grad(*this, make_view(*this, sizes, st, offset() + index * strides()[d]), [&](const Tensor& out) {
    rules::view("SelectBackward", *this, out, [=](const Tensor& x) { return x.select(d, index); });
  });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  TS_CHECK(dim() > 0, IndexError, "narrow", "cannot narrow a 0-d tensor");
  d = wrap_dim("narrow", d, dim());
  const int64_t n = shape()[d];
  if (start < 0) start += n;
  TS_CHECK(start >= 0 && start <= n && length >= 0 && length <= n - start, IndexError, "narrow", "start ", start, " + length ",
           length, " exceeds dim ", d, " of size ", n);
  return slice(d, start, start + length, 1);
}

Tensor Tensor::diagonal(int64_t off, int64_t d0, int64_t d1) const {
  if (trace::Op t{"diagonal"})
    return t.in(*this).attr("offset", off).attr("dim1", d0).attr("dim2", d1).out(diagonal(off, d0, d1));
  TS_CHECK(dim() >= 2, ValueError, "diagonal", "expects >= 2 dims, got shape ", shape());
  d0 = wrap_dim("diagonal", d0, dim());
  d1 = wrap_dim("diagonal", d1, dim());
  TS_CHECK(d0 != d1, ValueError, "diagonal", "dim1 and dim2 must differ, both are ", d0);
  int64_t len, start = offset();
  if (off >= 0) {
    len = std::max<int64_t>(std::min(shape()[d0], shape()[d1] - off), 0);
    if (len > 0) start += off * strides()[d1];
  } else {
    len = std::max<int64_t>(std::min(shape()[d0] + off, shape()[d1]), 0);
    if (len > 0) start -= off * strides()[d0];
  }
  Shape sizes, st;
  for (int64_t i = 0; i < dim(); ++i) {
    if (i == d0 || i == d1) continue;
    sizes.push_back(shape()[i]);
    st.push_back(strides()[i]);
  }
  sizes.push_back(len);
  st.push_back(strides()[d0] + strides()[d1]);
  return with_grad(*this, make_view(*this, sizes, st, start), [&](const Tensor& out) {
    rules::view("DiagonalBackward", *this, out, [=](const Tensor& x) { return x.diagonal(off, d0, d1); });
  });
}

Tensor Tensor::unfold(int64_t d, int64_t size, int64_t step) const {
  if (trace::Op t{"unfold"})
    return t.in(*this).attr("dim", d).attr("size", size).attr("step", step).out(unfold(d, size, step));
  const int64_t n = dim() == 0 ? 1 : shape()[wrap_dim("unfold", d, dim())];
  if (dim() > 0) d = wrap_dim("unfold", d, dim());
  TS_CHECK(size >= 0 && size <= n, ValueError, "unfold", "size ", size, " exceeds dim ", d, " of size ", n);
  TS_CHECK(step > 0, ValueError, "unfold", "step must be positive, got ", step);
  Shape sizes = shape(), st = strides();
  const int64_t s = dim() == 0 ? 1 : strides()[d];
  if (dim() == 0) {
    sizes = {size};
    st = {1};
  } else {
    sizes[d] = (n - size) / step + 1;
    st[d] = s * step;
    sizes.push_back(size);
    st.push_back(s);
  }
  return with_grad(*this, make_view(*this, sizes, st, offset()), [&](const Tensor& out) {
    rules::view("UnfoldBackward", *this, out, [=](const Tensor& x) { return x.unfold(d, size, step); },
                /*may_overlap=*/step < size);
  });
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  if (trace::Op t{"identity"}) return t.in(*this).out(clone());
  return autograd::recorded(
      autograd::needs_grad(*this),
      [&] {
        Tensor out = empty(shape(), TensorOptions(dtype(), device()));
        out.copy_(*this);
        return out;
      },
      [&](const Tensor& out) { rules::copy("CloneBackward", *this, out); });
}

// A permuted dense tensor (a transpose) keeps its layout, as PyTorch's .to() does:
// the cast then runs in memory order instead of transposing (x.t().to(float32)).
Tensor Tensor::to(DType d) const {
  if (d != dtype()) if (trace::Op t{"cast"}) return t.in(*this).out(to(d));
  if (d == dtype()) return *this;
  return autograd::recorded(
      autograd::needs_grad(*this),
      [&] {
        Tensor out = detail::empty_same_layout(*this, TensorOptions(d, device()));
        out.copy_(*this);
        return out;
      },
      [&](const Tensor& out) { rules::copy("ToCopyBackward", *this, out); });
}

std::ostream& operator<<(std::ostream& os, const Shape& s) {
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  return os << "]";
}

}  // namespace tessel
