// Uses tessel through its installed headers and CMake package only.
#include <tessel/tessel.h>

#include <iostream>

int main() {
  using namespace tessel;
  Tensor a = arange(Scalar(1), Scalar(7), Scalar(1), DType::Float64).reshape({2, 3});
  Tensor b = ones({3, 2}, DType::Float64);
  Tensor c = matmul(a, b) + Scalar(0.5);           // [[6.5, 6.5], [15.5, 15.5]]
  std::cout << "tessel " << version() << "\n";
  std::cout << "sum=" << sum(c).item<double>() << "\n";  // 44
  try {
    matmul(a, a);
  } catch (const ValueError& e) {
    std::cout << "error: " << e.what() << "\n";
  }
  return 0;
}
