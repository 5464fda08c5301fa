#pragma once
// The parsed ONNX graph, free of protobuf types, shared by the loader, the
// executor (graph.cpp) and the op families (ops_*.cpp).
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "src/core/buffer_pool.h"
#include "tessel/error.h"
#include "tessel/onnx.h"
#include "tessel/ops.h"

namespace tessel::onnx {

struct Graph;
using GraphPtr = std::shared_ptr<const Graph>;

// What an op resolves once at load instead of on every run (attributes parsed
// into a struct, per-node kernel caches): set by prepare_fused_nodes, read-only
// to the executor; any state it holds must be safe under concurrent runs.
struct NodePrep {
  virtual ~NodePrep() = default;
};

using Attr = std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>, Tensor,
                          std::vector<std::string>, GraphPtr, std::vector<GraphPtr>, StringTensor>;

// `s` with every byte that is not part of valid UTF-8 written as \xNN (loader.cpp).
std::string printable_utf8(const std::string& s);

struct Node {
  std::string name;  // the node's name, or "<op_type>#<index>" when it has none
  std::string op_type;
  std::string domain;
  std::vector<std::string> inputs;  // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attr> attrs;
  // Values of enclosing graphs that this node's subgraphs read: they order the
  // node after their producers and keep them alive until it has run.
  std::vector<std::string> captures;
  std::shared_ptr<NodePrep> prep;  // null unless the op prepared itself at load

  bool has(const std::string& a) const { return attrs.count(a) != 0; }
  int64_t i(const std::string& a, int64_t dflt) const;
  double f(const std::string& a, double dflt) const;
  std::string s(const std::string& a, const std::string& dflt) const;
  std::vector<int64_t> ints(const std::string& a, std::vector<int64_t> dflt = {}) const;
  std::vector<double> floats(const std::string& a, std::vector<double> dflt = {}) const;
  std::vector<std::string> strings(const std::string& a, std::vector<std::string> dflt = {}) const;
  // A required GRAPH attribute.
  const Graph& graph(const std::string& a) const;
  // Errors name the node: "[onnx.Conv] node 'conv1': ...". Attribute strings a message
  // echoes may hold any bytes: the message is made UTF-8 (Python receives it as str).
  template <class E = ValueError, class... Args>
  [[noreturn]] void error(const Args&... args) const {
    throw E(printable_utf8(detail::cat("[onnx.", op_type, "] node '", name, "': ", args...)));
  }
};

// A graph: the model's main graph or a subgraph (If branches, Loop/Scan bodies).
// Node inputs resolve in the graph first, then in the enclosing graphs.
struct Graph {
  std::string name;
  std::vector<ValueInfo> inputs, outputs;  // the main graph's inputs leave out initializers
  std::vector<std::optional<DType>> input_dtypes;  // declared tensor element types (nullopt: not checked)
  std::map<std::string, Tensor> initializers;
  std::map<std::string, StringTensor> string_initializers;  // tensor(string) ones (not seen by the passes)
  std::vector<Node> nodes;  // topological order
  std::vector<std::string> captures;  // names read from enclosing graphs (here or in nested subgraphs)
  std::vector<ValueInfo> value_info;  // the file's declarations of intermediate values
  std::map<std::string, DType> declared_dtype;  // declared tensor element types tessel knows (inputs, outputs, value_info)
};

// A runtime value: a tensor, a sequence (ONNX seq(tensor(T)) or seq(map)), a
// string tensor, a map, or an optional without a value (shared: values are copied into op
// inputs). An optional with a value is the value itself.
struct Sequence;
using SequencePtr = std::shared_ptr<const Sequence>;
using StringPtr = std::shared_ptr<const StringTensor>;
using MapPtr = std::shared_ptr<const ValueMap>;  // map(K, V): ZipMap's rows, items of a sequence
using Value = std::variant<Tensor, SequencePtr, StringPtr, NoValue, MapPtr>;
struct Sequence {
  std::vector<Value> items;  // each a Tensor of dtype `elem`, or (strings) a StringPtr
  DType elem = DType::Float32;
  bool strings = false;
};
inline Value string_value(StringTensor s) { return std::make_shared<const StringTensor>(std::move(s)); }

// The values visible while a graph runs: its own, then those of the enclosing graphs.
struct Scope {
  const Graph* graph = nullptr;
  const Scope* parent = nullptr;
  std::unordered_map<std::string, Value> values;
  // The graph's initializers as values, built once at load (the main graph):
  // read after `values`, so a run does not copy them into its scope.
  const std::unordered_map<std::string, Value>* constants = nullptr;
  // nullptr when the name is defined nowhere (the loader rules that out).
  const Value* find(const std::string& name) const;
};

using Inputs = std::vector<std::optional<Tensor>>;
struct OpContext {
  int64_t opset;
  const Scope* scope = nullptr;  // where the node runs (its subgraphs read enclosing values through it)
};
using OpFn = std::function<std::vector<Tensor>(const Node&, const Inputs&, const OpContext&)>;
// Ops on values that may be sequences, and control flow that runs subgraphs.
using ValueInputs = std::vector<std::optional<Value>>;
using ValueOpFn = std::function<std::vector<Value>(const Node&, const ValueInputs&, const OpContext&)>;

// Each ops_*.cpp adds its family to the table.
void register_math_ops(std::map<std::string, OpFn>& table);
void register_nn_ops(std::map<std::string, OpFn>& table);
void register_shape_ops(std::map<std::string, OpFn>& table);
void register_elementwise_ops(std::map<std::string, OpFn>& table);
void register_reduce_ops(std::map<std::string, OpFn>& table);
void register_index_ops(std::map<std::string, OpFn>& table);
void register_rnn_ops(std::map<std::string, OpFn>& table);
void register_attention_ops(std::map<std::string, OpFn>& table);
void register_loss_ops(std::map<std::string, OpFn>& table);
void register_quant_ops(std::map<std::string, OpFn>& table);
void register_signal_ops(std::map<std::string, OpFn>& table);
void register_random_ops(std::map<std::string, OpFn>& table);  // ops_random.cpp
void register_text_ops(std::map<std::string, OpFn>& table);
void register_image_ops(std::map<std::string, OpFn>& table);
void register_ml_ops(std::map<std::string, OpFn>& table);  // ai.onnx.ml, keyed "ai.onnx.ml.<op>"
void register_ml_value_ops(std::map<std::string, ValueOpFn>& table);  // ML classifiers (string labels)
// Domain of the fused nodes that graph passes create (never accepted from a file).
inline constexpr const char* kFusedDomain = "ai.tessel";
void register_fused_ops(std::map<std::string, OpFn>& table);  // passes_fused.cpp, keyed "ai.tessel.<op>"
void register_control_ops(std::map<std::string, ValueOpFn>& table);
void register_sequence_ops(std::map<std::string, ValueOpFn>& table);  // sequences and optionals (ops_sequence.cpp)
// The kind of a runtime value for error messages: "a tensor", "a sequence", ...
const char* value_kind(const Value& v);
const std::map<std::string, OpFn>& op_table();
const std::map<std::string, ValueOpFn>& value_op_table();
// Ops over string tensors (ops_string.cpp), keyed as op_table. A node whose op
// also has a tensor version runs this one when an input is a string (or, for
// Cast, when it casts to string); an op with no tensor version always runs it.
void register_string_ops(std::map<std::string, ValueOpFn>& table);
const std::map<std::string, ValueOpFn>& string_op_table();
// Element positions (offset, offset + 1, ...) of a string tensor as an int64
// tensor of its shape, and back: the strings of `pool` at the positions `idx`
// holds. A shape op on strings runs on the positions (ops_string.cpp).
Tensor string_positions(const StringTensor& s, int64_t offset = 0);
StringTensor pick_strings(const std::vector<const std::string*>& pool, const Tensor& idx);
bool string_output(const Node& n);
// TfIdfVectorizer on integer tokens X against `pool` (ops_text.cpp).
Tensor tfidf_ids(const Node& n, const Tensor& x, const std::vector<int64_t>& pool);  // whether a node with numeric inputs makes strings (Cast to string)

// Required input k of the node (present and non-empty).
const Tensor& input(const Node& n, const Inputs& in, size_t k);
// Helpers shared by the op families (graph.cpp).
inline std::vector<Tensor> one(Tensor t) { return {std::move(t)}; }
std::optional<Tensor> opt(const Inputs& in, size_t k);  // input k, or nullopt when omitted
// `axis` in [-rank, rank) as a non-negative dim; else an error naming the node and `what`.
int64_t norm_axis(const Node& n, int64_t axis, int64_t rank, const char* what);
Tensor from_ints(const std::vector<int64_t>& v);  // a 1-D int64 tensor
// An output larger than this is a corrupt or hostile model, not a tensor to allocate.
constexpr int64_t kMaxBytes = int64_t{1} << 34;
// Refuses an output shape with a negative dim or over kMaxBytes.
void check_size(const Node& n, const Shape& s, DType dt);
// Any tensor's values as float64 on the host, row-major.
std::vector<double> host_doubles(const Tensor& t);
// The spatial dims of an [N, C, spatial...] tensor.
inline Shape spatial(const Tensor& x) { return Shape(x.shape().begin() + 2, x.shape().end()); }
// A 1-D integer tensor (e.g. Reshape's shape) as host values.
std::vector<int64_t> int_values(const Node& n, const Tensor& t, const char* what);

// The graph prepared to run: which values die after each node, and each
// node's op resolved in the op tables (nullptr: not found; run_node reports it).
struct Plan {
  std::vector<std::vector<std::string>> release;  // per node
  std::vector<const OpFn*> fn;                    // per node, tensor ops
  std::vector<const ValueOpFn*> vfn;              // per node, ops on values (control flow, sequences)
  std::vector<const ValueOpFn*> sfn;              // per node, the op's string version (nullptr: none)
  // Per node and input: the value dies at this node and the node reads it once,
  // so the executor may move it into the op's inputs.
  std::vector<std::vector<char>> movable;
};
Plan make_plan(const Graph& g);
// Runs subgraph `g` of node `owner` (attribute `attr`) with its inputs bound in
// order, reading enclosing values through ctx.scope. Returns its outputs.
std::vector<Value> run_subgraph(const Node& owner, const std::string& attr, const Graph& g, const Plan& plan,
                                std::vector<Value> inputs, const OpContext& ctx);

// ---- Shape and type inference (shape_inference.cpp) ----

// A symbolic dim: a polynomial with integer coefficients over the named dims
// of the graph inputs ("batch", "2*seq", "batch*seq", "seq+1"), or unknown.
// Arithmetic that overflows or grows too large gives unknown.
struct SymDim {
  bool known = false;
  std::map<std::vector<std::string>, int64_t> terms;  // sorted symbols -> coefficient (none zero)

  static SymDim of(int64_t v);
  static SymDim symbol(const std::string& s);
  bool is_const(int64_t* v = nullptr) const;
  bool same(const SymDim& o) const { return known && o.known && terms == o.terms; }
  std::string str() const;  // "" when unknown
  Dim to_dim() const;
};
SymDim operator+(const SymDim& a, const SymDim& b);
SymDim operator-(const SymDim& a, const SymDim& b);
SymDim operator*(const SymDim& a, const SymDim& b);
SymDim div_exact(const SymDim& a, const SymDim& b);  // unknown unless b divides a

// What inference knows of a value: element type, shape (rank known or not) and,
// for small integer tensors (shapes, axes), their contents.
struct ValueShape {
  std::optional<DType> dtype;
  bool has_shape = false;
  std::vector<SymDim> shape;
  std::optional<std::vector<SymDim>> ints;  // row-major contents (at most kMaxTrackedInts)
  bool sequence = false;
  bool string = false;  // tensor(string): dtype stays nullopt
};
constexpr size_t kMaxTrackedInts = 64;

struct Model::Impl : Graph {
  std::string source;  // the file (or "<bytes>") for error messages
  int64_t opset = 0;
  int64_t ir_version = 0;
  std::string producer;
  // Inferred at load (before the passes), by value name, subgraph values included.
  std::unordered_map<std::string, ValueShape> shapes;
  // Built once after the passes (prepare_run): the main graph's plan, its
  // initializers as values, and the storages of every weight (subgraphs included).
  Plan plan;
  std::unordered_map<std::string, Value> constants;
  std::set<const void*> weight_storages;
  // Where the runs' buffers come from and go back to (src/core/buffer_pool.h).
  std::shared_ptr<detail::BufferPool> pool = std::make_shared<detail::BufferPool>();
};

// Infers the dtype and shape of every value of `m` (subgraphs included) into
// m.shapes and completes m.outputs that the file leaves untyped. Raises a
// ValueError naming the node when inference proves the graph inconsistent or
// a declared type/shape contradicts the inferred one.
void infer_shapes(Model::Impl& m);

// ONNX element types (types.cpp): the tessel dtype of a TensorProto element
// type if tessel has one; the element type of a dtype (0: none); ONNX's name
// ("float", "float8e4m3fn"; "type N" when unknown).
std::optional<DType> dtype_from_onnx(int64_t elem_type);
int onnx_elem_type(DType d);
std::string onnx_elem_name(int64_t elem_type);
// Sub-byte types (int4, uint4, float4e2m1: 4 bits; int2, uint2: 2 bits) are
// packed in files, lowest bits first, and one per byte in tensors.
int packed_bits(DType d);
size_t packed_nbytes(DType d, int64_t n);
void unpack_elements(DType d, const uint8_t* src, int64_t n, uint8_t* dst);
std::string pack_elements(DType d, const uint8_t* src, int64_t n);
// The four float8 formats with ONNX's `saturate` (not e8m0, which has `round_mode`).
inline bool is_float8(DType d) { return d >= DType::Float8E4M3FN && d <= DType::Float8E5M2FNUZ; }
// x.to(to) with ONNX's `saturate` for float8 targets (ops_elementwise.cpp):
// out-of-range values, infinities included, become the largest finite value.
Tensor saturate_cast(const Tensor& x, DType to, bool saturate);

// Graph passes run once after loading (passes.cpp): folding, fusions, planning;
// then prepare_fused_nodes (passes_fused.cpp) and prepare_run (graph.cpp).
void optimize(Model::Impl& m);
void prepare_fused_nodes(Model::Impl& m);
// Parse the main graph's tree ensembles and SVMs once (ops_ml_tree.cpp, ops_ml_svm.cpp);
// a malformed one fails the load.
void prepare_tree_nodes(std::vector<Node>& nodes);
void prepare_svm_nodes(std::vector<Node>& nodes);
void prepare_run(Model::Impl& m);

}  // namespace tessel::onnx
