#include <gtest/gtest.h>
#include <tessel/tessel.h>

#include <cmath>
#include <random>

using namespace tessel;

TEST(Ops, BroadcastingArithmeticAndPromotion) {
  Tensor a = from_vector<int32_t>({1, 2, 3}, {3, 1});
  Tensor b = from_vector<float>({10, 20}, {2});
  Tensor c = a * b;  // [3, 2] float32
  EXPECT_EQ(c.shape(), (Shape{3, 2}));
  EXPECT_EQ(c.dtype(), DType::Float32);
  EXPECT_EQ(c.contiguous().data<float>()[5], 60.0f);
  Tensor d = div(from_vector<int64_t>({1, 3}, {2}), Scalar(2));
  EXPECT_EQ(d.dtype(), DType::Float32);
  EXPECT_FLOAT_EQ(d.data<float>()[1], 1.5f);
  EXPECT_THROW(add(zeros({2, 3}), zeros({4})), ValueError);
}

TEST(Ops, InPlaceRespectsDtypeAndBroadcast) {
  Tensor x = zeros({2, 3}, DType::Int64);
  add_(x, Scalar(2));
  EXPECT_EQ(sum(x).item<int64_t>(), 12);
  EXPECT_THROW(add_(x, Scalar(0.5)), TypeError);
  EXPECT_THROW(add_(x, zeros({3, 3}, DType::Int64)), ValueError);
  Tensor v = arange(Scalar(0), Scalar(5), Scalar(1), DType::Float32);
  add_(v.slice(0, 1, 5), v.slice(0, 0, 4));  // overlapping: reads a snapshot
  EXPECT_EQ(v.data<float>()[4], 7.0f);
}

TEST(Ops, SumIsPairwiseAccurate) {
  const int64_t n = 1 << 22;
  Tensor x = full({n}, Scalar(0.1), DType::Float32);
  const double s = sum(x).item<double>();
  const double exact = static_cast<double>(0.1f) * n;
  EXPECT_LT(std::abs(s - exact) / exact, 1e-6);  // naive float32 accumulation is off by ~1e-2
}

TEST(Ops, ReductionsOverDims) {
  Tensor x = arange(Scalar(0), Scalar(24), Scalar(1), DType::Float64).reshape({2, 3, 4});
  Tensor s = sum(x, {0, 2});
  EXPECT_EQ(s.shape(), (Shape{3}));
  EXPECT_DOUBLE_EQ(s.data<double>()[1], (4 + 5 + 6 + 7) + (16 + 17 + 18 + 19));
  EXPECT_EQ(sum(x, {1}, true).shape(), (Shape{2, 1, 4}));
  auto [v, i] = max(x, 1);
  EXPECT_EQ(v.shape(), (Shape{2, 4}));
  EXPECT_EQ(i.contiguous().data<int64_t>()[0], 2);
  EXPECT_DOUBLE_EQ(mean(x).item<double>(), 11.5);
  EXPECT_THROW(mean(zeros({2}, DType::Int32)), TypeError);
  EXPECT_THROW(amax(zeros({0})), ValueError);
  EXPECT_THROW(sum(x, {3}), IndexError);
}

template <class T>
void check_matmul(DType dt, double tol) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> dist(-3, 3);
  const int64_t M = 7, K = 5, N = 9;
  std::vector<T> a(M * K), b(K * N);
  for (auto& v : a) v = static_cast<T>(dist(rng));
  for (auto& v : b) v = static_cast<T>(dist(rng));
  Tensor ta = from_vector<T>(a, {M, K}), tb = from_vector<T>(b, {K, N});
  ASSERT_EQ(ta.dtype(), dt);
  Tensor c = matmul(ta, tb);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double ref = 0;
      for (int64_t k = 0; k < K; ++k) ref += static_cast<double>(a[i * K + k]) * static_cast<double>(b[k * N + j]);
      EXPECT_NEAR(static_cast<double>(c.data<T>()[i * N + j]), ref, tol);
    }
}

TEST(Ops, MatmulAcrossBackends) {
  check_matmul<float>(DType::Float32, 1e-4);  // oneDNN
  check_matmul<double>(DType::Float64, 1e-12);  // Eigen
  check_matmul<int32_t>(DType::Int32, 0);
  check_matmul<int64_t>(DType::Int64, 0);
}

TEST(Ops, MatmulShapes) {
  Tensor a = ones({4, 2, 3}), b = ones({3, 5});
  EXPECT_EQ(matmul(a, b).shape(), (Shape{4, 2, 5}));
  EXPECT_EQ(matmul(ones({3}), ones({3})).shape(), (Shape{}));
  EXPECT_EQ(matmul(ones({2, 3}).t().t(), ones({3})).shape(), (Shape{2}));
  Tensor t = arange(Scalar(0), Scalar(6), Scalar(1), DType::Float32).reshape({2, 3});
  Tensor g = matmul(t, t.t());  // transposed operand without a copy
  EXPECT_FLOAT_EQ(g.data<float>()[1], 0 * 3 + 1 * 4 + 2 * 5);
  EXPECT_THROW(matmul(ones({2, 3}), ones({4, 5})), ValueError);
  EXPECT_THROW(matmul(ones({2, 3}), ones({3, 2}, DType::Float64)), TypeError);
  EXPECT_THROW(matmul(ones({2, 2}, DType::Bool), ones({2, 2}, DType::Bool)), NotImplementedError);
}

TEST(Ops, CatStackWhere) {
  Tensor a = ones({2, 3}), b = zeros({1, 3}, DType::Float64);
  Tensor c = cat({a, b});
  EXPECT_EQ(c.shape(), (Shape{3, 3}));
  EXPECT_EQ(c.dtype(), DType::Float64);
  EXPECT_EQ(stack({a, a}, 1).shape(), (Shape{2, 2, 3}));
  EXPECT_THROW(cat({a, ones({2, 4})}), ValueError);
  Tensor w = where(gt(arange(Scalar(0), Scalar(4), Scalar(1)), Scalar(1)), Scalar(1.5), Scalar(0));
  EXPECT_EQ(w.dtype(), DType::Float32);
  EXPECT_FLOAT_EQ(sum(w).item<float>(), 3.0f);
}

TEST(Ops, RandomIsSeededAndThreadIndependent) {
  manual_seed(42);
  Tensor a = randn({100000});
  set_num_threads(1);
  manual_seed(42);
  Tensor b = randn({100000});
  set_num_threads(2);
  EXPECT_EQ(sum(ne(a, b)).item<int64_t>(), 0);
  const double m = mean(a).item<double>();
  EXPECT_LT(std::abs(m), 0.02);
  Tensor r = randint(3, 7, {1000});
  EXPECT_GE(amin(r).item<int64_t>(), 3);
  EXPECT_LE(amax(r).item<int64_t>(), 6);
}
