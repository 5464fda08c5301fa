// Reductions: sum mean amax amin max min.
#include <algorithm>

#include "src/core/shape_util.h"
#include "tessel/kernel.h"
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel {

namespace {

struct ReduceShape {
  Shape keep;     // reduced dims set to 1
  Shape squeezed; // reduced dims removed
  int64_t count = 1;  // elements per output
};

ReduceShape reduce_shape(const char* op, const Tensor& a, const Shape& dims) {
  ReduceShape r;
  const int64_t nd = a.dim();
  std::vector<bool> red(static_cast<size_t>(std::max<int64_t>(nd, 1)), dims.empty());
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(op, d, nd);
    TS_CHECK(!red[w], ValueError, op, "dim ", w, " appears multiple times in the list of dims ", dims);
    red[w] = true;
  }
  for (int64_t d = 0; d < nd; ++d) {
    if (red[d]) {
      r.keep.push_back(1);
      r.count *= a.shape()[d];
    } else {
      r.keep.push_back(a.shape()[d]);
      r.squeezed.push_back(a.shape()[d]);
    }
  }
  return r;
}

Tensor finish(const Tensor& out, const ReduceShape& r, bool keepdim) {
  return keepdim ? out : out.view(r.squeezed);
}

Tensor extreme(const char* name, OpId id, const Tensor& a, const Shape& dims, bool keepdim) {
  TS_CHECK(!is_complex(a.dtype()), TypeError, name, "not supported for complex tensors");
  const ReduceShape r = reduce_shape(name, a, dims);
  TS_CHECK(r.count > 0, ValueError, name, "cannot reduce over an empty dimension (input shape ", a.shape(), ")");
  Tensor out = empty(r.keep, TensorOptions(a.dtype(), a.device()));
  if (out.numel() > 0) dispatch(id, a.dtype(), {&a, 1}, {&out, 1});
  return finish(out, r, keepdim);
}

std::tuple<Tensor, Tensor> extreme_dim(const char* name, OpId id, const Tensor& a, int64_t dim, bool keepdim) {
  TS_CHECK(!is_complex(a.dtype()), TypeError, name, "not supported for complex tensors");
  const int64_t d = wrap_dim(name, dim, a.dim());
  if (a.dim() == 0) {
    return {a.alias(), zeros({}, TensorOptions(DType::Int64, a.device()))};
  }
  TS_CHECK(a.shape()[d] > 0, ValueError, name, "cannot reduce over dim ", d, " of size 0 (input shape ", a.shape(),
           ")");
  const ReduceShape r = reduce_shape(name, a, {d});
  Tensor outs[2] = {empty(r.keep, TensorOptions(a.dtype(), a.device())),
                    empty(r.keep, TensorOptions(DType::Int64, a.device()))};
  const ReduceDimParams p{d};
  dispatch(id, a.dtype(), {&a, 1}, outs, &p);
  return {finish(outs[0], r, keepdim), finish(outs[1], r, keepdim)};
}

}  // namespace

Tensor sum(const Tensor& a, const Shape& dims, bool keepdim, std::optional<DType> dtype) {
  const Tensor x = dtype ? a.to(*dtype) : a;
  const ReduceShape r = reduce_shape("sum", x, dims);
  const DType out_dt = is_integral(x.dtype(), true) ? DType::Int64 : x.dtype();
  Tensor out = empty(r.keep, TensorOptions(out_dt, x.device()));
  if (x.numel() == 0) out.fill_(Scalar(0));
  else dispatch(op::sum, x.dtype(), {&x, 1}, {&out, 1});
  return finish(out, r, keepdim);
}

Tensor mean(const Tensor& a, const Shape& dims, bool keepdim, std::optional<DType> dtype) {
  const DType dt = dtype ? *dtype : a.dtype();
  TS_CHECK(is_floating(dt) || is_complex(dt), TypeError, "mean",
           "could not infer output dtype: input dtype must be floating or complex, got ", dt,
           " (pass dtype=float32 to average integers)");
  const ReduceShape r = reduce_shape("mean", a, dims);
  Tensor s = sum(a, dims, keepdim, dt);
  // 0 / 0 gives NaN for an empty reduction, as in NumPy and PyTorch.
  div_(s, Scalar(static_cast<double>(r.count)));
  return s;
}

Tensor amax(const Tensor& a, const Shape& dims, bool keepdim) { return extreme("amax", op::amax, a, dims, keepdim); }
Tensor amin(const Tensor& a, const Shape& dims, bool keepdim) { return extreme("amin", op::amin, a, dims, keepdim); }
Tensor max(const Tensor& a) { return extreme("max", op::amax, a, {}, false); }
Tensor min(const Tensor& a) { return extreme("min", op::amin, a, {}, false); }
std::tuple<Tensor, Tensor> max(const Tensor& a, int64_t dim, bool keepdim) {
  return extreme_dim("max", op::max_dim, a, dim, keepdim);
}
std::tuple<Tensor, Tensor> min(const Tensor& a, int64_t dim, bool keepdim) {
  return extreme_dim("min", op::min_dim, a, dim, keepdim);
}

}  // namespace tessel
