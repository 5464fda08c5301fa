// ONNX loss ops: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (class
// weights, ignore_index, none/sum/mean reductions, the optional log_prob output).
#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace {

bool is_float(DType d) {
  return d == DType::Float32 || d == DType::Float64 || d == DType::Float16 || d == DType::BFloat16;
}

// -x[n, target[n, d...], d...] * weight[target], reduced. `x` holds log-probabilities [N, C, d...].
Tensor nll(const Node& n, const Tensor& x, const Tensor& target, const Inputs& in) {
  if (!is_float(x.dtype())) n.error<TypeError>("input must be a floating tensor, got ", x.dtype());
  if (target.dtype() != DType::Int64 && target.dtype() != DType::Int32)
    n.error<TypeError>("target must be int32 or int64, got ", target.dtype());
  if (x.dim() < 2) n.error("input must be [N, C, d...], got shape ", x.shape());
  Shape want = x.shape();
  want.erase(want.begin() + 1);
  if (target.shape() != want) n.error("target ", target.shape(), " must be input's shape without the class dim, ", want);
  const int64_t C = x.shape()[1];
  const std::string reduction = n.s("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    n.error("reduction must be 'none', 'sum' or 'mean'");
  const DType cdt = x.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  Tensor t = target.to(DType::Int64);
  Tensor keep = n.has("ignore_index") ? ne(t, Scalar(n.i("ignore_index", 0))) : ones(t.shape(), DType::Bool);
  Tensor tc = where(keep, t, Scalar(int64_t(0)));
  if (tc.numel() > 0 && (min(tc).item<int64_t>() < 0 || max(tc).item<int64_t>() >= C))
    n.error<IndexError>("target values must lie in [0, ", C, ") (or equal ignore_index)");
  Tensor picked = gather(x.to(cdt), 1, tc.unsqueeze(1)).squeeze(1);
  Tensor w = keep.to(cdt);
  if (in.size() > 2 && in[2]) {  // class weights [C]
    const Tensor& weight = *in[2];
    if (weight.dtype() != x.dtype())
      n.error<TypeError>("weight has dtype ", weight.dtype(), " but input has ", x.dtype(), " (ONNX does not promote)");
    if (weight.dim() != 1 || weight.shape()[0] != C) n.error("weight must be [C] = [", C, "], got ", weight.shape());
    w = mul(w, index_select(weight.to(cdt), 0, tc.reshape({-1})).reshape(t.shape()));
  }
  Tensor loss = neg(mul(picked, w));
  if (reduction == "sum") loss = sum(loss);
  if (reduction == "mean") loss = div(sum(loss), sum(w));
  return loss.to(x.dtype());
}

}  // namespace

void register_loss_ops(std::map<std::string, OpFn>& t) {
  t["NegativeLogLikelihoodLoss"] = [](const Node& n, const Inputs& in, const OpContext&) {
    return std::vector<Tensor>{nll(n, input(n, in, 0), input(n, in, 1), in)};
  };
  t["SoftmaxCrossEntropyLoss"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    if (!is_float(x.dtype())) n.error<TypeError>("scores must be a floating tensor, got ", x.dtype());
    if (x.dim() < 2) n.error("scores must be [N, C, d...], got shape ", x.shape());
    const DType cdt = x.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
    Tensor log_prob = log_softmax(x.to(cdt), 1).to(x.dtype());
    return std::vector<Tensor>{nll(n, log_prob, input(n, in, 1), in), log_prob};
  };
}

}  // namespace tessel::onnx
