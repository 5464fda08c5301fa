// The C++ ONNX import API. The model bytes are written here with a tiny
// protobuf wire-format encoder (field numbers from onnx-ml.proto), so the
// test needs no protobuf headers, just like a user of tessel/onnx.h.
#include <gtest/gtest.h>
#include <tessel/onnx.h>
#include <tessel/tessel.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

using namespace tessel;

namespace {

std::string varint(uint64_t v) {
  std::string out;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    out.push_back(static_cast<char>(b | (v ? 0x80 : 0)));
  } while (v);
  return out;
}
std::string field_varint(int field, uint64_t v) { return varint(static_cast<uint64_t>(field) << 3) + varint(v); }
std::string field_bytes(int field, const std::string& s) {
  return varint((static_cast<uint64_t>(field) << 3) | 2) + varint(s.size()) + s;
}

// ValueInfoProto for a float tensor; dims given as "N" (symbolic) or digits.
std::string value_info(const std::string& name, const std::vector<std::string>& dims) {
  std::string shape;
  for (const auto& d : dims) {
    std::string dim = std::isdigit(static_cast<unsigned char>(d[0])) ? field_varint(1, std::stoull(d))
                                                                        : field_bytes(2, d);
    shape += field_bytes(1, dim);
  }
  std::string tensor_type = field_varint(1, 1 /* FLOAT */) + field_bytes(2, shape);
  return field_bytes(1, name) + field_bytes(2, field_bytes(1, tensor_type));
}

std::string node(const std::string& op, const std::vector<std::string>& in, const std::string& out,
                 const std::string& name) {
  std::string n;
  for (const auto& i : in) n += field_bytes(1, i);
  return n + field_bytes(2, out) + field_bytes(3, name) + field_bytes(4, op);
}

// y = Relu(x @ W), x [N, 3], W [3, 2] as raw_data.
std::string tiny_model(const std::string& second_op = "Relu") {
  const float w[6] = {1, -1, 2, 0.5f, -3, 1};
  std::string init = field_varint(1, 3) + field_varint(1, 2) + field_varint(2, 1) + field_bytes(8, "W") +
                     field_bytes(9, std::string(reinterpret_cast<const char*>(w), sizeof(w)));
  std::string graph = field_bytes(1, node("MatMul", {"x", "W"}, "h", "mm")) +
                      field_bytes(1, node(second_op, {"h"}, "y", "act")) + field_bytes(2, "g") +
                      field_bytes(5, init) + field_bytes(11, value_info("x", {"N", "3"})) +
                      field_bytes(12, value_info("y", {"N", "2"}));
  return field_varint(1, 8) + field_bytes(7, graph) + field_bytes(8, field_bytes(1, "") + field_varint(2, 13));
}

}  // namespace

TEST(Onnx, MetadataAndRun) {
  auto m = onnx::Model::load_bytes(tiny_model());
  EXPECT_EQ(m.ir_version(), 8);
  EXPECT_EQ(m.opset(), 13);
  ASSERT_EQ(m.inputs().size(), 1u);
  EXPECT_EQ(m.inputs()[0].name, "x");
  EXPECT_EQ(m.inputs()[0].onnx_type, "tensor(float)");
  ASSERT_EQ(m.inputs()[0].shape.size(), 2u);
  EXPECT_EQ(std::get<std::string>(m.inputs()[0].shape[0]), "N");
  EXPECT_EQ(std::get<int64_t>(m.inputs()[0].shape[1]), 3);

  Tensor x = from_vector<float>({1, 2, 3, -1, 0, 1}, {2, 3});
  auto out = m.run({{"x", x}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first, "y");
  ASSERT_EQ(out[0].second.shape(), (Shape{2, 2}));
  // Row 0: [1,2,3] @ W = [1*1 + 2*2 + 3*-3, -1 + 1 + 3] = [-4, 3] -> relu [0, 3].
  // Row 1: [-1,0,1] @ W = [-1 - 3, 1 + 1] = [-4, 2] -> relu [0, 2].
  const float* y = out[0].second.contiguous().data<float>();
  EXPECT_FLOAT_EQ(y[0], 0);
  EXPECT_FLOAT_EQ(y[1], 3);
  EXPECT_FLOAT_EQ(y[2], 0);
  EXPECT_FLOAT_EQ(y[3], 2);
}

TEST(Onnx, LoadFromFile) {
  auto path = std::filesystem::temp_directory_path() / ("tessel_onnx_" + std::to_string(::getpid()) + ".onnx");
  {
    std::ofstream f(path, std::ios::binary);
    f << tiny_model();
  }
  auto m = onnx::Model::load(path.string());
  EXPECT_EQ(m.outputs()[0].name, "y");
  std::filesystem::remove(path);
}

TEST(Onnx, BadInputErrors) {
  std::string bytes = tiny_model();
  try {
    onnx::Model::load_bytes(bytes.substr(0, bytes.size() / 2));
    FAIL() << "a truncated model loaded";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("[onnx.load]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(onnx::Model::load("/nonexistent/model.onnx"), ValueError);
  auto m = onnx::Model::load_bytes(tiny_model("NoSuchOp"));
  try {
    m.run({{"x", zeros({1, 3})}});
    FAIL() << "an unknown op ran";
  } catch (const NotImplementedError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("NoSuchOp"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'act'"), std::string::npos) << msg;
  }
  EXPECT_THROW(m.run({}), ValueError);
}

namespace {

// y = If(c, then: Neg(x * w), else: Relu(x)); the branches read x and the
// initializer w from the main graph (outer scope).
std::string if_model(bool dangling = false) {
  auto graph_attr = [](const std::string& name, const std::string& graph) {
    return field_bytes(1, name) + field_bytes(6, graph) + field_varint(20, 5 /* GRAPH */);
  };
  std::string then_g = field_bytes(1, node("Mul", {"x", dangling ? "nowhere" : "w"}, "xw", "mul")) +
                       field_bytes(1, node("Neg", {"xw"}, "t", "neg")) + field_bytes(2, "then") +
                       field_bytes(12, value_info("t", {"2"}));
  std::string else_g =
      field_bytes(1, node("Relu", {"x"}, "e", "relu")) + field_bytes(2, "else") + field_bytes(12, value_info("e", {"2"}));
  std::string if_node = node("If", {"c"}, "y", "branch") + field_bytes(5, graph_attr("then_branch", then_g)) +
                        field_bytes(5, graph_attr("else_branch", else_g));
  const float w[2] = {2, 3};
  std::string init = field_varint(1, 2) + field_varint(2, 1) + field_bytes(8, "w") +
                     field_bytes(9, std::string(reinterpret_cast<const char*>(w), sizeof(w)));
  std::string c_info = field_bytes(1, "c") + field_bytes(2, field_bytes(1, field_varint(1, 9 /* BOOL */)));
  std::string graph = field_bytes(1, if_node) + field_bytes(2, "g") + field_bytes(5, init) + field_bytes(11, c_info) +
                      field_bytes(11, value_info("x", {"2"})) + field_bytes(12, value_info("y", {"2"}));
  return field_varint(1, 8) + field_bytes(7, graph) + field_bytes(8, field_bytes(1, "") + field_varint(2, 13));
}

}  // namespace

TEST(Onnx, IfReadsOuterScope) {
  auto m = onnx::Model::load_bytes(if_model());
  Tensor x = from_vector<float>({1, -2}, {2});
  auto yes = m.run({{"c", full({}, true, TensorOptions(DType::Bool))}, {"x", x}});
  const float* a = yes[0].second.contiguous().data<float>();
  EXPECT_FLOAT_EQ(a[0], -2);
  EXPECT_FLOAT_EQ(a[1], 6);
  auto no = m.run({{"c", full({}, false, TensorOptions(DType::Bool))}, {"x", x}});
  const float* b = no[0].second.contiguous().data<float>();
  EXPECT_FLOAT_EQ(b[0], 1);
  EXPECT_FLOAT_EQ(b[1], 0);
  try {
    onnx::Model::load_bytes(if_model(true));
    FAIL() << "a dangling name in a subgraph loaded";
  } catch (const ValueError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("node 'branch' (If) attribute 'then_branch'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'nowhere'"), std::string::npos) << msg;
  }
}

namespace {
// ValueInfoProto of elem type `elem` (ONNX code) without a shape; `seq` wraps it in seq(...).
std::string typed_info(const std::string& name, int elem, bool seq) {
  const std::string tensor = field_bytes(1, field_varint(1, static_cast<uint64_t>(elem)));  // TypeProto{tensor_type}
  const std::string type = seq ? field_bytes(4, field_bytes(1, tensor)) : tensor;          // TypeProto{sequence_type}
  return field_bytes(1, name) + field_bytes(2, type);
}

// n = SequenceLength(s), y = ConcatFromSequence(s, axis=0), t = Identity(s).
std::string sequence_model() {
  const std::string axis = field_bytes(1, "axis") + field_varint(3, 0) + field_varint(20, 2 /* INT */);
  const std::string graph = field_bytes(1, node("SequenceLength", {"s"}, "n", "len")) +
                            field_bytes(1, node("ConcatFromSequence", {"s"}, "y", "cat") + field_bytes(5, axis)) +
                            field_bytes(1, node("Identity", {"s"}, "t", "id")) + field_bytes(2, "g") +
                            field_bytes(11, typed_info("s", 1, true)) + field_bytes(12, typed_info("n", 7, false)) +
                            field_bytes(12, typed_info("y", 1, false)) + field_bytes(12, typed_info("t", 1, true));
  return field_varint(1, 8) + field_bytes(7, graph) + field_bytes(8, field_bytes(1, "") + field_varint(2, 13));
}
}  // namespace

// z = ZipMap(x) (ai.onnx.ml) with string labels: seq(map(string, tensor(float))).
std::string zipmap_model() {
  const std::string labels = field_bytes(1, "classlabels_strings") + field_bytes(9, "no") + field_bytes(9, "yes") +
                             field_varint(20, 8 /* STRINGS */);
  const std::string zip = node("ZipMap", {"x"}, "z", "zip") + field_bytes(5, labels) + field_bytes(7, "ai.onnx.ml");
  const std::string float_tensor = field_bytes(1, field_varint(1, 1));
  const std::string map = field_bytes(5, field_varint(1, 8 /* STRING */) + field_bytes(2, float_tensor));
  const std::string z_type = field_bytes(4, field_bytes(1, map));  // seq(map(string, tensor(float)))
  const std::string graph = field_bytes(1, zip) + field_bytes(2, "g") + field_bytes(11, typed_info("x", 1, false)) +
                            field_bytes(12, field_bytes(1, "z") + field_bytes(2, z_type));
  return field_varint(1, 8) + field_bytes(7, graph) + field_bytes(8, field_bytes(1, "") + field_varint(2, 13)) +
         field_bytes(8, field_bytes(1, "ai.onnx.ml") + field_varint(2, 1));
}

TEST(Onnx, ZipMapGivesASequenceOfMaps) {
  const auto m = onnx::Model::load_bytes(zipmap_model());
  EXPECT_EQ(m.outputs()[0].onnx_type, "seq(map(string,tensor(float)))");
  const Tensor x = from_vector(std::vector<float>{0.25f, 0.75f, 1, 0}, {2, 2});
  const auto out = m.run_values({{"x", x}});
  const auto& rows = std::get<onnx::TensorSequence>(out[0].second).items;
  ASSERT_EQ(rows.size(), 2u);
  const auto& r0 = std::get<onnx::ValueMap>(rows[0]);
  EXPECT_TRUE(r0.by_string);
  EXPECT_EQ(r0.string_keys, (std::vector<std::string>{"no", "yes"}));
  const Tensor v = r0.values.contiguous();
  EXPECT_EQ(std::vector<float>(v.data<float>(), v.data<float>() + 2), (std::vector<float>{0.25f, 0.75f}));
  EXPECT_EQ(std::get<onnx::ValueMap>(rows[1]).values.contiguous().data<float>()[0], 1.0f);
  EXPECT_THROW(m.run({{"x", x}}), TypeError);  // run() returns tensors only
  // Three columns for two labels: an error naming the node.
  try {
    m.run_values({{"x", ones({1, 3})}});
    FAIL() << "3 columns for 2 labels";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("ZipMap] node 'zip': X has 3 columns for 2 class labels"), std::string::npos)
        << e.what();
  }
}

// y = DictVectorizer(m) (ai.onnx.ml): a map(string, tensor(float)) input.
std::string dict_vectorizer_model() {
  const std::string vocab = field_bytes(1, "string_vocabulary") + field_bytes(9, "a") + field_bytes(9, "b") +
                            field_bytes(9, "c") + field_varint(20, 8 /* STRINGS */);
  const std::string dv = node("DictVectorizer", {"m"}, "y", "dv") + field_bytes(5, vocab) + field_bytes(7, "ai.onnx.ml");
  const std::string float_tensor = field_bytes(1, field_varint(1, 1));
  const std::string map = field_bytes(5, field_varint(1, 8 /* STRING */) + field_bytes(2, float_tensor));
  const std::string graph = field_bytes(1, dv) + field_bytes(2, "g") + field_bytes(11, field_bytes(1, "m") + field_bytes(2, map)) +
                            field_bytes(12, typed_info("y", 1, false));
  return field_varint(1, 8) + field_bytes(7, graph) + field_bytes(8, field_bytes(1, "") + field_varint(2, 13)) +
         field_bytes(8, field_bytes(1, "ai.onnx.ml") + field_varint(2, 1));
}

TEST(Onnx, MapInputs) {
  const auto m = onnx::Model::load_bytes(dict_vectorizer_model());
  EXPECT_TRUE(m.inputs()[0].is_map());
  EXPECT_EQ(m.inputs()[0].onnx_type, "map(string,tensor(float))");
  onnx::ValueMap mv;
  mv.by_string = true;
  mv.string_keys = {"c", "zz", "a"};  // "zz" is not in the vocabulary: dropped
  mv.values = from_vector(std::vector<float>{3, 9, 1}, {3});
  const auto out = m.run_values({{"m", mv}});
  const Tensor y = std::get<Tensor>(out[0].second).contiguous();
  EXPECT_EQ(y.shape(), (Shape{1, 3}));
  EXPECT_EQ(std::vector<float>(y.data<float>(), y.data<float>() + 3), (std::vector<float>{1, 0, 3}));
  onnx::ValueMap ints;  // int64 keys for a map(string, ...) input
  ints.int_keys = {1};
  ints.values = ones({1});
  EXPECT_THROW(m.run_values({{"m", ints}}), TypeError);
  EXPECT_THROW(m.run_values({{"m", ones({3})}}), TypeError);  // a tensor for a map
  mv.values = ones({2});  // two values for three keys
  EXPECT_THROW(m.run_values({{"m", mv}}), ValueError);
}

TEST(Onnx, SequencesInAndOut) {
  const auto m = onnx::Model::load_bytes(sequence_model());
  ASSERT_EQ(m.inputs().size(), 1u);
  EXPECT_TRUE(m.inputs()[0].is_sequence());
  EXPECT_EQ(m.inputs()[0].onnx_type, "seq(tensor(float))");
  EXPECT_EQ(m.outputs()[2].onnx_type, "seq(tensor(float))");

  onnx::TensorSequence s;
  s.items.emplace_back(ones({2}));
  s.items.emplace_back(full({3}, 2.0));
  const auto out = m.run_values({{"s", s}});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(std::get<Tensor>(out[0].second).item<int64_t>(), 2);
  const Tensor y = std::get<Tensor>(out[1].second).contiguous();
  ASSERT_EQ(y.numel(), 5);
  const std::vector<float> want = {1, 1, 2, 2, 2};
  EXPECT_EQ(std::vector<float>(y.data<float>(), y.data<float>() + 5), want);
  const auto& t = std::get<onnx::TensorSequence>(out[2].second);
  ASSERT_EQ(t.items.size(), 2u);
  // Results never alias the feed: writing to them leaves the caller's tensors alone.
  Tensor first = std::get<Tensor>(t.items[0]);
  first.fill_(Scalar(7.0));
  EXPECT_EQ(std::get<Tensor>(s.items[0]).contiguous().data<float>()[0], 1.0f);

  // A tensor for the sequence input, an item of another dtype, and run() (tensors only) with a
  // sequence output: errors that name the input or output.
  try {
    m.run_values({{"s", ones({2})}});
    FAIL() << "a tensor fed to a sequence input";
  } catch (const TypeError& e) {
    EXPECT_NE(std::string(e.what()).find("'s' must be seq(tensor(float))"), std::string::npos) << e.what();
  }
  onnx::TensorSequence bad;
  bad.items.emplace_back(ones({2}, TensorOptions(DType::Int64)));
  EXPECT_THROW(m.run_values({{"s", bad}}), TypeError);
  EXPECT_THROW(m.run({{"s", ones({2})}}), TypeError);
  onnx::TensorSequence maps;  // maps are outputs only
  maps.items.emplace_back(onnx::ValueMap{});
  EXPECT_THROW(m.run_values({{"s", maps}}), NotImplementedError);
}
