// String tensors from C++: onnx::Model::run_values on a model with tensor(string)
// inputs and outputs (written here as protobuf bytes), and the serve Batcher
// concatenating BYTES inputs along dim 0 and splitting string outputs back.
#include <gtest/gtest.h>
#include <tessel/onnx.h>
#include <tessel/tessel.h>

#include <future>
#include <mutex>

#include "serve/batcher.h"

using namespace tessel;
using namespace tessel::serve;

namespace {

// A minimal protobuf writer: enough of onnx.proto for a small graph.
struct Pb {
  std::string b;
  void varint(uint64_t v) {
    while (v >= 0x80) b.push_back(static_cast<char>((v & 0x7f) | 0x80)), v >>= 7;
    b.push_back(static_cast<char>(v));
  }
  Pb& i(int field, uint64_t v) {
    varint(static_cast<uint64_t>(field) << 3);
    varint(v);
    return *this;
  }
  Pb& s(int field, const std::string& v) {
    varint((static_cast<uint64_t>(field) << 3) | 2);
    varint(v.size());
    b += v;
    return *this;
  }
  Pb& m(int field, const Pb& v) { return s(field, v.b); }
};

// ValueInfoProto of a 1-D tensor with a symbolic dim.
Pb value_info(const std::string& name, int elem_type) {
  Pb dim, shape, tensor, type, vi;
  dim.s(2, "n");
  shape.m(1, dim);
  tensor.i(1, static_cast<uint64_t>(elem_type)).m(2, shape);
  type.m(1, tensor);
  vi.s(1, name).m(2, type);
  return vi;
}

Pb attr_s(const std::string& name, const std::string& v) { return Pb().s(1, name).s(4, v).i(20, 3); }
Pb attr_strings(const std::string& name, const std::vector<std::string>& vs) {
  Pb a;
  a.s(1, name);
  for (const auto& v : vs) a.s(9, v);
  return a.i(20, 8);
}
Pb attr_ints(const std::string& name, const std::vector<int64_t>& vs) {
  Pb a;
  a.s(1, name);
  for (auto v : vs) a.i(8, static_cast<uint64_t>(v));
  return a.i(20, 7);
}

constexpr int kString = 8, kInt64 = 7;

// x: string [n] -> y = lower(x); ids = LabelEncoder(y) (cat 0, dog 1, else -1);
// z = Concat(y, tail) with the string initializer tail = ["!"].
std::string strings_model() {
  Pb norm, enc, cat, tail, g, model, op, ml;
  norm.s(1, "x").s(2, "y").s(3, "norm").s(4, "StringNormalizer").m(5, attr_s("case_change_action", "LOWER"));
  enc.s(1, "y").s(2, "ids").s(3, "enc").s(4, "LabelEncoder").s(7, "ai.onnx.ml");
  enc.m(5, attr_strings("keys_strings", {"cat", "dog"})).m(5, attr_ints("values_int64s", {0, 1}));
  cat.s(1, "y").s(1, "tail").s(2, "z").s(3, "cat").s(4, "Concat").m(5, Pb().s(1, "axis").i(3, 0).i(20, 2));
  tail.i(1, 1).i(2, kString).s(6, "!").s(8, "tail");
  g.m(1, norm).m(1, enc).m(1, cat).s(2, "g").m(5, tail).m(11, value_info("x", kString));
  g.m(12, value_info("y", kString)).m(12, value_info("ids", kInt64)).m(12, value_info("z", kString));
  op.i(2, 20);
  ml.s(1, "ai.onnx.ml").i(2, 3);
  model.i(1, 9).m(8, op).m(8, ml).m(7, g);
  return model.b;
}

const onnx::StringTensor& strings_of(const onnx::NamedValues& out, size_t k) {
  return std::get<onnx::StringTensor>(out.at(k).second);
}

}  // namespace

TEST(ServeStrings, ModelRunValues) {
  const auto m = onnx::Model::load_bytes(strings_model());
  ASSERT_EQ(m.inputs().size(), 1u);
  EXPECT_TRUE(m.inputs()[0].is_string());
  EXPECT_TRUE(m.outputs()[0].is_string());
  EXPECT_TRUE(m.value_info("z")->is_string());
  EXPECT_EQ(m.value_info("ids")->dtype, DType::Int64);

  const auto out = m.run_values({{"x", onnx::StringTensor{{3}, {"Cat", "DOG", "Emu"}}}});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(strings_of(out, 0).data, (std::vector<std::string>{"cat", "dog", "emu"}));
  const Tensor& ids = std::get<Tensor>(out[1].second);
  EXPECT_EQ(ids.dtype(), DType::Int64);
  EXPECT_EQ((std::vector<int64_t>(ids.data<int64_t>(), ids.data<int64_t>() + 3)), (std::vector<int64_t>{0, 1, -1}));
  EXPECT_EQ(strings_of(out, 2).shape, (Shape{4}));
  EXPECT_EQ(strings_of(out, 2).data.back(), "!");

  // A numeric feed for the string input, too few strings for the shape, and
  // run() (tensors only) on a model with string outputs: errors naming the value.
  try {
    m.run_values({{"x", ones({3})}});
    FAIL() << "numeric feed accepted";
  } catch (const TypeError& e) {
    EXPECT_NE(std::string(e.what()).find("'x' is tensor(string)"), std::string::npos) << e.what();
  }
  try {
    m.run_values({{"x", onnx::StringTensor{{3}, {"a"}}}});
    FAIL() << "short feed accepted";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("'x' has shape [3] (3 elements) but 1 strings"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(m.run({{"x", ones({3})}}), TypeError);
}

TEST(ServeStrings, BatcherConcatenatesStringsAlongDim0) {
  MetricsRegistry reg;
  BatcherOptions bo;
  bo.max_batch_size = 8;
  bo.dynamic = true;
  bo.preferred_batch_size = {3};
  bo.max_queue_delay = std::chrono::microseconds(2000000);
  bo.queue_policy.max_queue_size = 8;
  std::mutex mu;
  std::vector<Shape> runs;
  // Echoes each string with "+" appended, and the row count as a number.
  auto run = [&](const onnx::NamedValues& feed) {
    const auto& s = std::get<onnx::StringTensor>(feed.at(0).second);
    {
      std::lock_guard<std::mutex> lk(mu);
      runs.push_back(s.shape);
    }
    onnx::StringTensor y{s.shape, {}};
    for (const auto& v : s.data) y.data.push_back(v + "+");
    return onnx::NamedValues{{"y", y}};
  };
  auto item = [](int64_t rows, const std::string& tag, std::promise<InferResponse>* p) {
    BatchItem b;
    NamedTensor in{"s", "BYTES", {rows, 2}, {}, {}};
    for (int64_t k = 0; k < rows * 2; ++k) in.bytes.push_back(tag + std::to_string(k));
    b.request.inputs.push_back(std::move(in));
    b.outputs = {"y"};
    b.batch = rows;
    b.key = "BYTES,2;";
    b.enqueued = std::chrono::steady_clock::now();
    b.deadline = std::chrono::steady_clock::time_point::max();
    b.done = [p](std::exception_ptr e, InferResponse r) {
      if (e) p->set_exception(e);
      else p->set_value(std::move(r));
    };
    return b;
  };
  std::promise<InferResponse> p0, p1;
  {
    Batcher b(bo, Batcher::RunFn(run), ModelMetrics::create(reg, "m", "1"));
    b.submit(item(1, "a", &p0));
    b.submit(item(2, "b", &p1));
    auto r0 = p0.get_future().get();
    auto r1 = p1.get_future().get();
    ASSERT_EQ(r0.outputs.size(), 1u);
    EXPECT_EQ(r0.outputs[0].datatype, "BYTES");
    EXPECT_EQ(r0.outputs[0].shape, (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(r0.outputs[0].bytes, (std::vector<std::string>{"a0+", "a1+"}));
    EXPECT_EQ(r1.outputs[0].shape, (std::vector<int64_t>{2, 2}));
    EXPECT_EQ(r1.outputs[0].bytes, (std::vector<std::string>{"b0+", "b1+", "b2+", "b3+"}));
  }
  ASSERT_EQ(runs.size(), 1u);  // one execution of 3 rows: the preferred size
  EXPECT_EQ(runs[0], (Shape{3, 2}));
}
