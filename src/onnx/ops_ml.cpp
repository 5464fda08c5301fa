// ONNX-ML domain (ai.onnx.ml) ops that scikit-learn exports (skl2onnx) use
// around plain tensor math.
#include "src/onnx/internal.h"

namespace tessel::onnx {

void register_ml_ops(std::map<std::string, OpFn>& t) {
  // 1 where X > threshold, else 0, in X's dtype.
  t["ai.onnx.ml.Binarizer"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    if (!is_floating(x.dtype()) && !is_integral(x.dtype()))
      n.error<TypeError>("X must be a number tensor, got ", x.dtype());
    return std::vector<Tensor>{gt(x, Scalar(n.f("threshold", 0.0))).to(x.dtype())};
  };
  // Picks entries of the last axis; a 1-D input gives [1, n] (as onnxruntime).
  t["ai.onnx.ml.ArrayFeatureExtractor"] = [](const Node& n, const Inputs& in, const OpContext&) {
    Tensor x = input(n, in, 0);
    const Tensor& idx = input(n, in, 1);
    if (idx.dtype() != DType::Int64) n.error<TypeError>("indices must be int64, got ", idx.dtype());
    if (x.dim() == 0) n.error("X must have at least 1 dim");
    if (x.dim() == 1) x = x.unsqueeze(0);
    const int64_t size = x.shape().back();
    Tensor flat = idx.reshape({-1});
    if (flat.numel() == 0) n.error("indices must not be empty");
    const int64_t lo = amin(flat).item<int64_t>(), hi = amax(flat).item<int64_t>();
    if (lo < 0 || hi >= size) n.error("index ", lo < 0 ? lo : hi, " is out of range for a last axis of size ", size);
    return std::vector<Tensor>{index_select(x, x.dim() - 1, flat)};
  };
}

}  // namespace tessel::onnx
