// The C++ half of `make demo`: tensors, broadcasting, matmul and a reduction.
#include <tessel/tessel.h>

#include <iostream>

int main() {
  using namespace tessel;
  manual_seed(0);
  Tensor x = arange(Scalar(0), Scalar(6), Scalar(1), DType::Float32).reshape({2, 3});
  Tensor row = from_vector<float>({10, 20, 30}, {3});
  std::cout << "x =\n" << x << "\n";
  std::cout << "x + row (broadcast) =\n" << x + row << "\n";
  Tensor w = randn({3, 2});
  std::cout << "x @ w =\n" << matmul(x, w) << "\n";
  std::cout << "sum over dim 1 = " << sum(x, {1}) << "\n";
  std::cout << "mean = " << mean(x).item<double>() << "\n";
  return 0;
}
