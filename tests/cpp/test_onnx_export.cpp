// ONNX export from C++: a module and a plain function exported with the public
// API (no protobuf types), then loaded back with tessel::onnx::Model and compared
// with eager results, including a batch size other than the traced one.
#include <gtest/gtest.h>
#include <tessel/onnx.h>
#include <tessel/tessel.h>

#include <atomic>
#include <filesystem>
#include <thread>

using namespace tessel;

namespace {

std::shared_ptr<nn::Sequential> cnn() {
  nn::functional::ConvOptions pad1;
  pad1.padding = {1};
  auto m = std::make_shared<nn::Sequential>();
  m->add(std::make_shared<nn::Conv2d>(1, 4, 3, pad1)).add(std::make_shared<nn::BatchNorm2d>(4));
  m->add(std::make_shared<nn::ReLU>()).add(std::make_shared<nn::MaxPool2d>(2));
  m->add(std::make_shared<nn::Flatten>()).add(std::make_shared<nn::Linear>(4 * 3 * 3, 5));
  m->add(std::make_shared<nn::Dropout>(0.5));
  return m;
}

void expect_close(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_LT(amax(abs(sub(a, b))).item<double>(), 1e-5);
}

}  // namespace

TEST(OnnxExport, ModuleRoundTripWithDynamicBatch) {
  manual_seed(0);
  auto m = cnn();
  m->train();  // export switches to eval and restores training
  const auto path = (std::filesystem::temp_directory_path() / "tessel_export_test.onnx").string();
  onnx::ExportOptions o;
  o.input_names = {"x"};
  o.dynamic_axes = {{"x", {{0, "batch"}}}};
  onnx::export_model(*m, randn({2, 1, 6, 6}), path, o);
  EXPECT_TRUE(m->is_training());

  const onnx::Model loaded = onnx::Model::load(path);
  ASSERT_EQ(loaded.inputs().size(), 1u);
  EXPECT_EQ(std::get<std::string>(loaded.inputs()[0].shape[0]), "batch");
  m->eval();
  for (int64_t batch : {2, 7}) {
    const Tensor x = randn({batch, 1, 6, 6});
    autograd::NoGradGuard ng;
    expect_close(loaded.run({{"x", x}}).at(0).second, m->forward(x));
  }
  std::filesystem::remove(path);
}

TEST(OnnxExport, FunctionToBytesAndErrors) {
  const Tensor w = randn({3, 3});
  auto fn = [&](const std::vector<Tensor>& a) {
    return std::vector<Tensor>{softmax(add(matmul(a[0], w), Scalar(1.0)), -1), sum(relu(a[0]), {1})};
  };
  const std::string bytes = onnx::export_bytes(fn, {randn({4, 3})}, {{"w", w}});
  const onnx::Model m = onnx::Model::load_bytes(bytes);
  ASSERT_EQ(m.outputs().size(), 2u);
  const Tensor x = randn({4, 3});
  auto got = m.run({{"input_0", x}});
  auto want = fn({x});
  expect_close(got[0].second, want[0]);
  expect_close(got[1].second, want[1]);

  // An op without an ONNX mapping is named in the error.
  auto bad = [](const std::vector<Tensor>& a) { return std::vector<Tensor>{linalg::qr(a[0]).first * 2.0}; };
  try {
    onnx::export_bytes(bad, {randn({3, 3})}, {});
    FAIL() << "expected an error";
  } catch (const NotImplementedError& e) {
    EXPECT_NE(std::string(e.what()).find("linalg_qr"), std::string::npos) << e.what();
  }
}

// In-place indexed writes from C++ (index_put_, scatter_, masked_fill_, index_add_)
// export as ScatterND / ScatterElements / Where and round-trip through the importer.
TEST(OnnxExport, IndexedWritesRoundTrip) {
  auto fn = [](const std::vector<Tensor>& a) {
    Tensor y = a[0].clone();
    index_put_(y, {TensorIndex::slice(), TensorIndex::integer(1)}, from_vector<float>({0.5f}, {1}));  // y[:, 1] = 0.5
    index_put_(y, {TensorIndex::with(from_vector<int64_t>({2, 0}, {2}))}, mul(a[0].narrow(0, 0, 2), Scalar(3.0)));
    masked_fill_(y, gt(a[0], Scalar(1.0)), Scalar(-2.0));
    Tensor z = zeros({3, 4});
    scatter_(z, 1, from_vector<int64_t>({3, 1, 0}, {3, 1}), a[0].narrow(1, 0, 1));
    index_add_(z, 0, from_vector<int64_t>({1, 1}, {2}), a[0].narrow(0, 0, 2), Scalar(0.5));
    return std::vector<Tensor>{y, z};
  };
  const std::string bytes = onnx::export_bytes(fn, {randn({3, 4})}, {});
  const onnx::Model m = onnx::Model::load_bytes(bytes);
  for (int k = 0; k < 2; ++k) {
    const Tensor x = randn({3, 4});
    auto got = m.run({{"input_0", x}});
    auto want = fn({x});
    expect_close(got[0].second, want[0]);
    expect_close(got[1].second, want[1]);
  }
}

// The model server runs one loaded model from several threads: each fused
// node's kernel site serves one run at a time and the others take the shared
// caches; results must match eager ones whatever the interleaving or batch size.
TEST(OnnxExport, ConcurrentRunsFromSeveralThreads) {
  manual_seed(1);
  nn::functional::ConvOptions pad1;
  pad1.padding = {1};
  auto m = std::make_shared<nn::Sequential>();
  m->add(std::make_shared<nn::Conv2d>(3, 16, 3, pad1)).add(std::make_shared<nn::ReLU>());
  m->add(std::make_shared<nn::Conv2d>(16, 24, 3, pad1)).add(std::make_shared<nn::ReLU>());
  m->add(std::make_shared<nn::MaxPool2d>(2)).add(std::make_shared<nn::Conv2d>(24, 8, 1));
  m->add(std::make_shared<nn::Flatten>()).add(std::make_shared<nn::Linear>(8 * 4 * 4, 5));
  m->eval();
  onnx::ExportOptions o;
  o.input_names = {"x"};
  o.dynamic_axes = {{"x", {{0, "batch"}}}};
  const auto path = (std::filesystem::temp_directory_path() / "tessel_concurrent_test.onnx").string();
  onnx::export_model(*m, randn({2, 3, 8, 8}), path, o);
  const onnx::Model loaded = onnx::Model::load(path);
  std::filesystem::remove(path);
  std::vector<Tensor> xs, want;
  for (int64_t k = 0; k < 6; ++k) {
    xs.push_back(randn({1 + k % 3, 3, 8, 8}));
    autograd::NoGradGuard ng;
    want.push_back(m->forward(xs.back()));
  }
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int it = 0; it < 20; ++it) {
        const size_t k = static_cast<size_t>(t + it) % xs.size();
        const Tensor got = loaded.run({{"x", xs[k]}}).at(0).second;
        if (got.shape() != want[k].shape() || amax(abs(sub(got, want[k]))).item<double>() > 1e-4) ++bad;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

// A kernel run outside every traced op that writes into a traced value (here relu
// dispatched by hand, as an extension's op without a trace::Op would) is refused by name.
TEST(OnnxExport, UntracedKernelWriteIsRefused) {
  auto fn = [](const std::vector<Tensor>& a) {
    Tensor y = a[0] * 2.0;
    dispatch(Registry::get().op_id("relu"), y.dtype(), {&y, 1}, {&y, 1}, nullptr);
    return std::vector<Tensor>{y + 1.0};
  };
  try {
    onnx::export_bytes(fn, {randn({3, 3})}, {});
    FAIL() << "expected an error";
  } catch (const NotImplementedError& e) {
    EXPECT_NE(std::string(e.what()).find("updated in place by op 'relu'"), std::string::npos) << e.what();
  }
}
