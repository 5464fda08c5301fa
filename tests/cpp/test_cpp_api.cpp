// The everyday C++ API a ported program touches: in-place arithmetic on Tensor
// and modules whose forward takes more than one tensor.
#include <gtest/gtest.h>

#include <tuple>

#include "tessel/tessel.h"

using namespace tessel;

namespace {
std::vector<double> vals(const Tensor& t) {
  const Tensor c = t.to(DType::Float64).contiguous();
  return std::vector<double>(c.data<double>(), c.data<double>() + c.numel());
}
}  // namespace

TEST(CppApi, InPlaceMethodsAndCompoundOperators) {
  Tensor x = from_vector<float>({1, 2, 3}, {3});
  const void* before = x.data_ptr();
  x.add_(from_vector<float>({1, 1, 1}, {3}));  // 2 3 4
  x.sub_(from_vector<float>({1, 1, 1}, {3}), 2);  // alpha: 0 1 2
  x.mul_(3);                                       // 0 3 6
  x.div_(from_vector<float>({1, 3, 2}, {3}));      // 0 1 3
  EXPECT_EQ(vals(x), (std::vector<double>{0, 1, 3}));
  x += 1;
  x *= from_vector<float>({2, 2, 2}, {3});
  x -= 0.5;
  x /= 2;
  EXPECT_EQ(vals(x), (std::vector<double>{0.75, 1.75, 3.75}));
  EXPECT_EQ(x.data_ptr(), before);  // in place: same buffer, same dtype
  EXPECT_EQ(x.dtype(), DType::Float32);
  x.zero_();
  EXPECT_EQ(vals(x), (std::vector<double>{0, 0, 0}));
}

TEST(CppApi, InPlaceKeepsDtypeAndBroadcastsOther) {
  Tensor i = from_vector<int64_t>({1, 2, 3, 4}, {2, 2});
  i += from_vector<int64_t>({10, 20}, {2});
  EXPECT_EQ(vals(i), (std::vector<double>{11, 22, 13, 24}));
  EXPECT_EQ(i.dtype(), DType::Int64);
  // A result that cannot be cast back (float into int) or a shape that does not broadcast into x raises.
  EXPECT_THROW(i += from_vector<float>({0.5f}, {1}), Error);
  Tensor f = zeros({2});
  EXPECT_THROW(f += zeros({3}), ValueError);
}

TEST(CppApi, InPlaceOnALeafThatRequiresGradRaises) {
  Tensor w = ones({2}).set_requires_grad(true);
  EXPECT_THROW(w += 1, Error);
  {
    autograd::NoGradGuard g;
    w -= 0.5;  // the optimizer-update idiom
  }
  EXPECT_EQ(vals(w), (std::vector<double>{0.5, 0.5}));
}

namespace {
// A module with a two-argument forward returning two tensors.
struct Gate : nn::Module {
  Gate() { scale = register_parameter("scale", ones({3})); }
  std::tuple<Tensor, Tensor> forward(const Tensor& x, const Tensor& mask) {
    const Tensor y = mul(mul(x, scale), mask);
    return {y, sum(y)};
  }
  Tensor scale;
};
struct Net : nn::Module {
  Net() {
    gate = register_module("gate", std::make_shared<Gate>());
    head = register_module("head", std::make_shared<nn::Linear>(3, 1));
  }
  Tensor forward(const Tensor& x, const Tensor& mask) {
    auto [y, total] = gate->forward(x, mask);
    return add(head->forward(y), total);
  }
  std::shared_ptr<Gate> gate;
  std::shared_ptr<nn::Linear> head;
};
}  // namespace

TEST(CppApi, ModulesWithAnyForwardSignature) {
  manual_seed(0);
  Net net;
  const NamedTensors sd = net.state_dict();
  ASSERT_EQ(sd.size(), 3u);
  EXPECT_EQ(sd[0].first, "gate.scale");
  const Tensor x = randn({4, 3});
  const Tensor mask = from_vector<float>({1, 0, 1}, {3});
  const Tensor out = net.forward(x, mask);
  EXPECT_EQ(out.shape(), (Shape{4, 1}));
  sum(out).backward();
  ASSERT_TRUE(net.gate->scale.grad().defined());
  EXPECT_EQ(vals(net.gate->scale.grad())[1], 0.0);  // masked channel gets no gradient
  // The one-tensor call is not defined for it: a clear error, not a crash.
  EXPECT_THROW(net(x), NotImplementedError);
}

TEST(CppApi, SequentialCallsEachModulesOwnForward) {
  struct Double : nn::Module {  // non-virtual forward(x): Sequential still calls it
    Tensor forward(const Tensor& x) { return mul(x, 2); }
  };
  nn::Sequential s;
  s.add(std::make_shared<Double>()).add(std::make_shared<nn::ReLU>());
  EXPECT_EQ(vals(s(from_vector<float>({-1, 2}, {2}))), (std::vector<double>{0, 4}));
}
