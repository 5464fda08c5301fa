// Autocast from C++: the guard, the op lists, nesting, gradients and threads.
#include <gtest/gtest.h>

#include <thread>

#include "tessel/tessel.h"

using namespace tessel;
namespace F = tessel::nn::functional;

TEST(Amp, GuardCastsListedOpsAndRestores) {
  const Tensor x = randn({4, 8}), w = randn({3, 8});
  EXPECT_FALSE(amp::is_autocast_enabled(DeviceType::CPU));
  {
    amp::AutocastGuard ac(DeviceType::CPU, DType::BFloat16);
    EXPECT_TRUE(amp::is_autocast_enabled(DeviceType::CPU));
    const Tensor y = linear(x, w);
    EXPECT_EQ(y.dtype(), DType::BFloat16);
    EXPECT_EQ(softmax(y, -1).dtype(), DType::Float32);
    EXPECT_EQ(F::layer_norm(y, {3}).dtype(), DType::Float32);
    EXPECT_EQ(relu(y).dtype(), DType::BFloat16);
    EXPECT_EQ(add(y, x.narrow(1, 0, 3)).dtype(), DType::Float32);  // mixed inputs promote
    {
      amp::AutocastGuard off(DeviceType::CPU, std::nullopt, false);
      EXPECT_EQ(linear(x, w).dtype(), DType::Float32);
    }
    EXPECT_EQ(matmul(x, w.t()).dtype(), DType::BFloat16);
  }
  EXPECT_FALSE(amp::is_autocast_enabled(DeviceType::CPU));
  EXPECT_EQ(linear(x, w).dtype(), DType::Float32);
}

TEST(Amp, Float32WeightGetsFloat32Gradient) {
  const Tensor x = randn({4, 8});
  Tensor w = randn({3, 8});
  w.set_requires_grad(true);
  Tensor loss;
  {
    amp::AutocastGuard ac(DeviceType::CPU);
    loss = F::mse_loss(linear(x, w), zeros({4, 3}));
  }
  EXPECT_EQ(loss.dtype(), DType::Float32);
  loss.backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().dtype(), DType::Float32);
}

TEST(Amp, StateIsPerThread) {
  amp::AutocastGuard ac(DeviceType::CPU, DType::Float16);
  bool other = true;
  std::thread t([&] { other = amp::is_autocast_enabled(DeviceType::CPU); });
  t.join();
  EXPECT_FALSE(other);
  EXPECT_EQ(amp::get_autocast_dtype(DeviceType::CPU), DType::Float16);
}

TEST(Amp, RejectsOtherDtypes) {
  EXPECT_THROW(amp::AutocastGuard(DeviceType::CPU, DType::Float32), TypeError);
  EXPECT_FALSE(amp::is_autocast_enabled(DeviceType::CPU));
}
