#include <gtest/gtest.h>
#include <tessel/tessel.h>

#include <cstdlib>
#include <cstring>

#include "tests/cpp/host_device.h"

using namespace tessel;

TEST(Registry, MissingKernelNamesOpDeviceAndDtype) {
  try {
    matmul(ones({2, 2}, DType::Bool), ones({2, 2}, DType::Bool));
    FAIL() << "expected NotImplementedError";
  } catch (const NotImplementedError& e) {
    EXPECT_NE(std::string(e.what()).find("[matmul] not implemented for cpu/bool"), std::string::npos) << e.what();
  }
}

TEST(Registry, NewOpRegisteredFromOutsideTheCore) {
  Registry::get().add("test_twice", "cpu", DType::Float32, [](const KernelCall& c) {
    c.out[0] = mul(c.in[0], Scalar(2));
  }, "test");
  auto out = call_op("test_twice", {full({3}, Scalar(1.5))});
  EXPECT_FLOAT_EQ(sum(out[0]).item<float>(), 9.0f);
  EXPECT_THROW(call_op("test_twice", {full({3}, Scalar(1.5), DType::Float64)}), NotImplementedError);
  EXPECT_THROW(call_op("no_such_op", {ones({1})}), NotImplementedError);
  bool listed = false;
  for (const auto& k : Registry::get().list()) listed |= k.op == "test_twice" && k.source == "test";
  EXPECT_TRUE(listed);
}

TEST(Registry, SecondDeviceWithItsOwnKernels) {
  // A host-memory "device" with only `add` and `fill` kernels, registered like a plugin would.
  const DeviceType dev = register_host_test_device("cpptestdev");
  Registry::get().add(op::add, dev, DType::Float32, [](const KernelCall& c) {
    // Compute on host views of the same memory: the device is host memory.
    auto host = [](const Tensor& t) {
      return make_tensor(std::make_shared<StorageImpl>(t.storage()->data(), t.storage()->nbytes(), Device(DeviceType::CPU),
                                                       nullptr, nullptr),
                         t.shape(), t.strides(), t.offset(), t.dtype());
    };
    Tensor o = host(c.out[0]);
    o.copy_(add(host(c.in[0]), host(c.in[1])));
  }, "test");
  Tensor a = ones({4}).to(Device("cpptestdev"));
  EXPECT_EQ(a.device().str(), "cpptestdev:0");
  Tensor s = add(a, a);
  EXPECT_EQ(s.device(), a.device());
  EXPECT_FLOAT_EQ(sum(s.cpu()).item<float>(), 8.0f);
  EXPECT_THROW(mul(a, a), NotImplementedError);
  EXPECT_THROW(add(a, ones({4})), ValueError);  // cross-device arithmetic is an error
}
