// Autograd, nn modules and optimizers from C++: what C++ users rely on.
#include <gtest/gtest.h>

#include <cmath>

#include "tessel/tessel.h"

using namespace tessel;

namespace {
std::vector<double> values(const Tensor& t) {
  const Tensor c = t.detach().to(DType::Float64).contiguous();
  const double* p = c.data<double>();
  return std::vector<double>(p, p + c.numel());
}
}  // namespace

TEST(Autograd, BackwardOfAnExpression) {
  const Tensor x = from_vector<double>({1.0, -2.0, 0.5}, {3}).set_requires_grad(true);
  const Tensor y = sum(mul(sin(x), x));
  y.backward();
  const auto g = values(x.grad());
  const std::vector<double> xs = {1.0, -2.0, 0.5};
  for (size_t i = 0; i < xs.size(); ++i) EXPECT_NEAR(g[i], std::cos(xs[i]) * xs[i] + std::sin(xs[i]), 1e-12);
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_EQ(y.grad_fn()->name(), "SumBackward");
}

TEST(Autograd, SecondDerivative) {
  const Tensor x = from_vector<double>({2.0}, {1}).set_requires_grad(true);
  const Tensor y = sum(pow(x, Scalar(3.0)));
  const Tensors g = autograd::grad({y}, {x}, {}, true, /*create_graph=*/true);
  const Tensors gg = autograd::grad({sum(g[0])}, {x});
  EXPECT_NEAR(values(g[0])[0], 12.0, 1e-12);  // 3 x^2
  EXPECT_NEAR(values(gg[0])[0], 12.0, 1e-12);  // 6 x
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  const Tensor x = ones({2}).set_requires_grad(true);
  autograd::NoGradGuard guard;
  EXPECT_FALSE(mul(x, Scalar(2.0)).requires_grad());
}

TEST(Autograd, ClearErrors) {
  const Tensor x = ones({3}).set_requires_grad(true);
  EXPECT_THROW(mul(x, Scalar(2.0)).backward(), Error);  // non-scalar without a gradient
  const Tensor y = mul(x, Scalar(1.0));
  const Tensor z = sum(sin(y));
  add_(y, Scalar(1.0));  // y was saved by sin
  EXPECT_THROW(z.backward(), Error);
  EXPECT_THROW(add_(x, Scalar(1.0)), Error);  // leaf that requires grad
  EXPECT_THROW(arange(Scalar(3)).set_requires_grad(true), TypeError);
}

// A complex input that requires grad, or a complex output, needs a rule written for complex numbers:
// another raises NotImplementedError instead of recording a wrong gradient (graph.cpp, kComplexRules).
TEST(Autograd, ComplexTensorsNeedAComplexRule) {
  const Tensor z = ones({2}, TensorOptions(DType::Complex128)).set_requires_grad(true);
  const Tensor x = ones({2}, TensorOptions(DType::Float64)).set_requires_grad(true);
  const Tensor zc = zeros({2}, TensorOptions(DType::Complex128)), xc = zeros({2}, TensorOptions(DType::Float64));
  const auto same = [](const Tensors& g) { return g; };
  EXPECT_THROW(autograd::record("SoftmaxBackward", {z}, {xc}, same), NotImplementedError);
  EXPECT_THROW(autograd::record("SoftmaxBackward", {x}, {zc.clone()}, same), NotImplementedError);
  EXPECT_NE(autograd::record("SoftmaxBackward", {x}, {xc.clone()}, same), nullptr);  // real: any rule
  EXPECT_NE(autograd::record("MulBackward", {z}, {zc.clone()}, same), nullptr);      // written for complex
  // Through the ops: the convention's gradient of sum |z|^2 is 2z.
  const Tensor w = from_vector<double>({1.0, 2.0}, {2}).to(DType::Complex128).set_requires_grad(true);
  sum(square(abs(w))).backward();
  EXPECT_EQ(values(view_as_real(w.grad())), (std::vector<double>{2.0, 0.0, 4.0, 0.0}));
  EXPECT_THROW(sum(w).backward(), Error);  // a complex scalar needs an explicit gradient
}

TEST(Autograd, LongChainNeitherRecursesNorLeaks) {
  const int64_t before = autograd::live_nodes();
  {
    const Tensor w = ones({1}).set_requires_grad(true);
    Tensor t = w;
    for (int i = 0; i < 100000; ++i) t = mul(t, Scalar(1.0));
    sum(t).backward();
    EXPECT_EQ(values(w.grad())[0], 1.0);
  }
  EXPECT_EQ(autograd::live_nodes(), before);
}

TEST(Autograd, CustomFunction) {
  const Tensor x = from_vector<double>({1.0, 3.0}, {2}).set_requires_grad(true);
  const Tensors out = autograd::apply_function(
      "Cube", {x},
      [](autograd::FunctionCtx& ctx, const Tensors& in) {
        ctx.save_for_backward({in[0]});
        return Tensors{pow(in[0], Scalar(3.0))};
      },
      [](autograd::FunctionCtx& ctx, const Tensors& g) {
        const Tensor a = ctx.saved_tensors()[0];
        return Tensors{mul(g[0], mul(mul(a, a), Scalar(3.0)))};
      });
  sum(out[0]).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{3.0, 27.0}));
}

TEST(Nn, ModuleStateDictRoundTrip) {
  manual_seed(0);
  nn::Sequential a;
  a.add(std::make_shared<nn::Linear>(4, 3)).add(std::make_shared<nn::ReLU>()).add(std::make_shared<nn::Linear>(3, 2));
  nn::Sequential b;
  b.add(std::make_shared<nn::Linear>(4, 3)).add(std::make_shared<nn::ReLU>()).add(std::make_shared<nn::Linear>(3, 2));
  const NamedTensors sd = a.state_dict();
  ASSERT_EQ(sd.size(), 4u);
  EXPECT_EQ(sd[0].first, "0.weight");
  EXPECT_EQ(sd[3].first, "2.bias");
  b.load_state_dict(sd);
  const Tensor x = randn({5, 4});
  EXPECT_EQ(values(a(x)), values(b(x)));
  NamedTensors missing(sd.begin(), sd.end() - 1);
  EXPECT_THROW(b.load_state_dict(missing), ValueError);
}

TEST(Optim, SgdMomentumMatchesTheFormula) {
  const Tensor p = from_vector<double>({1.0, 2.0}, {2}).set_requires_grad(true);
  optim::SGD opt({p}, /*lr=*/0.1, /*momentum=*/0.9);
  for (int step = 0; step < 2; ++step) {
    opt.zero_grad();
    sum(mul(p, p)).backward();  // grad = 2p
    opt.step();
  }
  // step 1: buf = 2p0, p1 = p0 - 0.1 * 2p0 = 0.8 p0; step 2: buf = 0.9 * 2p0 + 1.6 p0 = 3.4 p0, p2 = 0.8p0 - 0.34p0
  const auto v = values(p);
  EXPECT_NEAR(v[0], 0.46, 1e-12);
  EXPECT_NEAR(v[1], 0.92, 1e-12);
}

TEST(Optim, AdamTrainsALinearModel) {
  manual_seed(1);
  nn::Linear model(3, 1);
  optim::Adam opt(model.parameters(), 0.05);
  const Tensor x = randn({64, 3});
  const Tensor y = add(matmul(x, from_vector<float>({1.0f, -2.0f, 0.5f}, {3, 1})), Scalar(0.3));
  double first = 0, last = 0;
  for (int i = 0; i < 300; ++i) {
    opt.zero_grad();
    const Tensor loss = nn::functional::mse_loss(model(x), y);
    loss.backward();
    opt.step();
    (i == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, first * 1e-3);
}
