// tessel::trees::Booster from C++ (the Python tests cover the numerics in depth).
#include <gtest/gtest.h>

#include <cmath>

#include "tessel/tessel.h"

using namespace tessel;

TEST(Trees, OneSplitAtTheStepAndItsNewtonLeaves) {
  // x = 0..9 three times, y = -1 below 4.5 and 2 above: the one split sits at 4.5.
  std::vector<float> xs, ys;
  for (int r = 0; r < 3; ++r)
    for (int i = 0; i < 10; ++i) {
      xs.push_back(static_cast<float>(i));
      ys.push_back(i > 4.5 ? 2.f : -1.f);
    }
  trees::BoostOptions o;
  o.depth = 1;
  o.learning_rate = 0.5;
  o.l2 = 0.0;
  trees::Booster b(from_vector<float>(xs, {30, 1}), from_vector<float>(ys, {30}), {}, {}, o);
  EXPECT_EQ(b.grow(1), 1);
  const trees::Ensemble e = b.ensemble();
  ASSERT_EQ(e.features.shape(), (Shape{1, 1}));
  EXPECT_EQ(e.features.data<int64_t>()[0], 0);
  EXPECT_FLOAT_EQ(e.thresholds.data<float>()[0], 4.5f);
  // bias = mean(y) = 0.5; each side's step is lr * mean residual: -0.75 left, +0.75 right
  EXPECT_FLOAT_EQ(e.bias.data<float>()[0], 0.5f);
  EXPECT_NEAR(e.leaves.data<float>()[0], -0.75, 1e-6);
  EXPECT_NEAR(e.leaves.data<float>()[1], 0.75, 1e-6);
  EXPECT_NEAR(b.train_loss(), 0.5625, 1e-6);  // residuals +-0.75 after one half step
  EXPECT_TRUE(std::isnan(b.val_loss()));
}

TEST(Trees, BadOptionsNameTheField) {
  trees::BoostOptions o;
  o.loss = "log_loss";
  o.num_classes = 2;
  const Tensor x = zeros({4, 2});
  try {
    trees::Booster b(x, from_vector<int64_t>({0, 1, 2, 0}, {4}), {}, {}, o);
    FAIL() << "class id 2 of 2 classes was accepted";
  } catch (const ValueError& err) {
    EXPECT_NE(std::string(err.what()).find("[trees.Booster] y[2] is 2"), std::string::npos) << err.what();
  }
  o.depth = 0;
  EXPECT_THROW(trees::Booster(x, from_vector<int64_t>({0, 1, 1, 0}, {4}), {}, {}, o), ValueError);
}
