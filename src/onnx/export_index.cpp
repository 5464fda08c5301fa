// Emitters of the indexing ops and the in-place indexed writes (see
// docs/dev/decisions.md, "ONNX export of in-place writes"): gather, index
// select, advanced indexing, scatter, index_add/index_put, copy_/fill_ into
// views, topk/sort/unique. The rest are in export_ops.cpp and export_nn.cpp.
#include <climits>
#include <cstring>

#include "src/onnx/export_internal.h"

namespace tessel::onnx::exporter {
namespace {

void emit_gather(Builder& b, const Site& s) {
  auto* n = b.node("GatherElements", {s.in[0], s.in[1]}, {s.out[0]});
  Builder::attr(n, "axis", wrap(s.a.i("dim"), std::max<int64_t>(s.input(0).dim(), 1)));
}
void emit_index_select(Builder& b, const Site& s) {
  auto* n = b.node("Gather", {s.in[0], s.in[1]}, {s.out[0]});
  Builder::attr(n, "axis", wrap(s.a.i("dim"), std::max<int64_t>(s.input(0).dim(), 1)));
}
void emit_nonzero(Builder& b, const Site& s) {  // ONNX gives [rank, n]; tessel [n, rank]
  auto* t = b.node("Transpose", {b.op("NonZero", {s.in[0]})}, {s.out[0]});
  Builder::attr(t, "perm", std::vector<int64_t>{1, 0});
}
// x[..., idx, ...] after the basic indexing: index tensors for `dims` of the view.
// One index is a Gather; several go through GatherND with the indexed dims moved
// to the front (NumPy's rule puts the index dims in place when adjacent, else first).
void emit_advanced_index(Builder& b, const Site& s) {
  const auto& dims = s.a.ints("dims");
  const int64_t r = s.input(0).dim(), n = static_cast<int64_t>(dims.size());
  if (n == 1) {
    auto* g = b.node("Gather", {s.in[0], s.in[1]}, {s.out[0]});
    Builder::attr(g, "axis", dims[0]);
    return;
  }
  Shape bshape;
  for (int64_t k = 0; k < n; ++k) bshape = broadcast_shapes("onnx.export", bshape, s.input(1 + k).shape());
  bool adjacent = true;
  for (int64_t k = 1; k < n; ++k) adjacent = adjacent && dims[k] == dims[k - 1] + 1;
  std::vector<int64_t> perm(dims.begin(), dims.end()), rest;
  for (int64_t d = 0; d < r; ++d)
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) rest.push_back(d);
  perm.insert(perm.end(), rest.begin(), rest.end());
  auto* tv = b.node("Transpose", {s.in[0]}, {b.fresh("front")});
  Builder::attr(tv, "perm", perm);
  std::vector<std::string> cols;
  for (int64_t k = 0; k < n; ++k) {
    std::string idx = s.in[1 + k];
    if (s.input(1 + k).shape() != bshape) {
      if (s.b) s.unsupported("index tensors of different shapes with dynamic axes");
      idx = b.op("Expand", {idx, b.const_ints(bshape)});
    }
    cols.push_back(b.op("Unsqueeze", {idx, b.const_ints({-1})}));
  }
  auto* cat = b.node("Concat", cols, {b.fresh("nd_index")});
  Builder::attr(cat, "axis", int64_t{-1});
  const int64_t nb = static_cast<int64_t>(bshape.size());
  if (!adjacent || dims[0] == 0) {
    b.node("GatherND", {tv->output(0), cat->output(0)}, {s.out[0]});
    return;
  }
  // Adjacent at dims[0] > 0: [bshape, rest...] -> [rest before, bshape, rest after].
  std::string g = b.op("GatherND", {tv->output(0), cat->output(0)});
  std::vector<int64_t> back;
  const int64_t before = dims[0];
  for (int64_t k = 0; k < before; ++k) back.push_back(nb + k);
  for (int64_t k = 0; k < nb; ++k) back.push_back(k);
  for (int64_t k = nb + before; k < nb + static_cast<int64_t>(rest.size()); ++k) back.push_back(k);
  auto* t2 = b.node("Transpose", {g}, {s.out[0]});
  Builder::attr(t2, "perm", back);
}
void emit_scatter(Builder& b, const Site& s, bool add) {
  if (add && b.opset() < 16) s.unsupported("scatter_add needs opset 16 or later (ScatterElements' reduction)");
  std::string src = in_as(b, s, 2, s.out_dtype());
  const Shape &ia = s.input(1).shape(), &sa = s.input(2).shape();
  if (ia != sa) {  // tessel reads the leading index-shaped block of a larger src; ONNX wants them equal
    if (s.b && (s.b->inputs[1]->shape() != ia || s.b->inputs[2]->shape() != sa))
      s.unsupported("a src larger than the index with dynamic axes");
    std::vector<int64_t> zeros(ia.size(), 0), axes(ia.size());
    for (size_t d = 0; d < ia.size(); ++d) axes[d] = static_cast<int64_t>(d);
    src = b.op("Slice", {src, b.const_ints(zeros), b.const_ints(ia), b.const_ints(axes)});
  }
  auto* n = b.node("ScatterElements", {s.in[0], s.in[1], src}, {s.out[0]});
  Builder::attr(n, "axis", wrap(s.a.i("dim"), std::max<int64_t>(s.input(0).dim(), 1)));
  if (add) Builder::attr(n, "reduction", std::string("add"));
}
void emit_scatter_set(Builder& b, const Site& s) { emit_scatter(b, s, false); }
// index_add(t, dim, index, source, alpha): the 1-D index broadcast to source's
// shape along dim, then ScatterElements adding source * alpha.
void emit_index_add(Builder& b, const Site& s) {
  const Tensor& t = s.input(0);
  if (t.dim() == 0) s.unsupported("index_add of a 0-d tensor");
  if (b.opset() < 16) s.unsupported("index_add needs opset 16 or later (ScatterElements' reduction)");
  const int64_t r = t.dim(), d = wrap(s.a.i("dim"), r);
  std::vector<int64_t> along(static_cast<size_t>(r), 1);
  along[static_cast<size_t>(d)] = -1;
  const std::string idx = b.op("Expand", {b.op("Reshape", {s.in[1], b.const_ints(along)}), b.op("Shape", {s.in[2]})});
  std::string src = in_as(b, s, 2, s.out_dtype());
  if (s.input(3).item<double>() != 1.0) src = b.op("Mul", {src, in_as(b, s, 3, s.out_dtype())});
  auto* n = b.node("ScatterElements", {s.in[0], idx, src}, {s.out[0]});
  Builder::attr(n, "axis", d);
  Builder::attr(n, "reduction", std::string("add"));
}
}  // namespace

std::string iota(Builder& b, const std::string& x, const Shape& sa, const Shape& sb) {
  const std::string shape = b.shape(sa, sb, x, false);
  std::string v = b.op("Reshape", {b.op("Range", {b.const_int(0), b.op("Size", {x}), b.const_int(1)}), shape});
  b.define(v, sa, sb);
  return v;
}
// x with the elements at flat positions `pos` replaced by `value` (shaped like pos).
void scatter_flat(Builder& b, const std::string& x, const std::string& pos, const std::string& value,
                  const std::string& shape, const std::string& out) {
  const std::string idx = b.op("Unsqueeze", {b.op("Reshape", {pos, b.const_ints({-1})}), b.const_ints({1})});
  const std::string flat = b.op("ScatterND", {b.op("Reshape", {x, b.const_ints({-1})}), idx,
                                              b.op("Reshape", {value, b.const_ints({-1})})});
  b.node("Reshape", {flat, shape}, {out});
}

namespace {
// x[i0, i1, ...] = value (index tensors after the basic part; traced as
// index_put_(x, i0, i1, ..., value)): ScatterND at the positions the same
// advanced index picks out of 0..n-1, value trimmed, cast and broadcast to them.
void emit_index_put(Builder& b, const Site& s) {
  const Tensor& x = s.input(0);
  const size_t n = s.a.ints("dims").size();
  const Shape sa = x.shape(), sb = s.b ? s.b->inputs[0]->shape() : sa;
  const std::string shape = b.shape(sa, sb, s.in[0], false);
  Site g{s.a, s.b, std::vector<std::string>(s.in.begin(), s.in.begin() + static_cast<long>(n) + 1), {b.fresh("pos")}};
  g.in[0] = iota(b, s.in[0], sa, sb);
  emit_advanced_index(b, g);
  Shape bshape;
  for (size_t k = 0; k < n; ++k) bshape = broadcast_shapes("onnx.export", bshape, s.input(1 + k).shape());
  const int64_t rank = x.dim() - static_cast<int64_t>(n) + static_cast<int64_t>(bshape.size());
  const Tensor& value = s.input(1 + n);
  std::string v = in_as(b, s, 1 + n, s.out_dtype());
  if (value.dim() > rank) {  // leading size-1 dims beyond the result's rank are dropped
    std::vector<int64_t> lead;
    for (int64_t k = 0; k < value.dim() - rank; ++k) lead.push_back(k);
    v = b.op("Squeeze", {v, b.const_ints(lead)});
  }
  v = b.op("Expand", {v, b.op("Shape", {g.out[0]})});
  scatter_flat(b, s.in[0], g.out[0], v, shape, s.out[0]);
}
// copy_ (x[...] = v with ints and slices writes into a view): v cast and broadcast.
void emit_copy(Builder& b, const Site& s) {
  const std::string v = in_as(b, s, 1, s.out_dtype());
  const bool same = s.input(1).shape() == s.out_shape_a() && (!s.b || s.b->inputs[1]->shape() == s.out_shape_b());
  if (same) b.node("Identity", {v}, {s.out[0]});
  else b.node("Expand", {v, b.shape(s.out_shape_a(), s.out_shape_b(), s.in[0], false)}, {s.out[0]});
}
void emit_fill(Builder& b, const Site& s) {  // fill_(x, value): the 0-d value broadcast to x
  b.node("Expand", {s.in[1], b.shape(s.out_shape_a(), s.out_shape_b(), s.in[0], false)}, {s.out[0]});
}
void emit_constant(Builder& b, const Site& s) {  // a tensor made from a Python number
  const Tensor v = s.a.outputs[0].contiguous();
  if (s.b) {
    const Tensor w = s.b->outputs[0].contiguous();
    if (w.shape() != v.shape() || std::memcmp(v.data_ptr(), w.data_ptr(), v.nbytes()) != 0)
      s.unsupported("a constant computed from a dynamic size (e.g. a Python number from x.shape); "
                    "use tensor ops on the value instead");
  }
  auto* n = b.node("Constant", {}, {s.out[0]});
  Builder::attr_tensor(n, "value", v);
}
void emit_scatter_add(Builder& b, const Site& s) { emit_scatter(b, s, true); }
void topk_node(Builder& b, const Site& s, const std::string& k, int64_t dim, bool largest) {
  auto* n = b.node("TopK", {s.in[0], k}, {s.out[0], s.out[1]});
  Builder::attr(n, "axis", dim);
  Builder::attr(n, "largest", int64_t{largest});
  Builder::attr(n, "sorted", int64_t{1});
}
void emit_topk(Builder& b, const Site& s) {
  if (s.input(0).dim() == 0) s.unsupported("topk of a 0-d tensor");
  topk_node(b, s, b.const_ints({s.a.i("k")}), wrap(s.a.i("dim"), s.input(0).dim()), s.a.i("largest"));
}
void emit_sort(Builder& b, const Site& s) {  // a TopK of the whole dim
  if (s.input(0).dim() == 0) s.unsupported("sort of a 0-d tensor");
  const int64_t dim = wrap(s.a.i("dim"), s.input(0).dim());
  const int64_t na = s.input(0).shape()[dim], nb = s.b ? s.b->inputs[0]->shape()[dim] : na;
  std::string k = na == nb ? b.const_ints({na}) : b.dim(na, nb, s.in[0]);
  topk_node(b, s, k, dim, s.a.i("descending"));
}
// tessel's unique flattens and sorts: ONNX Unique without an axis, sorted; its
// inverse indices are 1-D, tessel's have the input's shape.
void emit_unique(Builder& b, const Site& s) {
  const std::string first = b.fresh("unique_first"), inverse = b.fresh("unique_inverse");
  auto* n = b.node("Unique", {s.in[0]}, {s.out[0], first, inverse, s.out[2]});
  Builder::attr(n, "sorted", int64_t{1});
  b.node("Reshape", {inverse, b.op("Shape", {s.in[0]})}, {s.out[1]});
}
// diagonal, unfold, as_strided: views whose elements are not a slice. The view
// applied to 0..n-1 at export gives the positions it reads: along the dims it
// touches, or over the whole flattened input for as_strided. Where a touched
// dim's size depends on a dynamic axis, the positions are computed in the graph
// (Range over the run's size) instead.
void emit_strided_view(Builder& b, const Site& s) {
  const Tensor& x = s.input(0);
  const Shape& sa = x.shape();
  const Shape& sb = s.b ? s.b->inputs[0]->shape() : sa;
  const int64_t r = x.dim();
  auto positions = [](const Shape& shape) {
    return arange(Scalar(int64_t{0}), Scalar(shape_numel(shape)), Scalar(int64_t{1}), DType::Int64).reshape(shape);
  };
  auto gather = [&](const std::string& v, const std::string& pos, int64_t axis, const std::string& out) {
    auto* n = b.node("Gather", {v, pos}, {out});
    Builder::attr(n, "axis", axis);
  };
  auto constant = [&](const Tensor& pos) { return b.const_tensor(pos.contiguous(), "positions"); };
  auto dynamic = [&](int64_t d) { return sa[d] != sb[d]; };
  // Dim d's size as a 1-D [1] int64 (from the run's shape when dynamic), and a [1] value as a 0-d one.
  auto size_of = [&](int64_t d) {
    return dynamic(d) ? b.op("Gather", {b.op("Shape", {s.in[0]}), b.const_ints({d})}, "dim") : b.const_ints({sa[d]});
  };
  auto scalar = [&](const std::string& v) { return b.op("Squeeze", {v, b.const_ints({0})}); };
  auto range = [&](const std::string& n) { return b.op("Range", {b.const_int(0), scalar(n), b.const_int(1)}); };
  if (s.a.op == "unfold" && r > 0) {  // Gather along dim d, then the window dim last
    const int64_t d = wrap(s.a.i("dim"), r), size = s.a.i("size"), step = s.a.i("step");
    std::string pos;
    if (!dynamic(d)) {
      pos = constant(positions({sa[d]}).unfold(0, size, step));  // [windows, size]
    } else {  // window w reads w * step + [0, size)
      const std::string n = b.op("Add", {b.op("Div", {b.op("Sub", {size_of(d), b.const_ints({size})}),
                                                      b.const_ints({step})}), b.const_ints({1})});
      const std::string starts = b.op("Unsqueeze", {b.op("Mul", {range(n), b.const_int(step)}), b.const_ints({1})});
      pos = b.op("Add", {starts, constant(positions({1, size}))}, "positions");
    }
    if (d == r - 1) return gather(s.in[0], pos, d, s.out[0]);
    const std::string g = b.fresh("windows");
    gather(s.in[0], pos, d, g);
    std::vector<int64_t> perm;
    for (int64_t i = 0; i <= r; ++i)
      if (i != d + 1) perm.push_back(i);
    perm.push_back(d + 1);
    auto* t = b.node("Transpose", {g}, {s.out[0]});
    Builder::attr(t, "perm", perm);
    return;
  }
  if (s.a.op == "diagonal") {  // dims d1, d2 moved last and flattened, then one Gather
    const int64_t d1 = wrap(s.a.i("dim1"), r), d2 = wrap(s.a.i("dim2"), r), o = s.a.i("offset");
    std::string pos;
    if (!dynamic(d1) && !dynamic(d2)) {
      pos = constant(positions({sa[d1], sa[d2]}).diagonal(o, 0, 1));  // [L] in the flattened pair
    } else {  // element i is (i + r0, i + c0): (i + r0) * n2 + i + c0, for i < min(n1 - r0, n2 - c0)
      const int64_t r0 = std::max<int64_t>(0, -o), c0 = std::max<int64_t>(0, o);
      const std::string n1 = size_of(d1), n2 = size_of(d2);
      const std::string len = b.op("Max", {b.op("Min", {b.op("Sub", {n1, b.const_ints({r0})}),
                                                        b.op("Sub", {n2, b.const_ints({c0})})}),
                                           b.const_ints({0})});
      const std::string i = range(len);
      pos = b.op("Add", {b.op("Mul", {b.op("Add", {i, b.const_int(r0)}), scalar(n2)}), b.op("Add", {i, b.const_int(c0)})},
                 "positions");
    }
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < r; ++i)
      if (i != d1 && i != d2) perm.push_back(i);
    perm.push_back(d1);
    perm.push_back(d2);
    auto* t = b.node("Transpose", {s.in[0]}, {b.fresh("diag_last")});
    Builder::attr(t, "perm", perm);
    std::vector<int64_t> shape(static_cast<size_t>(r - 2), 0);  // 0: keep that dim (dynamic ones too)
    shape.push_back(-1);
    return gather(b.op("Reshape", {t->output(0), b.const_ints(shape)}), pos, r - 2, s.out[0]);
  }
  Tensor pos;
  if (s.a.op == "unfold") {  // of a 0-d tensor
    pos = positions(sa).unfold(0, s.a.i("size"), s.a.i("step"));
  } else {
    // The positions are fixed numbers: fine over a dynamic input as long as the view itself is the
    // same in both traces (a fixed window of a longer input); the run's Gather checks its bounds.
    if (s.b && (s.a.ints("sizes") != s.b->ints("sizes") || s.a.ints("strides") != s.b->ints("strides") ||
                s.a.i("offset") != s.b->i("offset")))
      s.unsupported("as_strided whose sizes, strides or offset depend on a dynamic axis");
    if (s.b && !s.b->inputs[0]->is_contiguous())
      s.unsupported("as_strided of a non-contiguous tensor (its strides are the storage's)");
    if (!x.is_contiguous()) s.unsupported("as_strided of a non-contiguous tensor (its strides are the storage's)");
    try {  // positions' storage is exactly x's elements: as_strided's own bounds check is the one needed
      pos = positions(sa).as_strided(s.a.ints("sizes"), s.a.ints("strides"), s.a.i("offset"));
    } catch (const ValueError&) {
      s.unsupported("an as_strided view that reaches outside its input's elements (export sees values, not storage)");
    }
  }
  gather(b.op("Reshape", {s.in[0], b.const_ints({-1})}, "flat"), constant(pos), 0, s.out[0]);
}

// Affine quantization: QuantizeLinear / DequantizeLinear (round half to even, saturating,
// as tessel's kernels), float32 scales; per channel with `axis`. tessel applies the
// scale in double: a value within an ulp of a rounding tie may land one step apart.
std::string float32_scales(Builder& b, const Site& s, size_t k) { return in_as(b, s, k, DType::Float32); }
void emit_quantize(Builder& b, const Site& s) {
  const DType q = s.out_dtype();
  const std::string x = in_as(b, s, 0, DType::Float32);
  if (s.a.op == "quantize_per_tensor") {
    const std::string scale = b.const_scalar(s.a.f("scale"), DType::Float32);
    b.node("QuantizeLinear", {x, scale, b.const_scalar(double(s.a.i("zero_point")), q)}, {s.out[0]});
    return;
  }
  const int64_t axis = wrap(s.a.i("axis"), s.input(0).dim());
  auto* n = b.node("QuantizeLinear", {x, float32_scales(b, s, 1), in_as(b, s, 2, q)}, {s.out[0]});
  Builder::attr(n, "axis", axis);
}
void emit_dequantize(Builder& b, const Site& s) {
  const DType q = s.in_dtype(0), out = s.out_dtype();
  const bool per_tensor = s.a.op == "dequantize";
  if (q != DType::Int8 && q != DType::UInt8) {  // other integers: (q - zero_point) * scale, composed
    if (!per_tensor) s.unsupported("per-channel dequantization of a type other than int8/uint8");
    const std::string v = b.op("Sub", {in_as(b, s, 0, DType::Float64), b.const_scalar(double(s.a.i("zero_point")), DType::Float64)});
    const std::string r = b.op("Mul", {v, b.const_scalar(s.a.f("scale"), DType::Float64)});
    b.node("Identity", {b.cast(r, DType::Float64, out)}, {s.out[0]});
    return;
  }
  std::string r;
  if (per_tensor) {
    r = b.op("DequantizeLinear", {s.in[0], b.const_scalar(s.a.f("scale"), DType::Float32),
                                  b.const_scalar(double(s.a.i("zero_point")), q)});
  } else {
    auto* n = b.node("DequantizeLinear", {s.in[0], float32_scales(b, s, 1), in_as(b, s, 2, q)}, {b.fresh("dequant")});
    Builder::attr(n, "axis", wrap(s.a.i("axis"), s.input(0).dim()));
    r = n->output(0);
  }
  b.node("Identity", {b.cast(r, DType::Float32, out)}, {s.out[0]});
}

void emit_det(Builder& b, const Site& s) {
  if (is_complex(s.in_dtype(0))) s.unsupported("the determinant of complex matrices (ONNX Det is real)");
  b.node("Det", {s.in[0]}, {s.out[0]});
}
// unique(dim=): ONNX Unique along an axis sorts the slices lexicographically too.
void emit_unique_dim(Builder& b, const Site& s) {
  auto* n = b.node("Unique", {s.in[0]}, {s.out[0], b.fresh("unique_first"), s.out[1], s.out[2]});
  Builder::attr(n, "sorted", int64_t{1});
  Builder::attr(n, "axis", wrap(s.a.i("dim"), s.input(0).dim()));
}
// searchsorted counts the sorted elements below each value (at or below: right):
// values [..., M] against sorted [..., N] (or [N]) compare as [..., M, N], summed
// over N. O(M N) work where tessel's kernel is O(M log N): fine for the bucket
// edges it is used with.
void emit_searchsorted(Builder& b, const Site& s) {
  const DType dt = promote_types(s.in_dtype(0), s.in_dtype(1));
  if (is_complex(dt)) s.unsupported("searchsorted of complex values");
  std::string sorted = in_as(b, s, 0, dt), values = in_as(b, s, 1, dt);
  const bool zero_d = s.input(1).dim() == 0;
  if (zero_d) values = b.op("Reshape", {values, b.const_ints({1})});
  if (s.input(0).dim() > 1) sorted = b.op("Unsqueeze", {sorted, b.const_ints({-2})});  // [..., 1, N]
  const std::string v = b.op("Unsqueeze", {values, b.const_ints({-1})});                // [..., M, 1]
  const std::string below = b.op(s.a.i("right") ? "LessOrEqual" : "Less", {sorted, v});
  auto* cast = b.node("Cast", {below}, {b.fresh("below_i64")});
  Builder::attr(cast, "to", int64_t{::onnx::TensorProto::INT64});
  const std::string counted = cast->output(0);
  const std::string sum = zero_d ? b.fresh("count") : s.out[0];
  auto* n = b.node("ReduceSum", {counted, b.const_ints({-1})}, {sum});
  Builder::attr(n, "keepdims", int64_t{0});
  if (zero_d) b.node("Reshape", {sum, b.const_ints({})}, {s.out[0]});
}
}  // namespace

void add_index_emitters(std::map<std::string, Emitter>& t) {
  t.insert({
      {"gather", emit_gather}, {"index_select", emit_index_select}, {"nonzero", emit_nonzero},
      {"advanced_index", emit_advanced_index}, {"scatter", emit_scatter_set}, {"scatter_add", emit_scatter_add},
      {"index_add", emit_index_add}, {"index_put", emit_index_put}, {"copy", emit_copy}, {"fill", emit_fill},
      {"constant", emit_constant}, {"topk", emit_topk}, {"sort", emit_sort}, {"unique", emit_unique},
      {"unique_dim", emit_unique_dim}, {"det", emit_det},
      {"quantize_per_tensor", emit_quantize}, {"quantize_per_channel", emit_quantize}, {"dequantize", emit_dequantize},
      {"dequantize_per_channel", emit_dequantize}, {"diagonal", emit_strided_view},
      {"unfold", emit_strided_view}, {"as_strided", emit_strided_view},
      {"searchsorted", emit_searchsorted},
  });
}

}  // namespace tessel::onnx::exporter
