// ONNX control flow with subgraphs: If, Loop, Scan (opset 9+). Each runs its
// body through the shared executor (run_subgraph), which reads enclosing
// values through the node's scope.
#include <algorithm>

#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace {

const Tensor& tensor_in(const Node& n, const ValueInputs& in, size_t k, const char* what) {
  if (k >= in.size() || !in[k]) n.error(what, " (input ", k, ") is required but missing");
  const Tensor* t = std::get_if<Tensor>(&*in[k]);
  if (!t) n.error<TypeError>(what, " (input ", k, ") must be a tensor, got ", value_kind(*in[k]));
  return *t;
}

const Tensor& tensor_out(const Node& n, const std::vector<Value>& outs, size_t k, const char* what) {
  const Tensor* t = std::get_if<Tensor>(&outs[k]);
  if (!t) n.error<TypeError>("body output ", k, " (", what, ") must be a tensor, got ", value_kind(outs[k]));
  return *t;
}

// A one-element tensor read as a bool (If's cond, Loop's cond) or an int64 (Loop's M).
bool flag(const Node& n, const Tensor& t, const char* what) {
  if (t.dtype() != DType::Bool) n.error<TypeError>(what, " must be a bool tensor, got ", t.dtype());
  if (t.numel() != 1) n.error(what, " must have one element, got shape ", t.shape());
  return t.reshape({}).item<bool>();
}

// Stacks per-iteration outputs along `axis`; with no iterations the result has
// 0 along `axis` and the body's declared dims elsewhere (unknown dims are 0).
Tensor stack_outputs(const Node& n, const std::vector<Tensor>& parts, const ValueInfo& info, int64_t axis,
                     const char* what) {
  if (parts.empty()) {
    Shape shape;
    for (const auto& d : info.shape) shape.push_back(std::holds_alternative<int64_t>(d) ? std::get<int64_t>(d) : 0);
    const int64_t r = static_cast<int64_t>(shape.size()) + 1;
    if (axis < -r || axis >= r) n.error(what, " axis ", axis, " is out of range for rank ", r);
    if (axis < 0) axis += r;
    shape.insert(shape.begin() + axis, 0);
    return zeros(shape, TensorOptions(info.dtype));
  }
  for (const auto& p : parts)
    if (p.shape() != parts[0].shape() || p.dtype() != parts[0].dtype())
      n.error(what, " '", info.name, "' changes from ", parts[0].dtype(), " ", parts[0].shape(), " to ", p.dtype(), " ",
              p.shape(), " between iterations");
  const int64_t r = parts[0].dim() + 1;
  if (axis < -r || axis >= r) n.error(what, " axis ", axis, " is out of range for rank ", r);
  return stack(parts, axis < 0 ? axis + r : axis);
}

std::vector<Value> onnx_if(const Node& n, const ValueInputs& in, const OpContext& ctx) {
  const bool c = flag(n, tensor_in(n, in, 0, "cond"), "cond");
  const char* attr = c ? "then_branch" : "else_branch";
  const Graph& g = n.graph(attr);
  (void)n.graph(c ? "else_branch" : "then_branch");  // both branches are required
  if (!g.inputs.empty()) n.error("'", attr, "' must take no inputs, got ", g.inputs.size());
  if (g.outputs.size() != n.outputs.size())
    n.error("'", attr, "' has ", g.outputs.size(), " outputs but the node has ", n.outputs.size());
  return run_subgraph(n, attr, g, make_plan(g), {}, ctx);
}

// Loop(M?, cond?, v_initial...) -> (v_final..., scan_outputs...). The body maps
// (iteration_num, cond, v...) to (cond, v..., scan slices...). It runs while
// iteration_num < M (when M is given) and cond holds: as onnxruntime, the
// body's cond output is used even when no initial cond is given. Without M or
// cond the loop runs until the body's cond turns false, as the model says.
std::vector<Value> onnx_loop(const Node& n, const ValueInputs& in, const OpContext& ctx) {
  const Graph& body = n.graph("body");
  if (in.size() < 2) n.error("needs inputs M and cond (either may be empty), got ", in.size(), " inputs");
  const size_t N = in.size() - 2;
  if (body.inputs.size() != N + 2)
    n.error("body must take 2 + ", N, " inputs (iteration_num, cond, loop-carried), got ", body.inputs.size());
  if (body.outputs.size() < N + 1)
    n.error("body must return 1 + ", N, " outputs or more (cond, loop-carried, scan outputs), got ",
            body.outputs.size());
  const size_t K = body.outputs.size() - 1 - N;
  if (n.outputs.size() > N + K)
    n.error("has ", n.outputs.size(), " outputs but its body gives ", N, " loop-carried and ", K, " scan outputs");
  std::optional<int64_t> trips;
  if (in[0]) {
    const Tensor& m = tensor_in(n, in, 0, "M");
    if (m.dtype() != DType::Int64) n.error<TypeError>("M must be an int64 tensor, got ", m.dtype());
    if (m.numel() != 1) n.error("M must have one element, got shape ", m.shape());
    trips = m.reshape({}).item<int64_t>();
  }
  bool cond = in[1] ? flag(n, tensor_in(n, in, 1, "cond"), "cond") : true;
  std::vector<Value> carried;
  for (size_t k = 0; k < N; ++k) {
    if (!in[2 + k]) n.error("loop-carried input ", 2 + k, " is missing");
    carried.push_back(*in[2 + k]);
  }
  std::vector<std::vector<Tensor>> scans(K);
  const Plan plan = make_plan(body);
  for (int64_t i = 0; (!trips || i < *trips) && cond; ++i) {
    std::vector<Value> args{scalar_tensor(i, TensorOptions(DType::Int64)), scalar_tensor(cond, TensorOptions(DType::Bool))};
    for (auto& v : carried) args.push_back(std::move(v));
    std::vector<Value> outs = run_subgraph(n, "body", body, plan, std::move(args), ctx);
    cond = flag(n, tensor_out(n, outs, 0, "cond"), "the body's cond output");
    for (size_t k = 0; k < N; ++k) carried[k] = std::move(outs[1 + k]);
    for (size_t k = 0; k < K; ++k) scans[k].push_back(tensor_out(n, outs, 1 + N + k, "scan output"));
  }
  std::vector<Value> result(carried.begin(), carried.end());
  for (size_t k = 0; k < K; ++k)
    result.emplace_back(stack_outputs(n, scans[k], body.outputs[1 + N + k], 0, "scan output"));
  return result;
}

std::vector<int64_t> per_value(const Node& n, const char* attr, size_t count) {
  std::vector<int64_t> v = n.ints(attr, std::vector<int64_t>(count, 0));
  if (v.size() != count) n.error(attr, " must have ", count, " values, got ", v.size());
  return v;
}

// Scan(state..., scan_input...) -> (final_state..., scan_output...), opset 9+:
// the body maps (state..., one slice of each scan input) to (state..., slices).
std::vector<Value> onnx_scan(const Node& n, const ValueInputs& in, const OpContext& ctx) {
  if (ctx.opset < 9)
    n.error<NotImplementedError>("Scan of opset 8 (batched, with sequence_lens) is not supported; use opset 9+");
  const Graph& body = n.graph("body");
  const int64_t m = n.i("num_scan_inputs", -1);
  if (m < 1 || static_cast<size_t>(m) > in.size())
    n.error("num_scan_inputs must be in [1, ", in.size(), "] (the number of inputs), got ", m);
  const size_t M = static_cast<size_t>(m), N = in.size() - M;
  if (body.inputs.size() != N + M)
    n.error("body must take ", N, " state and ", M, " scan inputs, got ", body.inputs.size());
  if (body.outputs.size() < N) n.error("body must return the ", N, " states first, got ", body.outputs.size(), " outputs");
  const size_t K = body.outputs.size() - N;
  if (n.outputs.size() > N + K) n.error("has ", n.outputs.size(), " outputs but its body gives ", N + K);
  const auto in_axes = per_value(n, "scan_input_axes", M), in_dirs = per_value(n, "scan_input_directions", M);
  const auto out_axes = per_value(n, "scan_output_axes", K), out_dirs = per_value(n, "scan_output_directions", K);
  std::vector<Value> states;
  for (size_t k = 0; k < N; ++k) {
    if (!in[k]) n.error("state input ", k, " is missing");
    states.push_back(*in[k]);
  }
  std::vector<Tensor> xs;
  std::vector<int64_t> axes;
  int64_t len = -1;
  for (size_t j = 0; j < M; ++j) {
    const Tensor& x = tensor_in(n, in, N + j, "scan input");
    int64_t a = in_axes[j];
    if (a < -x.dim() || a >= x.dim())
      n.error("scan_input_axes[", j, "] = ", a, " is out of range for scan input ", N + j, " of shape ", x.shape());
    if (a < 0) a += x.dim();
    if (in_dirs[j] != 0 && in_dirs[j] != 1) n.error("scan_input_directions[", j, "] must be 0 or 1, got ", in_dirs[j]);
    if (len >= 0 && x.shape()[a] != len)
      n.error("scan inputs must have the same length along their scan axes: ", len, " and ", x.shape()[a]);
    len = x.shape()[a];
    xs.push_back(x);
    axes.push_back(a);
  }
  for (size_t k = 0; k < K; ++k)
    if (out_dirs[k] != 0 && out_dirs[k] != 1) n.error("scan_output_directions[", k, "] must be 0 or 1, got ", out_dirs[k]);
  std::vector<std::vector<Tensor>> scans(K);
  const Plan plan = make_plan(body);
  for (int64_t t = 0; t < len; ++t) {
    std::vector<Value> args;
    for (auto& s : states) args.push_back(std::move(s));
    for (size_t j = 0; j < M; ++j) args.emplace_back(xs[j].select(axes[j], in_dirs[j] ? len - 1 - t : t));
    std::vector<Value> outs = run_subgraph(n, "body", body, plan, std::move(args), ctx);
    for (size_t k = 0; k < N; ++k) states[k] = std::move(outs[k]);
    for (size_t k = 0; k < K; ++k) scans[k].push_back(tensor_out(n, outs, N + k, "scan output"));
  }
  std::vector<Value> result(states.begin(), states.end());
  for (size_t k = 0; k < K; ++k) {
    // A reverse scan output is stacked last-iteration first.
    if (out_dirs[k]) std::reverse(scans[k].begin(), scans[k].end());
    result.emplace_back(stack_outputs(n, scans[k], body.outputs[N + k], out_axes[k], "scan_output_axes"));
  }
  return result;
}

}  // namespace

void register_control_ops(std::map<std::string, ValueOpFn>& t) {
  t["If"] = onnx_if;
  t["Loop"] = onnx_loop;
  t["Scan"] = onnx_scan;
}

}  // namespace tessel::onnx
