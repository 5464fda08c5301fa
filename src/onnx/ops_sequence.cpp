// ONNX sequences and optionals: SequenceEmpty, SequenceConstruct,
// SequenceInsert, SequenceAt, SequenceErase, SequenceLength,
// ConcatFromSequence, SplitToSequence, SequenceMap (its body once per
// element), Optional, OptionalHasElement, OptionalGetElement, and Identity
// over any value. A sequence holds numeric tensors of one dtype or string
// tensors; strings are concatenated and split on their element positions, as
// the string shape ops do (ops_string.cpp).
#include <algorithm>

#include "src/onnx/internal.h"

namespace tessel::onnx {

const char* value_kind(const Value& v) {
  if (std::holds_alternative<Tensor>(v)) return "a tensor";
  if (std::holds_alternative<StringPtr>(v)) return "a string tensor";
  if (std::holds_alternative<SequencePtr>(v)) return "a sequence";
  if (std::holds_alternative<MapPtr>(v)) return "a map";
  return "an empty optional";
}

namespace {

const Value& value_in(const Node& n, const ValueInputs& in, size_t k, const char* what) {
  if (k >= in.size() || !in[k]) n.error(what, " (input ", k, ") is required but missing");
  return *in[k];
}

const Sequence& seq_in(const Node& n, const ValueInputs& in, size_t k) {
  const Value& v = value_in(n, in, k, "the sequence");
  const SequencePtr* s = std::get_if<SequencePtr>(&v);
  if (!s) n.error<TypeError>("input ", k, " must be a sequence, got ", value_kind(v));
  return **s;
}

Value seq_value(Sequence s) { return std::make_shared<const Sequence>(std::move(s)); }

// An empty sequence of the kind an element `v` (a tensor or string tensor) needs.
Sequence kind_of(const Node& n, const Value& v, const char* what) {
  Sequence s;
  if (auto* t = std::get_if<Tensor>(&v)) s.elem = t->dtype();
  else if (std::holds_alternative<StringPtr>(v)) s.strings = true;
  else n.error<TypeError>(what, " must be a tensor, got ", value_kind(v));
  return s;
}

// `v` may join sequence `s`: a tensor of its dtype, or strings for a string sequence.
void check_item(const Node& n, const Value& v, const Sequence& s, const char* what) {
  const Sequence k = kind_of(n, v, what);
  if (k.strings != s.strings || (!k.strings && k.elem != s.elem))
    n.error<TypeError>(what, " is ", k.strings ? std::string("a string tensor") : detail::cat("a ", k.elem, " tensor"),
                       " but the sequence holds ", s.strings ? std::string("strings") : detail::cat(s.elem, " tensors"));
}

// A position input (an int32 or int64 scalar) in [-size, size - 1] (or up to
// `size` where an insert may append) as a non-negative index.
int64_t position(const Node& n, const Tensor& p, int64_t size, bool insert) {
  if ((p.dtype() != DType::Int64 && p.dtype() != DType::Int32) || p.numel() != 1)
    n.error<TypeError>("position must be an int32 or int64 scalar, got ", p.dtype(), " of shape ", p.shape());
  const int64_t v = p.to(DType::Int64).reshape({}).item<int64_t>();
  const int64_t hi = insert ? size : size - 1;
  if (v < -size || v > hi)
    n.error<IndexError>("position ", v, " is out of range for a sequence of ", size, " (valid: [", -size, ", ", hi,
                        "])");
  return v < 0 ? v + size : v;
}

const Tensor* opt_tensor(const Node& n, const ValueInputs& in, size_t k, const char* what) {
  if (k >= in.size() || !in[k]) return nullptr;
  const Tensor* t = std::get_if<Tensor>(&*in[k]);
  if (!t) n.error<TypeError>(what, " (input ", k, ") must be a tensor, got ", value_kind(*in[k]));
  return t;
}

// A numeric function over tensors applied to string tensors through their
// element positions: strings in, strings out.
std::vector<Value> on_positions(const std::vector<Value>& items,
                                const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& f) {
  std::vector<const std::string*> pool;
  std::vector<Tensor> pos;
  for (const auto& v : items) {
    const StringTensor& s = *std::get<StringPtr>(v);
    pos.push_back(string_positions(s, static_cast<int64_t>(pool.size())));
    for (const auto& x : s.data) pool.push_back(&x);
  }
  std::vector<Value> out;
  for (const auto& t : f(pos)) out.push_back(string_value(pick_strings(pool, t)));
  return out;
}

std::vector<Value> sequence_empty(const Node& n, const ValueInputs&, const OpContext&) {
  Sequence s;
  const int64_t code = n.i("dtype", 1);  // float
  if (code == 8) {
    s.strings = true;
  } else {
    auto dt = dtype_from_onnx(code);
    if (!dt) n.error<NotImplementedError>("dtype ", code, " is not supported");
    s.elem = *dt;
  }
  return {seq_value(std::move(s))};
}

std::vector<Value> sequence_construct(const Node& n, const ValueInputs& in, const OpContext&) {
  if (in.empty()) n.error("needs at least one input");
  Sequence s = kind_of(n, value_in(n, in, 0, "input"), "input 0");
  for (size_t k = 0; k < in.size(); ++k) {
    const Value& v = value_in(n, in, k, "input");
    check_item(n, v, s, detail::cat("input ", k).c_str());
    s.items.push_back(v);
  }
  return {seq_value(std::move(s))};
}

std::vector<Value> sequence_insert(const Node& n, const ValueInputs& in, const OpContext&) {
  Sequence s = seq_in(n, in, 0);
  const Value& v = value_in(n, in, 1, "tensor");
  check_item(n, v, s, "the tensor");
  const auto size = static_cast<int64_t>(s.items.size());
  const Tensor* p = opt_tensor(n, in, 2, "position");
  const int64_t at = p ? position(n, *p, size, true) : size;
  s.items.insert(s.items.begin() + at, v);
  return {seq_value(std::move(s))};
}

std::vector<Value> sequence_at(const Node& n, const ValueInputs& in, const OpContext&) {
  const Sequence& s = seq_in(n, in, 0);
  const Tensor* p = opt_tensor(n, in, 1, "position");
  if (!p) n.error("position (input 1) is required but missing");
  return {s.items[static_cast<size_t>(position(n, *p, static_cast<int64_t>(s.items.size()), false))]};
}

std::vector<Value> sequence_erase(const Node& n, const ValueInputs& in, const OpContext&) {
  Sequence s = seq_in(n, in, 0);
  const auto size = static_cast<int64_t>(s.items.size());
  if (size == 0) n.error("cannot erase from an empty sequence");
  const Tensor* p = opt_tensor(n, in, 1, "position");
  const int64_t at = p ? position(n, *p, size, false) : size - 1;
  s.items.erase(s.items.begin() + at);
  return {seq_value(std::move(s))};
}

std::vector<Value> sequence_length(const Node& n, const ValueInputs& in, const OpContext&) {
  return {scalar_tensor(static_cast<int64_t>(seq_in(n, in, 0).items.size()), TensorOptions(DType::Int64))};
}

std::vector<Value> concat_from_sequence(const Node& n, const ValueInputs& in, const OpContext&) {
  const Sequence& s = seq_in(n, in, 0);
  if (!n.has("axis")) n.error("attribute 'axis' is required");
  const bool new_axis = n.i("new_axis", 0) != 0;
  if (s.items.empty()) n.error("cannot concatenate an empty sequence");
  auto join = [&](const std::vector<Tensor>& ts) -> std::vector<Tensor> {
    const int64_t r = ts[0].dim() + (new_axis ? 1 : 0);
    const int64_t axis = norm_axis(n, n.i("axis", 0), r, "axis");
    return {new_axis ? stack(ts, axis) : cat(ts, axis)};
  };
  if (s.strings) return on_positions(s.items, join);
  std::vector<Tensor> ts;
  for (const auto& v : s.items) ts.push_back(std::get<Tensor>(v));
  return {join(ts)[0]};
}

// SplitToSequence(input, split?): pieces of 1 along `axis` (squeezed unless
// keepdims), of `split` each (a scalar: the last piece may be shorter), or of
// the sizes a 1-D `split` lists (they must add up to the dim).
std::vector<Value> split_to_sequence(const Node& n, const ValueInputs& in, const OpContext&) {
  const Value& x = value_in(n, in, 0, "input");
  const Tensor* split = opt_tensor(n, in, 1, "split");
  const bool strings = std::holds_alternative<StringPtr>(x);
  if (!strings && !std::holds_alternative<Tensor>(x)) n.error<TypeError>("input must be a tensor, got ", value_kind(x));
  auto pieces = [&](const std::vector<Tensor>& xs) {
    const Tensor& t = xs[0];
    if (t.dim() == 0) n.error("input must have at least one dim, got a scalar");
    const int64_t axis = norm_axis(n, n.i("axis", 0), t.dim(), "axis");
    const int64_t len = t.shape()[axis];
    std::vector<int64_t> sizes;
    bool squeeze = false;
    if (!split) {
      sizes.assign(static_cast<size_t>(len), 1);
      squeeze = n.i("keepdims", 1) == 0;
    } else if (split->dim() == 0) {
      const int64_t c = int_values(n, split->reshape({1}), "split")[0];
      if (c <= 0) n.error("split must be positive, got ", c);
      for (int64_t at = 0; at < len; at += c) sizes.push_back(std::min(c, len - at));
    } else {
      if (split->dim() != 1) n.error("split must be a scalar or 1-D, got shape ", split->shape());
      sizes = int_values(n, *split, "split");
      int64_t total = 0;
      for (auto v : sizes) {
        if (v < 0) n.error("split sizes must be non-negative, got ", v);
        total += v;
      }
      if (total != len) n.error("split sizes add up to ", total, " but dim ", axis, " has ", len);
    }
    std::vector<Tensor> out;
    int64_t at = 0;
    for (auto sz : sizes) {
      Tensor p = t.narrow(axis, at, sz);
      out.push_back(squeeze ? p.squeeze(axis) : p);
      at += sz;
    }
    return out;
  };
  Sequence s;
  if (strings) {
    s.strings = true;
    s.items = on_positions({x}, pieces);
  } else {
    s.elem = std::get<Tensor>(x).dtype();
    for (auto& t : pieces({std::get<Tensor>(x)})) s.items.emplace_back(std::move(t));
  }
  return {seq_value(std::move(s))};
}

// SequenceMap(sequence, more...): the body runs once per element of the first
// input, taking element i of every sequence input and each tensor input
// whole; output j collects the body's output j of every run.
std::vector<Value> sequence_map(const Node& n, const ValueInputs& in, const OpContext& ctx) {
  const Graph& body = n.graph("body");
  const Sequence& first = seq_in(n, in, 0);
  const size_t len = first.items.size();
  if (body.inputs.size() != in.size())
    n.error("body takes ", body.inputs.size(), " inputs but the node has ", in.size());
  if (body.outputs.size() != n.outputs.size())
    n.error("body gives ", body.outputs.size(), " outputs but the node has ", n.outputs.size());
  for (size_t k = 1; k < in.size(); ++k) {
    const Value& v = value_in(n, in, k, "input");
    if (auto* s = std::get_if<SequencePtr>(&v); s && (*s)->items.size() != len)
      n.error("sequence input ", k, " has ", (*s)->items.size(), " elements but input 0 has ", len);
  }
  std::vector<Sequence> outs(body.outputs.size());
  for (size_t j = 0; j < outs.size(); ++j) {  // the kind of an empty result: the body's declared output
    outs[j].strings = body.outputs[j].is_string();
    outs[j].elem = body.outputs[j].dtype;
  }
  const Plan plan = make_plan(body);
  for (size_t i = 0; i < len; ++i) {
    std::vector<Value> args;
    for (size_t k = 0; k < in.size(); ++k) {
      const Value& v = *in[k];
      const SequencePtr* s = std::get_if<SequencePtr>(&v);
      args.push_back(s ? (*s)->items[i] : v);
    }
    std::vector<Value> res = run_subgraph(n, "body", body, plan, std::move(args), ctx);
    for (size_t j = 0; j < outs.size(); ++j) {
      const std::string what = detail::cat("body output ", j);
      if (i == 0) {
        const Sequence k = kind_of(n, res[j], what.c_str());
        outs[j].strings = k.strings, outs[j].elem = k.elem;
      }
      check_item(n, res[j], outs[j], what.c_str());
      outs[j].items.push_back(std::move(res[j]));
    }
  }
  std::vector<Value> result;
  for (auto& s : outs) result.push_back(seq_value(std::move(s)));
  return result;
}

// Optional(input?): the input itself, or (no input) an empty optional of `type`.
std::vector<Value> optional_op(const Node& n, const ValueInputs& in, const OpContext&) {
  if (!in.empty() && in[0]) return {*in[0]};
  if (!n.has("type")) n.error("an Optional without an input needs attribute 'type'");
  return {NoValue{}};
}

std::vector<Value> optional_has_element(const Node&, const ValueInputs& in, const OpContext&) {
  const bool has = !in.empty() && in[0] && !std::holds_alternative<NoValue>(*in[0]);
  return {scalar_tensor(has, TensorOptions(DType::Bool))};
}

std::vector<Value> optional_get_element(const Node& n, const ValueInputs& in, const OpContext&) {
  const Value& v = value_in(n, in, 0, "the optional");
  if (std::holds_alternative<NoValue>(v)) n.error("the optional input is empty");
  return {v};
}

std::vector<Value> identity(const Node& n, const ValueInputs& in, const OpContext&) {
  return {value_in(n, in, 0, "input")};
}

}  // namespace

void register_sequence_ops(std::map<std::string, ValueOpFn>& t) {
  t["SequenceEmpty"] = sequence_empty;
  t["SequenceConstruct"] = sequence_construct;
  t["SequenceInsert"] = sequence_insert;
  t["SequenceAt"] = sequence_at;
  t["SequenceErase"] = sequence_erase;
  t["SequenceLength"] = sequence_length;
  t["ConcatFromSequence"] = concat_from_sequence;
  t["SplitToSequence"] = split_to_sequence;
  t["SequenceMap"] = sequence_map;
  t["Optional"] = optional_op;
  t["OptionalHasElement"] = optional_has_element;
  t["OptionalGetElement"] = optional_get_element;
  t["Identity"] = identity;  // tensors, strings, sequences and optionals alike
}

}  // namespace tessel::onnx
