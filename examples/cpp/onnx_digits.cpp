// Python-free deployment: runs the digits CNN exported to ONNX (examples/train_digits.py
// --onnx) with tessel's C++ ONNX runtime, linking only libtessel.
// Usage: onnx_digits model.onnx digits.safetensors
#include <cstdio>
#include <map>

#include <tessel/io.h>
#include <tessel/onnx.h>
#include <tessel/ops.h>

using namespace tessel;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s model.onnx digits.safetensors\n", argv[0]);
    return 2;
  }
  try {
    const onnx::Model model = onnx::Model::load(argv[1]);
    std::map<std::string, Tensor> data;
    for (auto& [name, t] : load_safetensors(argv[2])) data[name] = t;
    const Tensor &x = data.at("x_test"), &y = data.at("y_test");
    const auto& in = model.inputs().at(0);
    std::printf("%s: input '%s' %s, opset %lld, producer %s\n", argv[1], in.name.c_str(), in.onnx_type.c_str(),
                static_cast<long long>(model.opset()), model.producer_name().c_str());
    const Tensor logits = model.run({{in.name, x}}).at(0).second;
    const Tensor pred = argmax(logits, 1);
    std::printf("C++ (tessel ONNX runtime) predictions for 8 test images: [");
    for (int64_t i = 0; i < 8; ++i) std::printf("%s%lld", i ? ", " : "", static_cast<long long>(pred.select(0, i).item<int64_t>()));
    const double acc = sum(eq(pred, y)).item<double>() / static_cast<double>(y.numel());
    std::printf("]\ntest accuracy: %.2f%%\n", 100 * acc);
    return acc >= 0.97 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
