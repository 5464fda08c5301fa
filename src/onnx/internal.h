#pragma once
// The parsed ONNX graph, free of protobuf types, shared by the loader, the
// executor (graph.cpp) and the op families (ops_*.cpp).
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tessel/error.h"
#include "tessel/onnx.h"
#include "tessel/ops.h"

namespace tessel::onnx {

using Attr = std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>, Tensor,
                          std::vector<std::string>>;

struct Node {
  std::string name;  // the node's name, or "<op_type>#<index>" when it has none
  std::string op_type;
  std::string domain;
  std::vector<std::string> inputs;  // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attr> attrs;

  bool has(const std::string& a) const { return attrs.count(a) != 0; }
  int64_t i(const std::string& a, int64_t dflt) const;
  double f(const std::string& a, double dflt) const;
  std::string s(const std::string& a, const std::string& dflt) const;
  std::vector<int64_t> ints(const std::string& a, std::vector<int64_t> dflt = {}) const;
  // Errors name the node: "[onnx.Conv] node 'conv1': ...".
  template <class E = ValueError, class... Args>
  [[noreturn]] void error(const Args&... args) const {
    throw E(detail::cat("[onnx.", op_type, "] node '", name, "': ", args...));
  }
};

using Inputs = std::vector<std::optional<Tensor>>;
struct OpContext {
  int64_t opset;
};
using OpFn = std::function<std::vector<Tensor>(const Node&, const Inputs&, const OpContext&)>;

// Each ops_*.cpp adds its family to the table.
void register_math_ops(std::map<std::string, OpFn>& table);
void register_nn_ops(std::map<std::string, OpFn>& table);
void register_shape_ops(std::map<std::string, OpFn>& table);
void register_elementwise_ops(std::map<std::string, OpFn>& table);
void register_reduce_ops(std::map<std::string, OpFn>& table);
void register_index_ops(std::map<std::string, OpFn>& table);
void register_rnn_ops(std::map<std::string, OpFn>& table);
void register_control_ops(std::map<std::string, OpFn>& table);
const std::map<std::string, OpFn>& op_table();

// Required input k of the node (present and non-empty).
const Tensor& input(const Node& n, const Inputs& in, size_t k);
// A 1-D integer tensor (e.g. Reshape's shape) as host values.
std::vector<int64_t> int_values(const Node& n, const Tensor& t, const char* what);

struct Model::Impl {
  std::string source;  // the file (or "<bytes>") for error messages
  std::vector<ValueInfo> inputs, outputs;
  std::map<std::string, Tensor> initializers;
  std::vector<Node> nodes;  // topological order
  int64_t opset = 0;
  int64_t ir_version = 0;
  std::string producer;
};

// Graph passes run once after loading (passes.cpp): folding, fusions, planning.
void optimize(Model::Impl& m);

}  // namespace tessel::onnx
