// Trains the CNN of examples/train_digits.py from C++: the same layers,
// optimizer, batch size and epochs, on the digits exported by
// examples/export_digits.py. Usage: train_digits digits.safetensors [model.safetensors [model.onnx]]
// The optional ONNX file is exported from C++ (tessel::onnx::export_model) with a dynamic batch.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

#include <tessel/io.h>
#include <tessel/nn/module.h>
#include <tessel/onnx.h>
#include <tessel/optim.h>
#include <tessel/tessel.h>

using namespace tessel;
namespace F = tessel::nn::functional;

std::shared_ptr<nn::Sequential> make_model() {
  F::ConvOptions pad1;
  pad1.padding = {1};
  auto m = std::make_shared<nn::Sequential>();
  m->add(std::make_shared<nn::Conv2d>(1, 16, 3, pad1)).add(std::make_shared<nn::BatchNorm2d>(16))
      .add(std::make_shared<nn::ReLU>());
  m->add(std::make_shared<nn::Conv2d>(16, 32, 3, pad1)).add(std::make_shared<nn::BatchNorm2d>(32))
      .add(std::make_shared<nn::ReLU>());
  m->add(std::make_shared<nn::MaxPool2d>(2)).add(std::make_shared<nn::Flatten>());
  m->add(std::make_shared<nn::Linear>(32 * 4 * 4, 64)).add(std::make_shared<nn::ReLU>())
      .add(std::make_shared<nn::Dropout>(0.2));
  m->add(std::make_shared<nn::Linear>(64, 10));
  return m;
}

double accuracy(nn::Module& model, const Tensor& x, const Tensor& y) {
  autograd::NoGradGuard no_grad;
  model.eval();
  const Tensor pred = argmax(model(x), 1);
  model.train();
  return sum(eq(pred, y)).item<double>() / static_cast<double>(y.numel());
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s digits.safetensors [model.safetensors [model.onnx]]\n", argv[0]);
    return 2;
  }
  try {
    std::map<std::string, Tensor> data;
    for (auto& [name, t] : load_safetensors(argv[1])) data[name] = t;
    const Tensor &x_train = data.at("x_train"), &y_train = data.at("y_train");
    const Tensor &x_test = data.at("x_test"), &y_test = data.at("y_test");
    const int64_t n = x_train.shape()[0], batch = 64, epochs = 20;
    std::printf("digits: %lld train / %lld test images, %d threads\n", static_cast<long long>(n),
                static_cast<long long>(x_test.shape()[0]), get_num_threads());

    manual_seed(0);
    auto model = make_model();
    const double lr = 3e-3;
    optim::Adam opt(model->parameters(), lr);
    const auto start = std::chrono::steady_clock::now();
    for (int64_t epoch = 0; epoch < epochs; ++epoch) {
      // Cosine decay of the learning rate, as CosineAnnealingLR in the Python version.
      opt.options().lr = 0.5 * lr * (1 + std::cos(M_PI * static_cast<double>(epoch) / static_cast<double>(epochs)));
      const Tensor order = randperm(n);
      double total = 0;
      for (int64_t i = 0; i < n; i += batch) {
        const Tensor idx = order.slice(0, i, std::min(i + batch, n));
        const Tensor xb = index_select(x_train, 0, idx), yb = index_select(y_train, 0, idx);
        const Tensor loss = F::cross_entropy((*model)(xb), yb);
        opt.zero_grad();
        loss.backward();
        opt.step();
        total += loss.item<double>() * static_cast<double>(idx.numel());
      }
      std::printf("epoch %2lld/%lld  loss %.4f  test accuracy %.2f%%\n", static_cast<long long>(epoch + 1),
                  static_cast<long long>(epochs), total / static_cast<double>(n), 100 * accuracy(*model, x_test, y_test));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double acc = accuracy(*model, x_test, y_test);
    std::printf("training: %.0f samples/s (%.1f s)\ntest accuracy: %.2f%%\n",
                static_cast<double>(epochs * n) / seconds, seconds, 100 * acc);
    if (argc > 2) {
      save_safetensors(argv[2], model->state_dict());
      std::printf("saved %s\n", argv[2]);
    }
    if (argc > 3) {
      onnx::ExportOptions o;
      o.input_names = {"image"};
      o.output_names = {"logits"};
      o.dynamic_axes = {{"image", {{0, "batch"}}}, {"logits", {{0, "batch"}}}};
      onnx::export_model(*model, x_test.slice(0, 0, 1), argv[3], o);
      std::printf("exported %s (ONNX, from C++)\n", argv[3]);
    }
    return acc >= 0.97 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
