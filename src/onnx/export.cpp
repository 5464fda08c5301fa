// ONNX export: run the function under an op-level trace (tessel/trace.h), in eval
// and no-grad mode, then turn each recorded call into ONNX nodes (export_ops.cpp).
// Dynamic axes: the function is traced a second time with those axes grown; sizes
// that differ between the two traces are computed at run time (Shape -> Gather)
// instead of being baked in.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "src/onnx/export_internal.h"
#include "tessel/autograd.h"
#include "tessel/fft.h"
#include "tessel/nn/module.h"

namespace tessel::onnx {
namespace exporter {

int onnx_type(DType d) {
  if (const int t = onnx_elem_type(d)) return t;
  throw TypeError(detail::cat("[onnx.export] dtype ", d, " has no ONNX element type"));
}

void fill_tensor(::onnx::TensorProto* p, const Tensor& t, const std::string& name) {
  p->set_name(name);
  const bool cplx = is_complex(t.dtype());
  p->set_data_type(onnx_type(cplx ? to_real(t.dtype()) : t.dtype()));
  for (int64_t s : t.shape()) p->add_dims(s);
  if (cplx) p->add_dims(2);
  const Tensor c = (cplx ? view_as_real(t) : t).contiguous();
  if (packed_bits(c.dtype()) < 8)  // int4, float4, int2: two or four to a byte
    p->set_raw_data(pack_elements(c.dtype(), static_cast<const uint8_t*>(c.data_ptr()), c.numel()));
  else
    p->set_raw_data(static_cast<const char*>(c.data_ptr()), c.nbytes());  // little-endian, as ONNX's raw_data
}

const Tensor& Site::input(size_t k) const {
  if (!has_input(k)) unsupported(detail::cat("input ", k, " is missing"));
  return *a.inputs[k];
}

std::pair<int64_t, int64_t> Site::int_pair(const std::string& name) const {
  const int64_t va = a.i(name);
  return {va, b ? b->i(name) : va};
}

void Site::unsupported(const std::string& why) const {
  throw NotImplementedError(detail::cat("[onnx.export] op '", a.op, "': ", why));
}

std::string Builder::fresh(const std::string& hint) {
  return detail::cat(hint.empty() ? "v" : hint, "_", counter_++);
}

::onnx::NodeProto* Builder::node(const std::string& op, const std::vector<std::string>& inputs,
                                 const std::vector<std::string>& outputs) {
  auto* n = g_->add_node();
  n->set_op_type(op);
  n->set_name(detail::cat(op, "_", g_->node_size() - 1));
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return n;
}

std::string Builder::op(const std::string& op, const std::vector<std::string>& inputs, const std::string& hint) {
  std::string out = fresh(hint.empty() ? op : hint);
  node(op, inputs, {out});
  return out;
}

std::string Builder::const_tensor(const Tensor& t, const std::string& hint) {
  std::string name = fresh(hint.empty() ? "const" : hint);
  fill_tensor(g_->add_initializer(), t, name);
  return name;
}

std::string Builder::const_ints(const std::vector<int64_t>& v) {
  Tensor t = empty({static_cast<int64_t>(v.size())}, TensorOptions(DType::Int64));
  if (!v.empty()) std::memcpy(t.data_ptr(), v.data(), v.size() * sizeof(int64_t));
  return const_tensor(t, "ints");
}

std::string Builder::const_int(int64_t v) { return const_tensor(scalar_tensor(Scalar(v), DType::Int64), "int"); }

std::string Builder::const_scalar(double v, DType dtype) {
  return const_tensor(scalar_tensor(Scalar(v), TensorOptions(dtype)), "scalar");
}

std::string Builder::cast(const std::string& v, DType from, DType to) {
  if (from == to) return v;
  auto* n = node("Cast", {v}, {fresh("cast")});
  attr(n, "to", static_cast<int64_t>(onnx_type(to)));
  return n->output(0);
}

std::string Builder::dim(int64_t a, int64_t b, const std::string& prefer) {
  auto find_in = [&](const std::string& v) -> std::string {
    auto it = shapes_.find(v);
    if (it == shapes_.end()) return "";
    const auto& [sa, sb] = it->second;
    for (size_t d = 0; d < sa.size() && d < sb.size(); ++d) {
      if (sa[d] != a || sb[d] != b) continue;
      auto key = std::make_pair(v, static_cast<int64_t>(d));
      auto c = dim_cache_.find(key);
      if (c != dim_cache_.end()) return c->second;
      auto sh = shape_cache_.find(v);
      std::string s = sh != shape_cache_.end() ? sh->second : (shape_cache_[v] = op("Shape", {v}, "shape"));
      std::string r = op("Gather", {s, const_ints({static_cast<int64_t>(d)})}, "dim");
      dim_cache_[key] = r;
      return r;
    }
    return "";
  };
  if (!prefer.empty())
    if (auto r = find_in(prefer); !r.empty()) return r;
  for (const auto& v : order_)
    if (auto r = find_in(v); !r.empty()) return r;
  // A product of two dynamic dims of the preferred value (a flatten of [B, T, C] into [B*T, C]).
  if (auto it = shapes_.find(prefer); it != shapes_.end()) {
    const auto& [sa, sb] = it->second;
    for (size_t i = 0; i < sa.size(); ++i)
      for (size_t j = i + 1; j < sa.size(); ++j)
        if (sa[i] * sa[j] == a && sb[i] * sb[j] == b && (sa[i] != sb[i] || sa[j] != sb[j]))
          return op("Mul", {dim(sa[i], sb[i], prefer), dim(sa[j], sb[j], prefer)}, "dim");
  }
  throw NotImplementedError(detail::cat("[onnx.export] a size that depends on a dynamic axis (", a, " in the traced run, ",
                                        b, " with the axis grown) is not a dim of any value the graph has; "
                                        "export with fixed shapes for this model"));
}

std::string Builder::shape(const Shape& sa, const Shape& sb, const std::string& prefer, bool minus_one) {
  std::vector<size_t> dyn;
  for (size_t d = 0; d < sa.size(); ++d)
    if (sa[d] != sb[d]) dyn.push_back(d);
  if (dyn.empty()) return const_ints(sa);
  if (dyn.size() == 1 && minus_one) {
    Shape s = sa;
    s[dyn[0]] = -1;
    return const_ints(s);
  }
  std::vector<std::string> parts;
  Shape run;
  for (size_t d = 0; d < sa.size(); ++d) {
    if (sa[d] == sb[d]) {
      run.push_back(sa[d]);
      continue;
    }
    if (!run.empty()) parts.push_back(const_ints(run));
    run.clear();
    parts.push_back(dim(sa[d], sb[d], prefer));
  }
  if (!run.empty()) parts.push_back(const_ints(run));
  auto* n = node("Concat", parts, {fresh("shape")});
  attr(n, "axis", int64_t{0});
  return n->output(0);
}

void Builder::attr(::onnx::NodeProto* n, const std::string& k, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(k);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(v);
}
void Builder::attr(::onnx::NodeProto* n, const std::string& k, double v) {
  auto* a = n->add_attribute();
  a->set_name(k);
  a->set_type(::onnx::AttributeProto::FLOAT);
  a->set_f(static_cast<float>(v));
}
void Builder::attr(::onnx::NodeProto* n, const std::string& k, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(k);
  a->set_type(::onnx::AttributeProto::STRING);
  a->set_s(v);
}
void Builder::attr(::onnx::NodeProto* n, const std::string& k, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(k);
  a->set_type(::onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void Builder::attr_tensor(::onnx::NodeProto* n, const std::string& k, const Tensor& v) {
  auto* a = n->add_attribute();
  a->set_name(k);
  a->set_type(::onnx::AttributeProto::TENSOR);
  fill_tensor(a->mutable_t(), v, "");
}

namespace {

int64_t ir_for_opset(int64_t opset) {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

// Grows each dynamic axis of the example inputs (by 1, 2, ... per axis name) by
// repeating leading entries, so values stay valid (token ids, indices).
std::vector<Tensor> grown(const std::vector<Tensor>& args, const std::vector<std::string>& names,
                          const std::map<std::string, std::map<int64_t, std::string>>& axes) {
  std::map<std::string, int64_t> growth;
  std::vector<Tensor> out = args;
  for (size_t k = 0; k < args.size(); ++k) {
    auto it = axes.find(names[k]);
    if (it == axes.end()) continue;
    for (const auto& [d0, sym] : it->second) {
      const int64_t d = d0 < 0 ? d0 + out[k].dim() : d0;
      if (d < 0 || d >= out[k].dim())
        fail<ValueError>("onnx.export", "dynamic_axes: input '", names[k], "' has no dim ", d0, " (shape ",
                         args[k].shape(), ")");
      if (!growth.count(sym)) growth[sym] = static_cast<int64_t>(growth.size()) + 1;
      const int64_t g = growth[sym];
      const int64_t n = out[k].shape()[d];
      if (n == 0)
        fail<ValueError>("onnx.export", "dynamic_axes: input '", names[k], "' dim ", d,
                         " is empty in the example; give an example with at least one entry there");
      std::vector<Tensor> parts{out[k]};
      for (int64_t left = g; left > 0; left -= std::min(left, n)) parts.push_back(out[k].narrow(d, 0, std::min(left, n)));
      out[k] = cat(parts, d).contiguous();
    }
  }
  return out;
}

Shape pair_shape(Shape s, bool cplx) {  // a complex value's shape as (re, im) pairs
  if (cplx) s.push_back(2);
  return s;
}

trace::Trace run_traced(const TracedFn& fn, const std::vector<Tensor>& args, std::vector<Tensor>& outs) {
  autograd::NoGradGuard ng;
  trace::Recording rec;
  outs = fn(args);
  return rec.finish();
}

std::string untraced_op(const trace::Trace& t, const Tensor& v) {
  for (const auto& u : t.untraced)
    if (u.storage == v.storage().get()) return u.op;
  return "";
}

}  // namespace

std::string build(const TracedFn& fn, const std::vector<Tensor>& args, const NamedTensors& params,
                  const ExportOptions& o, const std::string& external_location) {
  if (o.opset < 13 || o.opset > 23)
    fail<ValueError>("onnx.export", "opset_version must be in 13..23, got ", o.opset);
  std::vector<std::string> in_names = o.input_names;
  if (in_names.size() > args.size())
    fail<ValueError>("onnx.export", "input_names has ", in_names.size(), " names for ", args.size(), " inputs");
  for (size_t k = in_names.size(); k < args.size(); ++k) in_names.push_back(detail::cat("input_", k));
  for (const auto& [name, dims] : o.dynamic_axes) {
    (void)dims;
    bool known = std::find(in_names.begin(), in_names.end(), name) != in_names.end() ||
                 std::find(o.output_names.begin(), o.output_names.end(), name) != o.output_names.end();
    if (!known) fail<ValueError>("onnx.export", "dynamic_axes names '", name, "', which is neither an input nor an output name");
  }
  for (size_t k = 0; k < args.size(); ++k)
    if (!args[k].defined()) fail<ValueError>("onnx.export", "input ", k, " is undefined");

  std::vector<Tensor> outs_a, outs_b;
  trace::Trace ta = run_traced(fn, args, outs_a);
  bool dynamic = false;
  for (const auto& [name, dims] : o.dynamic_axes)
    if (std::find(in_names.begin(), in_names.end(), name) != in_names.end() && !dims.empty()) dynamic = true;
  trace::Trace tb;
  std::vector<Tensor> args_b;
  if (dynamic) {
    args_b = grown(args, in_names, o.dynamic_axes);
    tb = run_traced(fn, args_b, outs_b);
    bool same = tb.calls.size() == ta.calls.size() && outs_b.size() == outs_a.size();
    for (size_t k = 0; same && k < ta.calls.size(); ++k) same = ta.calls[k].op == tb.calls[k].op;
    if (!same)
      fail<NotImplementedError>("onnx.export", "the function runs different ops when a dynamic axis changes size "
                                "(control flow on shapes); export it with fixed shapes");
  }

  ::onnx::ModelProto model;
  model.set_ir_version(ir_for_opset(o.opset));
  model.set_producer_name(o.producer_name);
  model.set_producer_version("0.1.0");
  auto* imp = model.add_opset_import();
  imp->set_domain("");
  imp->set_version(o.opset);
  auto* g = model.mutable_graph();
  g->set_name(o.graph_name);
  Builder b(g, o.opset);

  // Value of each tensor (by TensorImpl) in trace A, and the same for trace B.
  std::map<const TensorImpl*, std::string> va, vb;
  std::map<const TensorImpl*, std::string> param_name;
  for (const auto& [name, t] : params)
    if (t.defined()) param_name.emplace(t.impl().get(), name);
  std::set<std::string> used_names;

  // Symbolic dim names: from dynamic_axes on inputs, by their sizes in both traces.
  std::map<std::pair<int64_t, int64_t>, std::string> sym_of;
  for (size_t k = 0; k < args.size(); ++k) {
    const std::string& name = in_names[k];
    if (!used_names.insert(name).second) fail<ValueError>("onnx.export", "input name '", name, "' is used twice");
    va[args[k].impl().get()] = name;
    if (dynamic) vb[args_b[k].impl().get()] = name;
    const Shape& sa = args[k].shape();
    const Shape sb = dynamic ? args_b[k].shape() : sa;
    const bool cplx = is_complex(args[k].dtype());  // given as (re, im) pairs
    b.define(name, pair_shape(sa, cplx), pair_shape(sb, cplx));
    if (cplx) b.mark_pair(name);
    auto* vi = g->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx_type(cplx ? to_real(args[k].dtype()) : args[k].dtype()));
    auto* shp = tt->mutable_shape();
    auto axes = o.dynamic_axes.find(name);
    for (size_t d = 0; d < sa.size(); ++d) {
      auto* dim = shp->add_dim();
      std::string sym;
      if (axes != o.dynamic_axes.end()) {
        for (const auto& [ax, s] : axes->second)
          if ((ax < 0 ? ax + static_cast<int64_t>(sa.size()) : ax) == static_cast<int64_t>(d)) sym = s;
      }
      if (sym.empty()) {
        dim->set_dim_value(sa[d]);
      } else {
        dim->set_dim_param(sym);
        sym_of.emplace(std::make_pair(sa[d], sb[d]), sym);
      }
    }
    if (cplx) shp->add_dim()->set_dim_value(2);
  }

  // Constants: parameters by their module path, other tensors as fresh initializers.
  std::map<const TensorImpl*, std::string> consts;
  // Values that depend on the graph inputs, and their storages: a tensor outside the
  // trace that shares one is a view made by an op the trace does not see.
  std::set<std::string> varying(in_names.begin(), in_names.end());
  std::set<const void*> varying_storage;
  for (const Tensor& a : args) varying_storage.insert(a.storage().get());
  auto constant = [&](const Tensor& t, const Tensor* tb_in, const trace::Call& call, size_t k) -> std::string {
    const std::string op = untraced_op(ta, t);
    if (!op.empty())
      fail<NotImplementedError>("onnx.export", "input ", k, " of '", call.op, "' (shape ", t.shape(),
                                ") was computed by op '", op,
                                "', which has no ONNX export mapping yet (it ran outside every traced op)");
    if (varying_storage.count(t.storage().get()))
      fail<NotImplementedError>("onnx.export", "input ", k, " of '", call.op, "' (shape ", t.shape(),
                                ") is a view of a value computed from the inputs, made by an op that export does "
                                "not trace (such as diagonal, unfold or as_strided); use another op or a copy");
    auto it = consts.find(t.impl().get());
    if (it != consts.end()) return it->second;
    if (tb_in && tb_in->shape() != t.shape())
      fail<NotImplementedError>("onnx.export", "input ", k, " of '", call.op,
                                "' depends on a dynamic axis but was not computed by a traced op");
    // A small constant whose value differs between the traces came from a Python
    // int such as x.shape[1] (sizes are not traced): baking it in would be wrong.
    if (tb_in && !tb_in->is_same(t) && t.numel() <= 64 && t.dtype() == tb_in->dtype() &&
        !all(eq(t, *tb_in)).item<bool>())
      fail<NotImplementedError>("onnx.export", "input ", k, " of '", call.op, "' is a constant computed from a ",
                                "dynamic size (e.g. a Python number from x.shape); use tensor ops on the value instead");
    std::string name;
    auto p = param_name.find(t.impl().get());
    if (p != param_name.end() && used_names.insert(p->second).second) {
      name = p->second;
      fill_tensor(g->add_initializer(), t, name);
    } else {
      name = b.const_tensor(t, "const");
    }
    const bool cplx = is_complex(t.dtype());
    b.define(name, pair_shape(t.shape(), cplx), pair_shape(t.shape(), cplx));
    if (cplx) b.mark_pair(name);
    consts[t.impl().get()] = name;
    return name;
  };

  const auto& table = emitters();
  // In-place writes. A value is stale when its storage was written after the value
  // was defined. A write into a view (the output of a traced view op, which shares
  // its input's storage) is written back into its base, and that base's base; a
  // stale view is recomputed from its base when read. A kernel that ran outside
  // every traced op and wrote into a value makes it stale for good.
  std::map<const void*, size_t> written;  // storage -> last call that wrote into it
  std::map<std::string, size_t> defined_at;  // value -> call that produced it (absent: inputs, constants)
  std::map<const void*, std::vector<const trace::Trace::Untraced*>> untraced_writes;
  for (const auto& u : ta.untraced) untraced_writes[u.storage].push_back(&u);
  struct ViewOf {
    Tensor base;                   // the view op's input
    size_t call, out;              // the view op and which of its outputs
    std::vector<std::string> in;   // the call's input names when it ran
  };
  std::map<const TensorImpl*, ViewOf> view_of;
  static const std::set<std::string> view_ops = {"slice",  "select",   "reshape", "permute",   "transpose",
                                                 "split",  "unbind",   "diagonal", "unfold", "as_strided"};
  auto born = [&](const std::string& name) -> int64_t {
    auto d = defined_at.find(name);
    return d == defined_at.end() ? -1 : static_cast<int64_t>(d->second);
  };
  auto emit_site = [&](size_t call, std::vector<std::string> in) {
    Site s{ta.calls[call], dynamic ? &tb.calls[call] : nullptr, std::move(in), {}};
    for (size_t k = 0; k < s.a.outputs.size(); ++k) s.out.push_back(b.fresh(s.a.op));
    table.at(s.a.op)(b, s);
    return s.out;
  };
  auto define_as = [&](const std::string& name, size_t call, size_t k, size_t at) {
    const Tensor& t = ta.calls[call].outputs[k];
    const bool cplx = is_complex(t.dtype());
    b.define(name, pair_shape(t.shape(), cplx),
             pair_shape(dynamic ? tb.calls[call].outputs[k].shape() : t.shape(), cplx));
    if (cplx) b.mark_pair(name);
    defined_at[name] = at;
  };
  // The current value of a traced tensor read by call `at` (`what` names it in errors).
  std::function<std::string(const Tensor&, size_t, const std::string&)> current =
      [&](const Tensor& t, size_t at, const std::string& what) -> std::string {
    const std::string name = va.at(t.impl().get());
    auto u = untraced_writes.find(t.storage().get());
    if (u != untraced_writes.end())
      for (const auto* w : u->second)
        if (static_cast<int64_t>(w->at) > born(name) && w->at <= at)
          fail<NotImplementedError>("onnx.export", what, " was updated in place by op '", w->op,
                                    "', which has no ONNX export mapping yet (it ran outside every traced op)");
    auto wr = written.find(t.storage().get());
    if (wr == written.end() || born(name) >= static_cast<int64_t>(wr->second)) return name;
    auto vo = view_of.find(t.impl().get());
    if (vo == view_of.end())
      fail<NotImplementedError>("onnx.export", what, " shares storage that was updated in place ('",
                                ta.calls[wr->second].op, "') through a view that export cannot write back; "
                                "use the out-of-place op");
    if (is_complex(t.dtype()))
      fail<NotImplementedError>("onnx.export", what, " is a view of a complex value written in place ('",
                                ta.calls[wr->second].op, "'): export carries complex values as pairs and does not "
                                "write through their views; use out-of-place ops");
    std::vector<std::string> in = vo->second.in;
    in[0] = current(vo->second.base, at, what);
    const std::string v = emit_site(vo->second.call, in)[vo->second.out];
    define_as(v, vo->second.call, vo->second.out, wr->second);
    if (varying.count(in[0])) varying.insert(v);
    va[t.impl().get()] = v;
    return v;
  };
  // After call c wrote `value` into tensor x: the bases of x, up the chain of views, get it too.
  auto write_back = [&](const Tensor& x, std::string value, size_t c) {
    const TensorImpl* cur = x.impl().get();
    if (view_of.count(cur) && is_complex(x.dtype()))
      fail<NotImplementedError>("onnx.export", "'", ta.calls[c].op, "' writes in place into a view of a complex "
                                "value: export carries complex values as pairs and does not write through their "
                                "views; use out-of-place ops");
    for (auto vo = view_of.find(cur); vo != view_of.end(); vo = view_of.find(cur)) {
      const ViewOf& link = vo->second;
      const std::string base = current(link.base, c, detail::cat("the base of a view written by '", ta.calls[c].op, "'"));
      const trace::Call& view = ta.calls[link.call];
      const Shape sa = link.base.shape(), sb = dynamic ? tb.calls[link.call].inputs[0]->shape() : sa;
      std::string nv;
      auto whole = [&](const trace::Call& v, const Shape& in) {  // x[:] covers its input
        const int64_t d = wrap(v.i("dim"), static_cast<int64_t>(in.size()));
        return v.i("start") == 0 && v.i("step") == 1 && v.i("stop") >= in[d];
      };
      if (view.op == "slice" && whole(view, sa) && (!dynamic || whole(tb.calls[link.call], sb))) {
        nv = value;
      } else if (view.op == "reshape") {  // row-major order both ways
        nv = b.op("Reshape", {value, b.shape(sa, sb, base, false)});
      } else if (view.op == "permute" || view.op == "transpose") {  // the inverse permutation
        const int64_t r = static_cast<int64_t>(sa.size());
        std::vector<int64_t> perm(r);
        for (int64_t i = 0; i < r; ++i) perm[i] = i;
        if (view.op == "permute") {
          const auto& dims = view.ints("dims");
          for (int64_t i = 0; i < r; ++i) perm[wrap(dims[i], r)] = i;
        } else if (r >= 2) {
          const auto& d = view.ints("dims");
          std::swap(perm[wrap(d[0], r)], perm[wrap(d[1], r)]);
        }
        auto* n = b.node("Transpose", {value}, {b.fresh("write_back")});
        Builder::attr(n, "perm", perm);
        nv = n->output(0);
      } else {  // the view's positions in the base (the view op applied to 0..n-1), then ScatterND
        std::vector<std::string> in = link.in;
        in[0] = iota(b, base, sa, sb);
        const std::string pos = emit_site(link.call, in)[link.out];
        nv = b.fresh("write_back");
        scatter_flat(b, base, pos, value, b.shape(sa, sb, base, false), nv);
      }
      if (nv != value) b.define(nv, sa, sb);
      defined_at[nv] = c;
      if (varying.count(value) || varying.count(base)) {
        varying.insert(nv);
        varying_storage.insert(link.base.storage().get());
      }
      va[link.base.impl().get()] = nv;
      cur = link.base.impl().get();
      value = nv;
    }
    written[x.storage().get()] = c;
  };
  for (size_t c = 0; c < ta.calls.size(); ++c) {
    const trace::Call& ca = ta.calls[c];
    const trace::Call* cb = dynamic ? &tb.calls[c] : nullptr;
    // In-place variants (relu_, add_) export as their op: the value is renamed.
    std::string opname = ca.op;
    if (opname.size() > 1 && opname.back() == '_') opname.pop_back();
    bool cplx = false;  // reads or gives complex values: the pairs' emitters
    for (const auto& t : ca.outputs) cplx = cplx || is_complex(t.dtype());
    for (const auto& t : ca.inputs) cplx = cplx || (t && is_complex(t->dtype()));
    auto em = table.find(opname);
    if (!cplx && em == table.end())
      fail<NotImplementedError>("onnx.export", "op '", ca.op, "' has no ONNX export mapping yet");
    if (cplx) {
      em = complex_emitters().find(opname);
      if (em == complex_emitters().end())
        fail<NotImplementedError>("onnx.export", "op '", ca.op, "' on complex values has no ONNX export mapping yet "
                                  "(complex values export as (re, im) pairs in a trailing dim of 2; the ops that take "
                                  "them are the FFTs, view_as_real, abs, conj, neg, add, sub, mul, div, sum, mean, "
                                  "cast, reshape, expand, permute, transpose, slice, select, flip and cat)");
    }
    Site site{ca, cb, {}, {}};
    for (size_t k = 0; k < ca.inputs.size(); ++k) {
      if (!ca.inputs[k]) {
        site.in.emplace_back();
        continue;
      }
      const Tensor& t = *ca.inputs[k];
      const Tensor* tbk = cb && k < cb->inputs.size() && cb->inputs[k] ? &*cb->inputs[k] : nullptr;
      if (!va.count(t.impl().get())) va[t.impl().get()] = constant(t, tbk, ca, k);  // a value from now on
      site.in.push_back(current(t, c, detail::cat("input ", k, " of '", ca.op, "'")));
    }
    for (size_t k = 0; k < ca.outputs.size(); ++k) site.out.push_back(b.fresh(ca.op));
    em->second(b, site);
    bool varies = false;
    for (const auto& n : site.in) varies = varies || varying.count(n);
    for (size_t k = 0; k < ca.outputs.size(); ++k) {
      const Tensor& t = ca.outputs[k];
      if (varies) {
        varying.insert(site.out[k]);
        varying_storage.insert(t.storage().get());
      }
      va[t.impl().get()] = site.out[k];
      if (cb) vb[cb->outputs[k].impl().get()] = site.out[k];
      define_as(site.out[k], c, k, c);
      if (!ca.inplace && view_ops.count(ca.op) && ca.inputs[0] && t.storage().get() == ca.inputs[0]->storage().get())
        view_of[t.impl().get()] = ViewOf{*ca.inputs[0], c, k, site.in};
    }
    if (ca.inplace && !ca.inputs.empty() && ca.inputs[0]) write_back(*ca.inputs[0], site.out[0], c);
  }

  // Graph outputs.
  std::vector<std::string> out_names = o.output_names;
  if (out_names.size() > outs_a.size())
    fail<ValueError>("onnx.export", "output_names has ", out_names.size(), " names for ", outs_a.size(), " outputs");
  for (size_t k = out_names.size(); k < outs_a.size(); ++k) out_names.push_back(detail::cat("output_", k));
  for (size_t k = 0; k < outs_a.size(); ++k) {
    const Tensor& t = outs_a[k];
    if (!t.defined()) fail<ValueError>("onnx.export", "output ", k, " is undefined");
    std::string src;
    if (va.count(t.impl().get())) {
      src = current(t, ta.calls.size(), detail::cat("output ", k));
    } else {
      trace::Call fake{"output", {}, {}, {}, false};
      src = constant(t, dynamic ? &outs_b[k] : nullptr, fake, k);
    }
    if (!used_names.insert(out_names[k]).second)
      fail<ValueError>("onnx.export", "output name '", out_names[k], "' is used twice");
    b.node("Identity", {src}, {out_names[k]});
    auto* vi = g->add_output();
    vi->set_name(out_names[k]);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    const bool cplx = is_complex(t.dtype());  // as (re, im) pairs
    tt->set_elem_type(onnx_type(cplx ? to_real(t.dtype()) : t.dtype()));
    auto* shp = tt->mutable_shape();
    const Shape& sa = t.shape();
    const Shape sb = dynamic ? outs_b[k].shape() : sa;
    auto axes = o.dynamic_axes.find(out_names[k]);
    for (size_t d = 0; d < sa.size(); ++d) {
      auto* dim = shp->add_dim();
      std::string sym;
      if (axes != o.dynamic_axes.end())
        for (const auto& [ax, s] : axes->second)
          if ((ax < 0 ? ax + static_cast<int64_t>(sa.size()) : ax) == static_cast<int64_t>(d)) sym = s;
      if (sym.empty() && sa[d] != sb[d]) {
        auto s = sym_of.find({sa[d], sb[d]});
        sym = s != sym_of.end() ? s->second : detail::cat(out_names[k], "_dim", d);
      }
      if (sym.empty()) dim->set_dim_value(sa[d]);
      else dim->set_dim_param(sym);
    }
    if (cplx) shp->add_dim()->set_dim_value(2);
  }

  // Initializers past the threshold go to one external file next to the model.
  size_t total = 0;
  for (const auto& init : g->initializer()) total += init.raw_data().size();
  const bool external = !external_location.empty() && (o.external_data || total > o.external_threshold);
  if (external) {
    std::string data;
    for (auto& init : *g->mutable_initializer()) {
      if (init.raw_data().size() < 1024) continue;
      while (data.size() % 64) data.push_back('\0');  // aligned, so the loader can map it
      const size_t off = data.size(), len = init.raw_data().size();
      data += init.raw_data();
      init.clear_raw_data();
      init.set_data_location(::onnx::TensorProto::EXTERNAL);
      auto add = [&](const char* k, const std::string& v) {
        auto* e = init.add_external_data();
        e->set_key(k);
        e->set_value(v);
      };
      add("location", std::filesystem::path(external_location).filename().string());
      add("offset", std::to_string(off));
      add("length", std::to_string(len));
    }
    std::ofstream f(external_location, std::ios::binary | std::ios::trunc);
    if (!f) fail<ValueError>("onnx.export", "cannot write ", external_location);
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!f) fail<ValueError>("onnx.export", "cannot write ", external_location);
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    fail<ValueError>("onnx.export", "the model is over protobuf's 2 GiB limit; pass external_data");
  return bytes;
}

}  // namespace exporter

std::string export_bytes(const TracedFn& fn, const std::vector<Tensor>& args, const NamedTensors& params,
                         const ExportOptions& opts) {
  if (opts.external_data) fail<ValueError>("onnx.export", "external_data needs a file path (use export_function)");
  return exporter::build(fn, args, params, opts, "");
}

void export_function(const TracedFn& fn, const std::vector<Tensor>& args, const NamedTensors& params,
                     const std::string& path, const ExportOptions& opts) {
  const std::string bytes = exporter::build(fn, args, params, opts, path + ".data");
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) fail<ValueError>("onnx.export", "cannot write ", path);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) fail<ValueError>("onnx.export", "cannot write ", path);
}

std::vector<std::string> import_ops() {
  std::set<std::string> out;  // tensor ops, ops on values (control flow, sequences, classifiers) and string ops
  auto add = [&](const auto& table) {
    for (const auto& [name, fn] : table)
      if (!name.starts_with(std::string(kFusedDomain) + ".")) out.insert(name);  // internal fused nodes: not ONNX ops
  };
  add(op_table());
  add(value_op_table());
  add(string_op_table());
  return {out.begin(), out.end()};
}
std::vector<std::string> export_ops() {
  std::set<std::string> out;  // on real values, and on complex ones (conj)
  for (const auto& [name, fn] : exporter::emitters())
    if (name != "dropout") out.insert(name);  // its emitter only explains why training-mode dropout cannot export
  for (const auto& [name, fn] : exporter::complex_emitters()) out.insert(name);
  return {out.begin(), out.end()};
}

namespace {
NamedTensors state_of(const nn::Module& m) {
  NamedTensors all = m.named_parameters();
  for (auto& nb : m.named_buffers()) all.push_back(nb);
  return all;
}
struct EvalScope {  // export records eval semantics and restores the mode after
  nn::Module& m;
  bool was;
  explicit EvalScope(nn::Module& mod) : m(mod), was(mod.is_training()) { m.eval(); }
  ~EvalScope() { m.train(was); }
};
}  // namespace

void export_model(nn::Module& module, const Tensor& example, const std::string& path, const ExportOptions& opts) {
  EvalScope ev(module);
  export_function([&](const std::vector<Tensor>& a) { return std::vector<Tensor>{module.forward(a.at(0))}; },
                  {example}, state_of(module), path, opts);
}

void export_model(nn::Module& module, const TracedFn& fn, const std::vector<Tensor>& args, const std::string& path,
                  const ExportOptions& opts) {
  EvalScope ev(module);
  export_function(fn, args, state_of(module), path, opts);
}

}  // namespace tessel::onnx
